package limp_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// watchApp serves "note": anyone reads and watches published notes and
// writes; ADMIN watches everything.
func watchApp(t testing.TB) *limptest.Server {
	t.Helper()
	perms := []limp.Perm{{Privilege: "admin"}, {Privilege: "*", QueryMod: limp.M{"status": "published"}}}
	notes := limp.NewModule[Post]("note", limp.Methods{
		"read":   {Permissions: perms},
		"watch":  {Permissions: perms},
		"live":   {Permissions: perms, Watch: true, Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) { return c.Watch(ctx) }},
		"create": {Permissions: limp.Perms("*")},
		"update": {Permissions: limp.Perms("*"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
		"delete": {Permissions: limp.Perms("*"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
	})
	return startApp(t, limp.Config{Name: "test", AnonPrivileges: limp.Privileges{"note": {"read"}}, QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1}, notes)
}

// TestWatchWire checks the exact wire shapes of spec §6.12 with raw frames.
func TestWatchWire(t *testing.T) {
	s := watchApp(t)
	w := dial(t, s.WS)
	id := w.send("note/watch", []any{map[string]any{"$attrs": []any{"title"}}}, nil)
	r := must(t, w.recv())
	// args.resume (limp-go's, watch_resume.go) is the watch's resume token.
	token, _ := r.Args["resume"].(string)
	if r.Msg != "Created watch task." || len(token) != 32 || !reflect.DeepEqual(r.Args, map[string]any{"code": "CORE_WATCH_OK", "watch": id, "call_id": id, "resume": token}) {
		t.Fatalf("created: %q %v", r.Msg, r.Args)
	}
	writer := dial(t, s.WS)
	c := must(t, writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "a"}, "permalink": "a", "status": "published"}))
	nid := docs(t, c)[0]["_id"]
	ev := must(t, w.recv())
	want := map[string]any{"count": float64(1), "oper": "create", "call_id": id, "watch": id, "seq": float64(1),
		"docs": []any{map[string]any{"_id": nid, "title": map[string]any{"en_AE": "a", "ar_AE": "a"}}}}
	if ev.Msg != "Detected 1 docs." || !reflect.DeepEqual(ev.Args, want) {
		t.Fatalf("event: %q %v\nwant %v", ev.Msg, ev.Args, want)
	}
	// A draft never reaches the anonymous watcher; its delete neither.
	d := must(t, writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "d"}, "permalink": "d"}))
	must(t, writer.call("note/delete", []any{map[string]any{"_id": docs(t, d)[0]["_id"]}}, nil))
	must(t, writer.call("note/delete", []any{map[string]any{"_id": nid}}, nil))
	ev = must(t, w.recv())
	if ev.Args["oper"] != "delete" || !reflect.DeepEqual(ev.Args["docs"], []any{map[string]any{"_id": nid}}) {
		t.Fatalf("delete event: %v", ev.Args)
	}

	// watch/delete: unknown, one, all.
	wantErr(t, w.call("watch/delete", []any{map[string]any{"watch": "nope"}}, nil), 400, limp.CodeInvalidWatch)
	wantErr(t, w.call("watch/delete", nil, nil), 400, limp.CodeInvalidWatch)
	r = must(t, w.call("watch/delete", []any{map[string]any{"watch": id}}, nil))
	if r.Msg != "Watch task deleted." || !reflect.DeepEqual(r.Args["watch"], []any{id}) {
		t.Fatalf("delete one: %q %v", r.Msg, r.Args)
	}
	wantErr(t, w.call("watch/delete", []any{map[string]any{"watch": id}}, nil), 400, limp.CodeInvalidWatch)
	id2 := w.send("note/live", nil, nil)
	must(t, w.recv())
	id3 := w.send("note/watch", nil, nil)
	must(t, w.recv())
	r = must(t, w.call("watch/delete", []any{map[string]any{"watch": "__all"}}, nil))
	got, _ := r.Args["watch"].([]any)
	slices.SortFunc(got, func(a, b any) int { return cmpStr(fmt.Sprint(a), fmt.Sprint(b)) })
	if r.Msg != "All watch tasks deleted." || !reflect.DeepEqual(got, []any{id2, id3}) {
		t.Fatalf("delete all: %q %v", r.Msg, r.Args)
	}
	// Nothing more arrives: the next reply is the heartbeat's.
	must(t, writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "b"}, "permalink": "b", "status": "published"}))
	if r := w.call("heart/beat", nil, nil); r.code() != "CORE_HEARTBEAT_OK" {
		t.Fatalf("after delete: %v", r)
	}

	// A watch ends with its connection.
	w.send("note/watch", nil, nil)
	must(t, w.recv())
	if n := limp.WatchCount(s.App); n != 1 {
		t.Fatalf("watches = %d, want 1", n)
	}
	_ = w.ws.CloseNow()
	deadline := time.Now().Add(10 * time.Second)
	for limp.WatchCount(s.App) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the watch outlived its connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A watch takes no $group (nor $search, $geo_near).
	w2 := dial(t, s.WS)
	wantErr(t, w2.call("note/watch", []any{map[string]any{"$group": []any{map[string]any{"by": "rank", "count": 2}}}}, nil), 400, "CORE_WATCH_INVALID_QUERY")
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestWatchSessionChange: a watch opened by ADMIN does not leak drafts
// once the connection signs out: the permissions are checked again for
// the new session (ANON, published only) and the draft never arrives.
func TestWatchSessionChange(t *testing.T) {
	s := watchApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := s.Client(t, nil)
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	w, err := admin.Watch(ctx, "note/watch", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	writer := s.Client(t, nil)
	create := func(p, status string) {
		t.Helper()
		if _, err := writer.Call(ctx, "note/create", nil, map[string]any{"title": map[string]any{"en_AE": p}, "permalink": p, "status": status}); err != nil {
			t.Fatal(err)
		}
	}
	create("draft1", "draft")
	if e, err := w.Next(ctx); err != nil || e.Args["oper"] != "create" {
		t.Fatalf("admin sees the draft: %v %v", e, err)
	}
	if err := admin.Signout(ctx); err != nil {
		t.Fatal(err)
	}
	create("draft2", "draft")
	create("pub", "published")
	e, err := w.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := e.Args["docs"].([]any)[0].(map[string]any)
	if d["permalink"] != "pub" {
		t.Fatalf("after signout the watch got %v, want only the published note", d)
	}
}

// TestWatchRevokedSession: a watch whose session is deleted ends with
// the session's error; nothing more is sent.
func TestWatchRevokedSession(t *testing.T) {
	s := watchApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := s.Client(t, nil)
	sess, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	w, err := admin.Watch(ctx, "note/watch", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := s.Client(t, nil)
	if _, err := other.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Call(ctx, "session/delete", []any{map[string]any{"_id": sess.ID}}, nil); err != nil {
		t.Fatalf("delete session: %v", err)
	}
	if _, err := other.Call(ctx, "note/create", nil, map[string]any{"title": map[string]any{"en_AE": "x"}, "permalink": "x"}); err != nil {
		t.Fatal(err)
	}
	e, err := w.Next(ctx)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 403 {
		t.Fatalf("revoked session: event %v, err %v; want a 403", e, err)
	}
}
