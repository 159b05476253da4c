package limp

import "github.com/limp-go/limp/internal/feed"

// SetFeedSource makes src the cross-node source of a's change feed (as
// MongoDB change streams are), for tests on the embedded store. Call it
// before Start.
func SetFeedSource(a *App, src feed.Source) { a.feedHub().SetSource(src) }

// FeedWatched reports whether a's change feed of collection coll has
// subscribers.
func FeedWatched(a *App, coll string) bool { return a.feedHub().Watched(coll) }
