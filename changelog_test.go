package limp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
	"github.com/limp-go/limp/limptest"
)

// Two App nodes sharing one MongoDB database see each other's writes: by
// change streams where the server has them, else by the change log
// (internal/store/mongo/changelog.go). These tests run on the server
// LIMP_TEST_MONGO_URI names (FerretDB in CI: the change log).

// TestTwoNodesCacheInvalidation: a read cached on node A is dropped by a
// write made through node B.
func TestTwoNodesCacheInvalidation(t *testing.T) {
	uri := mongotest.URI(t)
	a := cacheApp(t, noQuotas(limp.Config{Name: "test", Data: uri, ChangeLogPoll: 20 * time.Millisecond}), nil, 0)
	b := cacheApp(t, noQuotas(limp.Config{Name: "test", Data: uri, ChangeLogPoll: 20 * time.Millisecond}), nil, 0)
	if !limp.FeedHasSource(a.App) {
		t.Fatal("node A's change feed has no cross-node source: neither change streams nor the change log")
	}
	ca, cb := a.Client(t, nil), b.Client(t, nil)
	call(t, ca, "note/create", nil, limp.M{"title": "a"})
	waitCached(t, ca, "after A's own create")
	call(t, cb, "note/create", nil, limp.M{"title": "b"})
	waitUncached(t, ca, "create through node B")
	if got := titles(call(t, ca, "note/read", nil, nil)); len(got) != 2 {
		t.Fatalf("A reads %v after B's create, want 2 notes", got)
	}
	// Update and delete through B drop A's entries too.
	id := created(t, call(t, cb, "note/create", nil, limp.M{"title": "c"}))
	waitUncached(t, ca, "second create through node B")
	for _, step := range []struct {
		ep  string
		doc any
	}{{"note/update", limp.M{"title": "c2"}}, {"note/delete", nil}} {
		waitCached(t, ca, "before "+step.ep)
		call(t, cb, step.ep, []any{limp.M{"_id": id}}, step.doc)
		waitUncached(t, ca, step.ep+" through node B")
	}
}

// waitCached reads until a read is answered from the cache (the node's
// own writes come back through the feed and drop its entries once more,
// a little later), bounded by 5 s.
func waitCached(t *testing.T, c *client.Client, why string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cachedRead(t, c) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no read on A was answered from the cache", why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nodeWatchApp(t *testing.T, uri string) *limptest.Server {
	t.Helper()
	perms := []limp.Perm{{Privilege: "admin"}, {Privilege: "*", QueryMod: limp.M{"status": "published"}}}
	notes := limp.NewModule[Post]("note", limp.Methods{
		"read":   {Permissions: perms},
		"watch":  {Permissions: perms},
		"create": {Permissions: limp.Perms("*")},
		"update": {Permissions: limp.Perms("*"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
		"delete": {Permissions: limp.Perms("*"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
	})
	return startApp(t, limp.Config{Name: "test", Data: uri, ChangeLogPoll: 20 * time.Millisecond,
		AnonPrivileges: limp.Privileges{"note": {"read"}}, QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1}, notes)
}

// TestTwoNodesWatch: a watch on node A receives the create, update and
// delete made through node B, each exactly once, and those made through A
// itself, each exactly once too.
func TestTwoNodesWatch(t *testing.T) {
	uri := mongotest.URI(t)
	a, b := nodeWatchApp(t, uri), nodeWatchApp(t, uri)
	ca, cb := a.Client(t, nil), b.Client(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := ca.Watch(ctx, "note/watch", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := func(want string, id any) {
		t.Helper()
		nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ev, err := w.Next(nctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		docs, _ := ev.Args["docs"].([]any)
		if ev.Args["oper"] != want || len(docs) != 1 || docs[0].(map[string]any)["_id"] != id {
			t.Fatalf("event %v, want %s of %v", ev.Args, want, id)
		}
	}
	none := func(after string) {
		t.Helper()
		nctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond) // 15 polls
		defer cancel()
		if ev, err := w.Next(nctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("after %s: unexpected event %v (%v)", after, ev, err)
		}
	}
	for _, writer := range []struct {
		name string
		c    *client.Client
	}{{"node B", cb}, {"node A", ca}} {
		id := created(t, call(t, writer.c, "note/create", nil, limp.M{"title": limp.M{"en_AE": "x"}, "permalink": "p-" + writer.name, "status": "published"}))
		next("create", id)
		call(t, writer.c, "note/update", []any{limp.M{"_id": id}}, limp.M{"title": limp.M{"en_AE": "y"}})
		next("update", id)
		call(t, writer.c, "note/delete", []any{limp.M{"_id": id}}, nil)
		next("delete", id)
		none(writer.name + "'s writes")
	}
}
