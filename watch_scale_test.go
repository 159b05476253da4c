package limp_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/limp-go/limp"
)

// TestWatchCreatesNoReadBack (issue 14 item 5; BENCHMARKS.md, "Live
// queries at 10,000 watchers"): under watchers, a create no watcher's
// filter can pass (a draft under anonymous watchers of published notes)
// puts nothing on the change feed and reads nothing; a create that
// matches reaches its watchers shaped as read returns it, from the
// write's own after-image (no read-back); enter/leave semantics are kept
// (a draft updated to published arrives as "create", deleted as
// "delete"); creates in a transaction arrive after the commit, and none
// after a rollback or for a document inserted soft-deleted.
func TestWatchCreatesNoReadBack(t *testing.T) {
	s := watchApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all, tagged, writer := dial(t, s.WS), dial(t, s.WS), dial(t, s.WS)
	allID := all.send("note/watch", []any{map[string]any{"$attrs": []any{"permalink", "status", "tags"}}}, nil)
	must(t, all.recv())
	taggedID := tagged.send("note/watch", []any{map[string]any{"tags": "t1"}}, nil)
	must(t, tagged.recv())
	before := limp.FeedStats(s.App)

	var drafts []any
	for i := range 5 {
		r := must(t, writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "d"},
			"permalink": "d" + string(rune('0'+i)), "tags": []any{"t1"}}))
		drafts = append(drafts, docs(t, r)[0]["_id"])
	}
	if st := limp.FeedStats(s.App); st.Skipped-before.Skipped != 5 || st.Queued != before.Queued || st.Loads != before.Loads {
		t.Fatalf("after 5 drafts: feed %+v (before %+v), want 5 skipped, nothing queued or read", st, before)
	}

	pub := must(t, writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "p"},
		"permalink": "p", "status": "published", "tags": []any{"t1"}}))
	pid := docs(t, pub)[0]["_id"]
	ev := must(t, all.recv())
	read := docs(t, must(t, writer.call("note/read", []any{map[string]any{"_id": pid}, map[string]any{"$attrs": []any{"permalink", "status", "tags"}}}, nil)))[0]
	if ev.Args["watch"] != allID || ev.Args["oper"] != "create" || !reflect.DeepEqual(ev.Args["docs"], []any{read}) {
		t.Fatalf("event %v, want create of %v", ev.Args, read)
	}
	ev = must(t, tagged.recv())
	full := docs(t, must(t, writer.call("note/read", []any{map[string]any{"_id": pid}}, nil)))[0]
	if ev.Args["watch"] != taggedID || ev.Args["oper"] != "create" || !reflect.DeepEqual(ev.Args["docs"], []any{full}) {
		t.Fatalf("tagged event %v, want create of %v", ev.Args, full)
	}
	if st := limp.FeedStats(s.App); st.Loads != before.Loads || st.Queued != before.Queued+1 {
		t.Fatalf("after a published create: feed %+v (before %+v), want 1 queued, no read", st, before)
	}

	// Enter and leave: a skipped draft that becomes published.
	must(t, writer.call("note/update", []any{map[string]any{"_id": drafts[0]}}, map[string]any{"status": "published"}))
	for _, w := range []*wsClient{all, tagged} {
		if ev := must(t, w.recv()); ev.Args["oper"] != "create" || ev.Args["docs"].([]any)[0].(map[string]any)["_id"] != drafts[0] {
			t.Fatalf("draft published: %v, want create", ev.Args)
		}
	}
	must(t, writer.call("note/delete", []any{map[string]any{"_id": drafts[0]}}, nil))
	for _, w := range []*wsClient{all, tagged} {
		if ev := must(t, w.recv()); ev.Args["oper"] != "delete" || !reflect.DeepEqual(ev.Args["docs"], []any{map[string]any{"_id": drafts[0]}}) {
			t.Fatalf("delete: %v", ev.Args)
		}
	}

	// In a transaction: after the commit only, none after a rollback,
	// none for a document inserted soft-deleted.
	txDoc := func(p string, extra ...any) map[string]any {
		d := map[string]any{"_id": limp.NewID(), "title": map[string]any{"en_AE": p}, "permalink": p, "status": "published",
			"tags": []any{"t2"}, "rank": int64(0)}
		for i := 0; i < len(extra); i += 2 {
			d[extra[i].(string)] = extra[i+1]
		}
		return d
	}
	if err := limp.InsertTx(ctx, s.App, "note", true, txDoc("rolled")); err != nil {
		t.Fatal(err)
	}
	if err := limp.InsertTx(ctx, s.App, "note", false, txDoc("hidden", "__deleted", true)); err != nil {
		t.Fatal(err)
	}
	committed := txDoc("tx")
	if err := limp.InsertTx(ctx, s.App, "note", false, committed); err != nil {
		t.Fatal(err)
	}
	ev = must(t, all.recv())
	got := ev.Args["docs"].([]any)[0].(map[string]any)
	if ev.Args["oper"] != "create" || got["permalink"] != "tx" || got["_id"] != committed["_id"].(limp.ID).Hex() {
		t.Fatalf("transaction's create: %v", ev.Args)
	}
	// Nothing else came: the next frame is the heartbeat's reply.
	for _, w := range []*wsClient{all, tagged} {
		if r := w.call("heart/beat", nil, nil); r.code() != "CORE_HEARTBEAT_OK" {
			t.Fatalf("unexpected frame %v", r)
		}
	}
}

// TestWatchSharedFilter: watchers of one filter made of several
// conditions share their group's filter (watch_group.go); each still gets
// the events, and the watches keep working for new ones.
func TestWatchSharedFilter(t *testing.T) {
	s := watchApp(t)
	writer := dial(t, s.WS)
	var ws []*wsClient
	for range 3 {
		w := dial(t, s.WS)
		w.send("note/watch", []any{map[string]any{"tags": "t1"}, map[string]any{"rank": map[string]any{"$gte": 1}}}, nil)
		must(t, w.recv())
		ws = append(ws, w)
	}
	for i, rank := range []int{0, 5} {
		must(t, writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "p"},
			"permalink": fmt.Sprint("p", i), "status": "published", "tags": []any{"t1"}, "rank": rank}))
	}
	for _, w := range ws {
		ev := must(t, w.recv())
		if d := ev.Args["docs"].([]any)[0].(map[string]any); ev.Args["oper"] != "create" || d["permalink"] != "p1" {
			t.Fatalf("event %v, want the create of p1", ev.Args)
		}
	}
	if n := limp.WatchCount(s.App); n != 3 {
		t.Fatalf("watches = %d, want 3", n)
	}
}
