package limp

import (
	"context"

	"github.com/limp-go/limp/internal/feed"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// After-images from the write path (issue 14 item 5; BENCHMARKS.md, "Live
// queries at 10,000 watchers").
//
// The change feed gives live queries each changed document as Read
// returns it. Read back after the commit, that is one store read per
// write: the main cost that watchers matching none of the writes put on
// them. A create's documents are known to the write itself: when the
// store can tell what Read returns for a document it stored
// (store.Imager: the embedded store encodes and decodes it as it stores
// and reads it), the create hands its documents to the feed
// (feed.Hub.PublishCreated), which reads nothing back. The after-image
// is made only for a document some watcher's filter may pass
// (collWatch.mayMatch, watch_index.go): a create no filter can pass —
// a draft under watches of published posts — costs the writer a few map
// lookups and puts nothing on the feed. Inside a transaction the images
// are made at the insert (the documents may change before the commit)
// and published at the commit. Updates, and stores that cannot tell
// (MongoDB, whose change streams bring every node's writes), keep the
// read-back.

// publishCreated reports the committed insert of docs into c.
func (s watchedStore) publishCreated(ctx context.Context, c *schema.Collection, docs []map[string]any) {
	im, ok := s.Store.(store.Imager)
	if !ok || c == nil {
		s.publish(ctx, c, feed.Create, insertedIDs(docs))
		return
	}
	image := func(d map[string]any) (map[string]any, error) { return im.Image(c, d) }
	p, inTx := ctx.Value(feedPendingKey{}).(*feedPending)
	if !inTx {
		s.a.feedHub().PublishCreated(c.Name, docs, image)
		return
	}
	if !s.a.feedHub().WantsDocs(c.Name) {
		s.publish(ctx, c, feed.Create, insertedIDs(docs))
		return
	}
	// The documents may change before the commit: imaged now. One that
	// Read does not return stays a stub that imaged drops.
	created := make([]map[string]any, 0, len(docs))
	for _, d := range docs {
		img, err := image(d)
		if err != nil {
			s.publish(ctx, c, feed.Create, insertedIDs(docs))
			return
		}
		if img == nil {
			img = map[string]any{"_id": d["_id"], unreadableKey: true}
		}
		created = append(created, img)
	}
	p.mu.Lock()
	p.events = append(p.events, pendingEvent{coll: c.Name, oper: feed.Create, ids: insertedIDs(docs), created: created})
	p.mu.Unlock()
}

// unreadableKey marks the stub of a document inserted in a transaction
// that Read does not return (soft-deleted).
const unreadableKey = "\x00unreadable"

// imaged is the feed's image of documents already imaged in a
// transaction: themselves, or nil for a stub.
func imaged(d map[string]any) (map[string]any, error) {
	if d[unreadableKey] == true {
		return nil, nil
	}
	return d, nil
}
