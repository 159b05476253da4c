package feed

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
)

func TestFeedOrderDocsAndCancel(t *testing.T) {
	var loads int
	var mu sync.Mutex
	h := New(func(ctx context.Context, coll string, ids []oid.ID) ([]map[string]any, error) {
		mu.Lock()
		loads++
		mu.Unlock()
		out := make([]map[string]any, len(ids))
		for i, id := range ids {
			out[i] = map[string]any{"_id": id, "coll": coll}
		}
		return out, nil
	}, nil)
	defer h.Close()
	withDocs := make(chan Event, 100)
	idsOnly := make(chan Event, 100)
	cancel := h.SubscribeDocs("posts", func(e Event) { withDocs <- e })
	h.Subscribe("posts", func(e Event) { idsOnly <- e })
	if !h.Watched("posts") || h.Watched("other") {
		t.Fatal("Watched is wrong")
	}
	h.Publish("other", Create, []oid.ID{oid.New()}) // no subscriber: dropped
	ids := []oid.ID{oid.New(), oid.New(), oid.New()}
	h.Publish("posts", Create, ids[:2])
	h.Publish("posts", Update, ids[2:])
	h.Publish("posts", Delete, ids[:1])
	for i, want := range []Oper{Create, Update, Delete} {
		e := <-withDocs
		if e.Oper != want || e.Seq != uint64(i+1) || e.Lost {
			t.Fatalf("event %d: %+v, want %s seq %d", i, e, want, i+1)
		}
		if want == Delete && e.Docs != nil {
			t.Errorf("delete carries docs %v", e.Docs)
		}
		if want != Delete && len(e.Docs) != len(e.IDs) {
			t.Errorf("event %d: docs %v for ids %v", i, e.Docs, e.IDs)
		}
		if o := <-idsOnly; o.Docs != nil || o.Seq != e.Seq {
			t.Errorf("ids-only subscriber got %+v", o)
		}
	}
	mu.Lock()
	if loads != 2 {
		t.Errorf("loads = %d, want 2 (one per create/update event)", loads)
	}
	mu.Unlock()
	cancel()
	cancel()
	h.Publish("posts", Create, ids[:1])
	if o := <-idsOnly; o.Seq != 4 {
		t.Errorf("after cancel: %+v", o)
	}
	select {
	case e := <-withDocs:
		t.Errorf("cancelled subscriber got %+v", e)
	case <-time.After(20 * time.Millisecond):
	}
}

// A subscriber that blocks never blocks Publish; the events past
// MaxPending are dropped and the next one delivered says so.
func TestFeedOverflowNeverBlocks(t *testing.T) {
	h := New(func(context.Context, string, []oid.ID) ([]map[string]any, error) { return nil, nil }, nil)
	release := make(chan struct{})
	got := make(chan Event, MaxPending*3)
	h.Subscribe("c", func(e Event) {
		if e.Seq == 1 {
			<-release
		}
		got <- e
	})
	start := time.Now()
	for range 2*MaxPending + 10 {
		h.Publish("c", Update, []oid.ID{oid.New()})
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Publish blocked for %v", d)
	}
	close(release)
	lost := false
	timeout := time.After(20 * time.Second)
	for !lost {
		select {
		case e := <-got:
			lost = e.Lost
		case <-timeout:
			t.Fatal("no event reported the dropped ones")
		}
	}
	h.Close()
	h.Publish("c", Update, []oid.ID{oid.New()}) // after Close: nothing, no panic
}

// With a Source (MongoDB change streams), events come from it alone:
// Publish from the node's write path is ignored (no duplicates), and the
// source runs until Close.
func TestFeedSource(t *testing.T) {
	h := New(func(ctx context.Context, coll string, ids []oid.ID) ([]map[string]any, error) { return nil, nil }, nil)
	id := oid.New()
	started := make(chan string, 1)
	h.SetSource(func(ctx context.Context, coll string, emit func(Oper, []oid.ID)) error {
		started <- coll
		emit(Update, []oid.ID{id})
		<-ctx.Done()
		return ctx.Err()
	})
	got := make(chan Event, 10)
	h.Subscribe("c", func(e Event) { got <- e })
	if c := <-started; c != "c" {
		t.Fatalf("source started for %q", c)
	}
	h.Publish("c", Create, []oid.ID{oid.New()})
	e := <-got
	if e.Oper != Update || e.IDs[0] != id || e.Seq != 1 {
		t.Fatalf("event %+v", e)
	}
	select {
	case e := <-got:
		t.Fatalf("published event delivered with a source: %+v", e)
	case <-time.After(20 * time.Millisecond):
	}
	h.Close()
}
