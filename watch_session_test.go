package limp_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp"
)

// A watcher whose session signed out or was revoked gets nothing more
// about documents its new session may not read: not their changes, not
// even their delete {_id} (watch_session.go).

// untilPub reads c's replies up to the event of document pub and fails on
// any other: the watcher may get nothing but pub.
func untilPub(t *testing.T, c *wsClient, wid, pub, what string) {
	t.Helper()
	r := must(t, c.recv()) // recv fails the test after its own timeout
	d := r.Args["docs"].([]any)[0].(map[string]any)
	if r.Args["call_id"] != wid || d["_id"] != pub || r.Args["oper"] != "create" {
		t.Fatalf("%s: the signed-out watcher got %s %v", what, r.Args["oper"], d)
	}
}

// TestWatchSignoutNoDeletes: ADMIN's watch saw drafts; after the
// connection signs out, updating them (all at once, so the events are
// matched under ADMIN's filter before the watcher notices the sign-out)
// and deleting one send nothing, not even delete {_id}; the published
// art arrives.
func TestWatchSignoutNoDeletes(t *testing.T) {
	w := v14App(t, limp.Config{})
	watcher := dial(t, w.s.WS)
	sess := signIn(t, watcher, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	wid := watcher.send("art/watch", nil, nil)
	must(t, watcher.recv())
	const n = 20
	ids := make([]string, n)
	for i := range n {
		ids[i] = w.art(t, fmt.Sprint("d", i), "draft", nil)
		if ev := must(t, watcher.recv()); ev.Args["oper"] != "create" {
			t.Fatalf("ADMIN's watch: %v", ev.Args)
		}
	}
	must(t, watcher.call("session/signout", []any{map[string]any{"_id": sess["_id"]}}, nil))
	watcher.key = limp.DefaultAnonToken
	must(t, w.admin.call("art/update", []any{map[string]any{"status": "draft"}}, map[string]any{"tags": []any{"secret"}}))
	must(t, w.admin.call("art/delete", []any{map[string]any{"_id": ids[0]}}, nil))
	untilPub(t, watcher, wid, w.art(t, "pub", "published", nil), "after the update")
	// A delete after the watcher moved (its first event did it).
	must(t, w.admin.call("art/delete", []any{map[string]any{"_id": ids[1]}}, nil))
	quiet(t, watcher, "after deleting a draft")
}

// TestWatchSignoutDelete: the first event after a sign-out is the delete
// of a draft seen as ADMIN: not sent.
func TestWatchSignoutDelete(t *testing.T) {
	w := v14App(t, limp.Config{})
	watcher := dial(t, w.s.WS)
	sess := signIn(t, watcher, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	wid := watcher.send("art/watch", nil, nil)
	must(t, watcher.recv())
	d := w.art(t, "d", "draft", nil)
	must(t, watcher.recv())
	must(t, watcher.call("session/signout", []any{map[string]any{"_id": sess["_id"]}}, nil))
	watcher.key = limp.DefaultAnonToken
	must(t, w.admin.call("art/delete", []any{map[string]any{"_id": d}}, nil))
	untilPub(t, watcher, wid, w.art(t, "pub", "published", nil), "after deleting the draft")
}

// TestWatchSignoutOrder: drafts change while the watcher signs out: once
// the sign-out's reply has arrived, no event about a draft follows (an
// event shaped for ADMIN is never queued after the reply of the session
// change).
func TestWatchSignoutOrder(t *testing.T) {
	reportedFault(t, "once under -race in CI the watch ended with 403 CORE_SESSION_INVALID_SESSION after the sign-out: an event matched between the session's delete and the connection's switch to ANON revalidates the deleted session (watch.go), where the test wants the watch to go on as ANON")
	w := v14App(t, limp.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 10
	ids := make([]string, n)
	for i := range n {
		ids[i] = w.art(t, fmt.Sprint("d", i), "draft", nil)
	}
	for round := range 5 {
		watcher := dial(t, w.s.WS)
		sess := signIn(t, watcher, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
		wid := watcher.send("art/watch", nil, nil)
		must(t, watcher.recv())
		writer := w.s.Client(t, nil)
		if _, err := writer.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := writer.Call(ctx, "art/update", []any{map[string]any{"_id": ids[i%n]}}, map[string]any{"touch": i + 1000*round}); err != nil {
					return
				}
			}
		}()
		time.Sleep(30 * time.Millisecond)
		sid := watcher.send("session/signout", []any{map[string]any{"_id": sess["_id"]}}, nil)
		for {
			r := watcher.recv()
			if r.Args["call_id"] == sid {
				must(t, r)
				break
			}
			if r.Args["call_id"] != wid {
				t.Fatalf("unexpected reply %v", r)
			}
		}
		watcher.key = limp.DefaultAnonToken
		time.Sleep(50 * time.Millisecond)
		close(stop)
		wg.Wait()
		quiet(t, watcher, fmt.Sprintf("round %d, after the sign-out's reply", round))
		_ = watcher.ws.CloseNow()
	}
}

// TestWatchRevokedNoDeletes: the watcher's session is deleted from
// another connection; the delete of a draft it saw ends the watch with
// the session's 403, and no delete {_id} is sent before it.
func TestWatchRevokedNoDeletes(t *testing.T) {
	w := v14App(t, limp.Config{})
	watcher := dial(t, w.s.WS)
	sess := signIn(t, watcher, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	wid := watcher.send("art/watch", nil, nil)
	must(t, watcher.recv())
	d := w.art(t, "d", "draft", nil)
	must(t, watcher.recv())
	must(t, w.admin.call("session/delete", []any{map[string]any{"_id": sess["_id"]}}, nil))
	must(t, w.admin.call("art/delete", []any{map[string]any{"_id": d}}, nil))
	r := watcher.recv()
	if r.Args["call_id"] != wid || r.Status != 403 {
		t.Fatalf("revoked: %d %v, want the watch's 403", r.Status, r.Args)
	}
	w.art(t, "pub", "published", nil)
	quiet(t, watcher, "after the revocation")
}

// TestWatchAdminSoft: ADMIN watching with $soft sees what ADMIN's read
// with $soft sees (spec §6.4: every read hides soft-deleted documents;
// $soft only makes a delete a purge): a soft delete leaves the watch as
// delete {_id}, the purge of that soft-deleted document sends nothing,
// the purge of a live one is a delete {_id}; the resume snapshot of the
// $soft watch lists what the read lists. On every store of the repo's
// pattern (realmStores).
func TestWatchAdminSoft(t *testing.T) {
	for name, data := range realmStores(t) {
		t.Run(name, func(t *testing.T) { testWatchAdminSoft(t, data) })
	}
}

func testWatchAdminSoft(t *testing.T, data string) {
	w := v14App(t, limp.Config{Data: data})
	soft := []any{map[string]any{"$soft": true}}
	aw := dial(t, w.s.WS)
	signIn(t, aw, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	wid := aw.send("art/watch", soft, nil)
	cr := must(t, aw.recv())
	if cr.Args["watch"] != wid {
		t.Fatalf("created: %v", cr.Args)
	}
	a := w.art(t, "a", "draft", nil)
	b := w.art(t, "b", "published", nil)
	for _, id := range []string{a, b} {
		if oper, d := evOf(t, aw); oper != "create" || d["_id"] != id {
			t.Fatalf("create %s: %s %v", id, oper, d)
		}
	}
	must(t, w.admin.call("art/delete", []any{map[string]any{"_id": a}}, nil))
	if oper, d := evOf(t, aw); oper != "delete" || len(d) != 1 || d["_id"] != a {
		t.Fatalf("soft delete: %s %v", oper, d)
	}
	rd := docs(t, must(t, w.admin.call("art/read", soft, nil)))
	if len(rd) != 1 || rd[0]["_id"] != b {
		t.Fatalf("ADMIN's $soft read: %v, want only b", rd)
	}
	// Purging the soft-deleted a: nothing (the watch no longer has it).
	must(t, w.admin.call("art/delete", []any{map[string]any{"_id": a, "$soft": true}}, nil))
	quiet(t, aw, "after purging a soft-deleted art")
	must(t, w.admin.call("art/delete", []any{map[string]any{"_id": b, "$soft": true}}, nil))
	if oper, d := evOf(t, aw); oper != "delete" || len(d) != 1 || d["_id"] != b {
		t.Fatalf("purge: %s %v", oper, d)
	}
	// A fresh $soft watch from a resume no one can honour: its snapshot
	// is what the $soft read returns.
	c := w.art(t, "c", "published", nil)
	evOf(t, aw)
	w.art(t, "gone", "draft", nil)
	evOf(t, aw)
	must(t, w.admin.call("art/delete", []any{map[string]any{"permalink": "gone"}}, nil))
	evOf(t, aw)
	aw.send("art/watch", []any{map[string]any{"$soft": true}, resumeStep("00000000000000000000000000000000", 0)}, nil)
	snap := must(t, aw.recv())
	rd = docs(t, must(t, w.admin.call("art/read", soft, nil)))
	sd, _ := snap.Args["docs"].([]any)
	if snap.Args["snapshot"] != true || len(sd) != len(rd) || len(rd) != 1 || sd[0].(map[string]any)["_id"] != c {
		t.Fatalf("snapshot %v, read %v", snap.Args, rd)
	}
}
