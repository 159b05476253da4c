package limp

// ArgonRuns reports how many argon2 computations have run, for tests and
// benchmarks of sign-in throttling.
func ArgonRuns() int64 { return argonRuns.Load() }
