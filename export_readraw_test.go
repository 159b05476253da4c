package limp

// SetRawReadOff turns the streaming read path (readraw.go) off or on.
func SetRawReadOff(off bool) { rawReadOff.Store(off) }

// RawReadHits counts the reads the streaming path answered.
func RawReadHits() int64 { return rawHits.Load() }
