package limp

// FeedHasSource reports whether a's change feed has a cross-node source
// (MongoDB change streams).
func FeedHasSource(a *App) bool { return a.feedHub().HasSource() }
