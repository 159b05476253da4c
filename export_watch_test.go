package limp

// WatchCount returns the number of live watch tasks of the app, for tests
// of their ends.
func WatchCount(a *App) int {
	a.wt.mu.Lock()
	defer a.wt.mu.Unlock()
	n := 0
	for _, tasks := range a.wt.byConn {
		n += len(tasks)
	}
	return n
}

// RetainedWatchCount returns the number of watches kept for a resume.
func RetainedWatchCount(a *App) int {
	a.wt.mu.Lock()
	defer a.wt.mu.Unlock()
	return len(a.wt.retained)
}
