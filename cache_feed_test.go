package limp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/internal/feed"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/limptest"
)

// fakeSource is a cross-node feed source (as MongoDB change streams are)
// that the test drives: it emits, on the note collection, what another
// node would have written.
type fakeSource struct {
	started chan string
	events  chan fakeEvent
}

type fakeEvent struct {
	oper feed.Oper
	ids  []oid.ID
	fail bool // end the source with an error (its feed reports Lost)
}

func (f *fakeSource) run(ctx context.Context, coll string, emit func(feed.Oper, []oid.ID)) error {
	select {
	case f.started <- coll:
	default:
	}
	if coll != "note" {
		<-ctx.Done()
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-f.events:
			if e.fail {
				return errors.New("change stream failed")
			}
			emit(e.oper, e.ids)
		}
	}
}

func cachedRead(t *testing.T, c *client.Client) bool {
	t.Helper()
	_, hit := call(t, c, "note/read", nil, nil).Args["cache"]
	return hit
}

// waitUncached reads until a read misses the cache (the feed delivers
// asynchronously), bounded by 5s.
func waitUncached(t *testing.T, c *client.Client, why string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for cachedRead(t, c) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the cached read was never invalidated", why)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCacheFeedInvalidatesFromOtherNode: with a cross-node feed source,
// the cache subscribes at Start (no watch needed) to the collections its
// cached modules read, and a write reported by the feed but not made
// through this App drops the cached read; so does a Lost event.
func TestCacheFeedInvalidatesFromOtherNode(t *testing.T) {
	src := &fakeSource{started: make(chan string, 8), events: make(chan fakeEvent, 8)}
	notes := limp.NewModule[CachedNote]("note", limp.Methods{
		"read": {Permissions: limp.Perms("*")}, "create": {Permissions: limp.Perms("*")},
	})
	notes.Cache = []limp.CacheSet{{}}
	app := limp.New(limptest.Config(t, noQuotas(limp.Config{Name: "cachefeed", Locale: "en_AE"})))
	limp.SetFeedSource(app, src.run)
	app.Register("test", notes)
	s := limptest.Start(t, app)

	for coll := ""; coll != "note"; {
		select {
		case coll = <-src.started:
		case <-time.After(5 * time.Second):
			t.Fatal("the cache did not subscribe to the note feed at Start")
		}
	}
	if !limp.FeedWatched(app, "note") {
		t.Fatal("note feed has no subscriber")
	}
	c := s.Client(t, nil)
	call(t, c, "note/create", nil, limp.M{"title": "a"})
	if cachedRead(t, c) {
		t.Fatal("first read answered from cache")
	}
	if !cachedRead(t, c) {
		t.Fatal("second read not answered from cache")
	}

	// Another node updates a note: only the feed knows.
	src.events <- fakeEvent{oper: feed.Update, ids: []oid.ID{oid.New()}}
	waitUncached(t, c, "update from another node")
	if !cachedRead(t, c) {
		t.Fatal("read after the refill not answered from cache")
	}

	// The change stream fails: its feed reports Lost, which drops
	// everything cached from the collection.
	src.events <- fakeEvent{fail: true}
	waitUncached(t, c, "lost events")
}

// TestCacheFeedNoSourceNoSubscription: without a cross-node source the
// feed would only repeat this node's writes, which the write path already
// invalidates: the cache does not subscribe (and still sees own writes).
func TestCacheFeedNoSourceNoSubscription(t *testing.T) {
	s := cacheApp(t, limp.Config{Name: "cachefeed"}, nil, 0)
	if limp.FeedWatched(s.App, "note") {
		t.Fatal("the cache subscribed to a feed without a cross-node source")
	}
	c := s.Client(t, nil)
	call(t, c, "note/create", nil, limp.M{"title": "a"})
	cachedRead(t, c)
	if !cachedRead(t, c) {
		t.Fatal("second read not answered from cache")
	}
	call(t, c, "note/create", nil, limp.M{"title": "b"})
	if cachedRead(t, c) {
		t.Fatal("own write did not invalidate the cached read")
	}
}
