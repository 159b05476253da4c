package limp

import (
	"slices"

	"github.com/limp-go/limp/internal/feed"
)

// The read cache on several nodes (spec §6.14; issue 16 item 4).
//
// A node's own writes drop its entries at once, on the write path
// (cacheWritten). The writes of other nodes reach it through the change
// feed when the feed has a cross-node source (MongoDB change streams,
// feed.Hub.SetSource): at Start the cache subscribes to the feed of every
// collection its cached modules' reads depend on (one subscription per
// collection, however many modules read it) and drops that collection's
// entries on each event. An event with Lost set (the feed dropped events,
// or its source failed) drops them too: everything cached from the
// collection is then suspect.
//
// Without a cross-node source the feed only repeats this node's writes,
// which cacheWritten has already handled: the cache does not subscribe
// (no double work, and no feed goroutines for an App that caches
// nothing). With a source, the node's own writes come back through it and
// drop the entries a second time; that costs a refill, never a stale read.

// startCacheFeed subscribes the cache to the change feed of the
// collections its cached modules read (startCache, once the store is
// open). The subscriptions end with the feed (Shutdown's closeWatch).
func (a *App) startCacheFeed() {
	if a.cache.c == nil {
		return
	}
	hub := a.feedHub()
	if !hub.HasSource() {
		return
	}
	var colls []string
	for _, deps := range a.cache.deps {
		for _, c := range deps {
			if !slices.Contains(colls, c) {
				colls = append(colls, c)
			}
		}
	}
	slices.Sort(colls)
	for _, name := range colls {
		// Every event (Lost included) drops the collection's entries;
		// the cache keeps no per-document index to do less.
		hub.Subscribe(name, func(feed.Event) { a.cacheInvalidate(name) })
	}
}
