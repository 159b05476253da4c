package limp

// SetWatchRefBounds lowers WatchRefLimit and WatchRefPage for a test; the
// returned function restores them.
func SetWatchRefBounds(limit, page int) (restore func()) {
	refLimitV.Store(int64(limit))
	refPageV.Store(int64(page))
	return func() { refLimitV.Store(0); refPageV.Store(0) }
}

// WatchRefReads returns how many reads have looked for documents
// referencing changed ones (watch_join.go), for tests of the batching.
func WatchRefReads() int64 { return refReads.Load() }
