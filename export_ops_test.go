package limp

// CloseStoreForTest closes a's store under it, as a lost database would.
func CloseStoreForTest(a *App) error { return a.store.Close() }

// ObserveWatches is the watch methods' hook on the open watches gauge.
func ObserveWatches(a *App, delta int) { a.observeWatches(delta) }
