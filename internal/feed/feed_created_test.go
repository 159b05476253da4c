package feed

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
)

// recv returns the next event of ch, failing after 5 s.
func recv(t *testing.T, ch chan Event) Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

// none checks that ch receives nothing for a while.
func none(t *testing.T, ch chan Event, who string) {
	t.Helper()
	select {
	case e := <-ch:
		t.Fatalf("%s got %+v", who, e)
	case <-time.After(20 * time.Millisecond):
	}
}

// TestFeedPublishCreated: a create given with its documents reads nothing
// back; the after-images are made for the documents of use to a
// subscriber only, a filtered subscriber none of whose documents is of use
// does not get the event, a create of use to nobody is not queued but
// numbered, and subscribers without documents get every event.
func TestFeedPublishCreated(t *testing.T) {
	var loads atomic.Int64
	h := New(func(ctx context.Context, coll string, ids []oid.ID) ([]map[string]any, error) {
		loads.Add(1)
		out := make([]map[string]any, len(ids))
		for i, id := range ids {
			out[i] = map[string]any{"_id": id, "read": true}
		}
		return out, nil
	}, nil)
	defer h.Close()
	var images atomic.Int64
	image := func(d map[string]any) (map[string]any, error) {
		images.Add(1)
		if d["hidden"] == true {
			return nil, nil
		}
		return map[string]any{"_id": d["_id"], "status": d["status"], "imaged": true}, nil
	}
	published := func(d map[string]any) bool { return d["status"] == "published" }
	filtered := make(chan Event, 10)
	cancel := h.SubscribeDocsFilter("posts", func(e Event) { filtered <- e }, published)
	defer cancel()
	if !h.WantsDocs("posts") || h.WantsDocs("other") {
		t.Fatal("WantsDocs is wrong")
	}

	// Of use to nobody: no image, not queued, numbered.
	draft := map[string]any{"_id": oid.New(), "status": "draft"}
	h.PublishCreated("posts", []map[string]any{draft}, image)
	if st := h.Stats(); st.Skipped != 1 || st.Queued != 0 || images.Load() != 0 {
		t.Fatalf("draft: stats %+v, images %d", st, images.Load())
	}
	none(t, filtered, "the filtered subscriber (draft)")

	// One document of use among two: the event, with its image only.
	pub := map[string]any{"_id": oid.New(), "status": "published"}
	draft2 := map[string]any{"_id": oid.New(), "status": "draft"}
	h.PublishCreated("posts", []map[string]any{draft2, pub}, image)
	e := recv(t, filtered)
	if e.Oper != Create || e.Seq != 2 || len(e.IDs) != 2 || len(e.Docs) != 1 || e.Docs[pub["_id"].(oid.ID)]["imaged"] != true {
		t.Fatalf("event %+v", e)
	}
	if images.Load() != 1 || loads.Load() != 0 {
		t.Fatalf("images %d, loads %d; want 1, 0", images.Load(), loads.Load())
	}

	// A subscriber without documents gets every create, with no image
	// made for it; the filtered one still only those of use.
	all := make(chan Event, 10)
	cancelAll := h.Subscribe("posts", func(e Event) { all <- e })
	h.PublishCreated("posts", []map[string]any{{"_id": oid.New(), "status": "draft"}}, image)
	if e := recv(t, all); e.Seq != 3 || e.Docs != nil || len(e.IDs) != 1 {
		t.Fatalf("ids-only subscriber: %+v", e)
	}
	none(t, filtered, "the filtered subscriber (draft, with another subscriber)")
	if images.Load() != 1 {
		t.Fatalf("images %d after a draft, want 1", images.Load())
	}
	cancelAll()

	// A document Read does not return is missing from Docs.
	hidden := map[string]any{"_id": oid.New(), "status": "published", "hidden": true}
	h.PublishCreated("posts", []map[string]any{hidden}, image)
	if e := recv(t, filtered); e.Seq != 4 || len(e.Docs) != 0 || e.Docs == nil {
		t.Fatalf("unreadable create: %+v", e)
	}

	// A subscriber of documents without a filter wants every image.
	docs := make(chan Event, 10)
	cancelDocs := h.SubscribeDocs("posts", func(e Event) { docs <- e })
	d3 := map[string]any{"_id": oid.New(), "status": "draft"}
	h.PublishCreated("posts", []map[string]any{d3}, image)
	if e := recv(t, docs); e.Seq != 5 || e.Docs[d3["_id"].(oid.ID)]["imaged"] != true {
		t.Fatalf("unfiltered subscriber: %+v", e)
	}
	none(t, filtered, "the filtered subscriber (draft, with an unfiltered one)")
	cancelDocs()

	// image fails: everyone gets the event, and the documents are read
	// back.
	h.PublishCreated("posts", []map[string]any{{"_id": oid.New(), "status": "published"}}, func(map[string]any) (map[string]any, error) {
		return nil, errors.New("boom")
	})
	if e := recv(t, filtered); e.Seq != 6 || len(e.Docs) != 1 || loads.Load() != 1 {
		t.Fatalf("after a failed image: %+v, loads %d", e, loads.Load())
	}
	// Docs given already (image nil) are the images.
	d4 := map[string]any{"_id": oid.New(), "status": "published"}
	h.PublishCreated("posts", []map[string]any{d4}, nil)
	if e := recv(t, filtered); e.Seq != 7 || e.Docs[d4["_id"].(oid.ID)]["status"] != "published" {
		t.Fatalf("given images: %+v", e)
	}
	if st := h.Stats(); st.Loads != 1 || st.Skipped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// With a Source, PublishCreated does nothing (the source brings the
// node's own writes), as Publish.
func TestFeedPublishCreatedSource(t *testing.T) {
	h := New(func(ctx context.Context, coll string, ids []oid.ID) ([]map[string]any, error) { return nil, nil }, nil)
	defer h.Close()
	h.SetSource(func(ctx context.Context, coll string, emit func(Oper, []oid.ID)) error {
		<-ctx.Done()
		return ctx.Err()
	})
	got := make(chan Event, 10)
	h.SubscribeDocsFilter("c", func(e Event) { got <- e }, func(map[string]any) bool { return true })
	if h.WantsDocs("c") {
		t.Fatal("WantsDocs with a source")
	}
	h.PublishCreated("c", []map[string]any{{"_id": oid.New()}}, nil)
	none(t, got, "a subscriber of a sourced feed")
}
