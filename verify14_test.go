package limp_test

// Verification of issue 14 (live queries) by an outside tester: attacks
// through raw frames on an app with a reference to a module only its
// owners read.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// Vault is a document only its owner (and ADMIN) reads.
type Vault struct {
	limp.OwnedDoc
	Name string `json:"name"`
}

// Art is a post that references a vault.
type Art struct {
	limp.OwnedDoc
	Status    string      `json:"status" limp:"default=draft" validate:"oneof=draft published"`
	Title     limp.Locale `json:"title"`
	Permalink string      `json:"permalink"`
	Vault     *limp.ID    `json:"vault" limp:"ref=vault"`
	Tags      []string    `json:"tags" limp:"default=[]"`
	Touch     int64       `json:"touch" limp:"default=0"`
}

type v14World struct {
	s          *limptest.Server
	admin      *wsClient
	alice, bob *wsClient
	aliceID    string
	bobID      string
}

// v14App: anyone reads published arts, users their own drafts too; vaults
// are read by their owners only; ADMIN writes everything; updates and
// deletes take any query (several documents at once).
func v14App(t *testing.T, cfg limp.Config) *v14World {
	t.Helper()
	artPerms := []limp.Perm{
		{Privilege: "admin"},
		{Privilege: "read", QueryMod: []limp.M{{"status": "published"}, {"user": limp.VarUser}}},
		{Privilege: "*", QueryMod: limp.M{"status": "published"}},
	}
	arts := limp.NewModule[Art]("art", limp.Methods{
		"read":   {Permissions: artPerms},
		"watch":  {Permissions: artPerms, Watch: true},
		"create": {Permissions: limp.Perms("admin")},
		"update": {Permissions: limp.Perms("admin")},
		"delete": {Permissions: limp.Perms("admin")},
	})
	vaults := limp.NewModule[Vault]("vault", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "read", QueryMod: limp.M{"user": limp.VarUser}}}},
		"create": {Permissions: limp.Perms("create")},
	})
	cfg.Name = "test"
	cfg.AnonPrivileges = limp.Privileges{"art": {"read"}}
	cfg.DefaultPrivileges = limp.Privileges{"art": {"read"}, "vault": {"read", "create"}, "session": {"read", "delete"}}
	cfg.QuotaIPMin, cfg.QuotaAnonMin, cfg.QuotaAuthMin = -1, -1, -1
	s := startApp(t, cfg, arts, vaults)
	w := &v14World{s: s, admin: dial(t, s.WS)}
	signIn(t, w.admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	mk := func(name string) (*wsClient, string) {
		r := must(t, w.admin.call("user/create", nil, map[string]any{"name": map[string]any{"en_AE": name},
			"email": name + "@example.com", "email_hash": authHash(t, name+"@example.com", "pw")}))
		c := dial(t, s.WS)
		signIn(t, c, name+"@example.com", "pw")
		return c, docs(t, r)[0]["_id"].(string)
	}
	w.alice, w.aliceID = mk("alice")
	w.bob, w.bobID = mk("bob")
	return w
}

func (w *v14World) art(t *testing.T, p, status string, extra map[string]any) string {
	t.Helper()
	d := map[string]any{"title": map[string]any{"en_AE": p}, "permalink": p, "status": status}
	for k, v := range extra {
		d[k] = v
	}
	return docs(t, must(t, w.admin.call("art/create", nil, d)))[0]["_id"].(string)
}

// quiet checks that nothing but the heartbeat's reply reaches c: the
// events c should not get were all queued before it.
func quiet(t *testing.T, c *wsClient, what string) {
	t.Helper()
	time.Sleep(150 * time.Millisecond)
	if r := c.call("heart/beat", nil, nil); r.code() != "CORE_HEARTBEAT_OK" {
		t.Fatalf("%s: got %v %v, want nothing", what, r.Msg, r.Args)
	}
}

// TestVerify14JoinFilterLeak: a watch whose query goes through a reference
// to a document the watcher may not read (anon or another user, bob's
// vault) never matches it, as read would not; the owner's does. Event
// documents are shaped as read shapes them for each caller (the vault
// expanded for bob, null for the others).
func TestVerify14JoinFilterLeak(t *testing.T) {
	w := v14App(t, limp.Config{})
	vid := docs(t, must(t, w.bob.call("vault/create", nil, map[string]any{"name": "bobsecret"})))[0]["_id"]
	anon := dial(t, w.s.WS)
	q := []any{map[string]any{"vault.name": "bobsecret"}}
	for _, c := range []*wsClient{anon, w.alice} {
		if r := must(t, c.call("art/read", q, nil)); r.Args["count"] != float64(0) {
			t.Fatalf("read through the hidden vault: %v", r.Args)
		}
	}
	anon.send("art/watch", q, nil)
	must(t, anon.recv())
	w.alice.send("art/watch", q, nil)
	must(t, w.alice.recv())
	w.bob.send("art/watch", q, nil)
	must(t, w.bob.recv())
	all := dial(t, w.s.WS) // anon, everything
	all.send("art/watch", nil, nil)
	must(t, all.recv())
	bobAll := w.bob // a second watch of bob's, everything
	bobAll.send("art/watch", []any{map[string]any{"permalink": "p1"}}, nil)
	must(t, bobAll.recv())

	id := w.art(t, "p1", "published", map[string]any{"vault": vid})
	must(t, w.admin.call("art/update", []any{map[string]any{"_id": id}}, map[string]any{"tags": []any{"x"}}))
	// bob: create and update on both watches.
	var bobEvents []reply
	for range 4 {
		bobEvents = append(bobEvents, must(t, w.bob.recv()))
	}
	// anon "all": create and update, the vault null as read has it.
	must(t, all.recv())
	ev := must(t, all.recv())
	rd := docs(t, must(t, dial(t, w.s.WS).call("art/read", []any{map[string]any{"_id": id}}, nil)))[0]
	if d := ev.Args["docs"].([]any)[0]; ev.Args["oper"] != "update" || !reflect.DeepEqual(d, any(rd)) {
		t.Fatalf("anon event doc differs from read:\n event %v %v\n read  %v", ev.Args["oper"], d, rd)
	}
	if rd["vault"] != nil {
		t.Fatalf("anon read expands bob's vault: %v", rd["vault"])
	}
	quiet(t, anon, "anon watching through bob's vault")
	quiet(t, w.alice, "alice watching through bob's vault")
	brd := docs(t, must(t, w.bob.call("art/read", []any{map[string]any{"_id": id}}, nil)))[0]
	for _, e := range bobEvents {
		d := e.Args["docs"].([]any)[0].(map[string]any)
		if v, _ := d["vault"].(map[string]any); v == nil || v["name"] != "bobsecret" {
			t.Fatalf("bob's event lacks his vault: %v", e.Args)
		}
		if e.Args["oper"] == "update" && !reflect.DeepEqual(d, brd) {
			t.Fatalf("bob's event doc differs from read:\n event %v\n read  %v", d, brd)
		}
	}
}

// TestVerify14SignoutQueuedLeak: a watch opened by ADMIN, signed out on
// its connection: events matched under ADMIN's filter but not yet
// delivered when the session changed must be matched again under the new
// session's. One update of several drafts queues several events at once;
// none may reach the (now anonymous) watcher with a draft in it.
func TestVerify14SignoutQueuedLeak(t *testing.T) {
	w := v14App(t, limp.Config{})
	const n = 40
	ids := make([]any, n)
	for i := range n {
		ids[i] = w.art(t, fmt.Sprint("d", i), "draft", nil)
	}
	watcher := dial(t, w.s.WS)
	sess := signIn(t, watcher, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	wid := watcher.send("art/watch", nil, nil)
	must(t, watcher.recv())
	must(t, watcher.call("session/signout", []any{map[string]any{"_id": sess["_id"]}}, nil))
	watcher.key = limp.DefaultAnonToken
	must(t, w.admin.call("art/update", []any{map[string]any{"status": "draft"}}, map[string]any{"tags": []any{"secret"}}))
	pub := w.art(t, "pub", "published", nil)
	// What the watcher may get: delete events of drafts it saw as ADMIN
	// (only their _id), then the published art; never a draft's body.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := watcher.recv()
		if r.Args["call_id"] != wid {
			t.Fatalf("unexpected reply %v", r)
		}
		must(t, r)
		d := r.Args["docs"].([]any)[0].(map[string]any)
		if r.Args["oper"] != "delete" && d["status"] != "published" {
			t.Fatalf("the signed-out watcher got a draft: %s %v", r.Args["oper"], d)
		}
		if d["_id"] == pub {
			return
		}
	}
	t.Fatal("the published art never arrived")
}

// TestVerify14WatchDeleteShapes: watch/delete variants through raw frames:
// a numeric call_id's watch can be deleted with the same number; another
// connection's watch id is unknown (400) and that watch goes on; bad
// shapes are 400 CORE_WATCH_INVALID_WATCH.
func TestVerify14WatchDeleteShapes(t *testing.T) {
	w := v14App(t, limp.Config{})
	a, b := dial(t, w.s.WS), dial(t, w.s.WS)
	aid := a.send("art/watch", nil, nil)
	must(t, a.recv())
	// b cannot end a's watch.
	wantErr(t, b.call("watch/delete", []any{map[string]any{"watch": aid}}, nil), 400, limp.CodeInvalidWatch)
	r := must(t, b.call("watch/delete", []any{map[string]any{"watch": "__all"}}, nil))
	if r.Msg != "All watch tasks deleted." || !reflect.DeepEqual(r.Args["watch"], []any{}) {
		t.Fatalf("__all with none: %q %v", r.Msg, r.Args)
	}
	w.art(t, "p", "published", nil)
	if ev := must(t, a.recv()); ev.Args["oper"] != "create" {
		t.Fatalf("a's watch after b's attempts: %v", ev.Args)
	}
	for _, q := range []any{[]any{map[string]any{}}, []any{map[string]any{"watch": nil}}, []any{map[string]any{"watch": []any{aid}}},
		[]any{map[string]any{"watch": aid}, map[string]any{"watch": "__all"}}} {
		wantErr(t, a.call("watch/delete", q, nil), 400, limp.CodeInvalidWatch)
	}
	// A numeric call_id (a JSON number in the frame and the JWT).
	now := time.Now().Unix()
	payload := map[string]any{"call_id": 7, "endpoint": "art/watch", "sid": "f00000000000000000000012",
		"token": a.key, "query": []any{}, "doc": map[string]any{}, "iat": now, "exp": now + 86400}
	a.sendRaw(string(mustJSON(map[string]any{"token": sign(t, payload, a.key), "call_id": 7})))
	cr := must(t, a.recv())
	if cr.Args["watch"] != float64(7) || cr.Args["call_id"] != float64(7) {
		t.Fatalf("numeric created: %v", cr.Args)
	}
	r = must(t, a.call("watch/delete", []any{map[string]any{"watch": 7}}, nil))
	if !reflect.DeepEqual(r.Args["watch"], []any{float64(7)}) {
		t.Fatalf("numeric delete: %v", r.Args)
	}
	r = must(t, a.call("watch/delete", []any{map[string]any{"watch": aid}}, nil))
	if r.Msg != "Watch task deleted." || !reflect.DeepEqual(r.Args["watch"], []any{aid}) {
		t.Fatalf("delete: %q %v", r.Msg, r.Args)
	}
}

// TestVerify14NoConn: a watch method over HTTP is refused with a coded
// error, not served as a read.
func TestVerify14NoConn(t *testing.T) {
	w := v14App(t, limp.Config{})
	w.art(t, "p", "published", nil)
	r := httpCallJSON(t, w.s.URL+"/art/watch")
	if r.Status == 200 {
		t.Fatalf("HTTP art/watch answered 200: %v", r)
	}
}

func httpCallJSON(t *testing.T, url string) reply {
	t.Helper()
	resp, err := httpPost(url, `{"query": [], "doc": {}}`)
	if err != nil {
		t.Fatal(err)
	}
	var r reply
	if err := json.Unmarshal(resp, &r); err != nil {
		t.Fatalf("%s: %v", resp, err)
	}
	return r
}

func httpPost(url, body string) ([]byte, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// TestVerify14GroupRevoked: carol reads drafts through a group granting
// art "admin"; she watches everything; the group is taken from her. From
// then on no draft reaches her watch: neither a new one, nor an update of
// one she saw (at most its delete, _id only).
func TestVerify14GroupRevoked(t *testing.T) {
	w := v14App(t, limp.Config{})
	r := must(t, w.admin.call("group/create", nil, map[string]any{"name": map[string]any{"en_AE": "editors"},
		"privileges": map[string]any{"art": []any{"admin"}}}))
	gid := docs(t, r)[0]["_id"].(string)
	must(t, w.admin.call("user/add_group", []any{map[string]any{"_id": w.aliceID}}, map[string]any{"group": gid}))
	d1 := w.art(t, "d1", "draft", nil)
	if n := len(docs(t, must(t, w.alice.call("art/read", nil, nil)))); n != 1 {
		t.Fatalf("alice as editor reads %d arts, want the draft", n)
	}
	wid := w.alice.send("art/watch", nil, nil)
	must(t, w.alice.recv())
	w.art(t, "d2", "draft", nil)
	if ev := must(t, w.alice.recv()); ev.Args["oper"] != "create" {
		t.Fatalf("editor's draft event: %v", ev.Args)
	}
	must(t, w.admin.call("user/delete_group", []any{map[string]any{"_id": w.aliceID, "group": gid}}, nil))
	must(t, w.admin.call("art/update", []any{map[string]any{"_id": d1}}, map[string]any{"tags": []any{"secret"}}))
	w.art(t, "d3", "draft", nil)
	must(t, w.admin.call("art/update", []any{map[string]any{"status": "draft"}}, map[string]any{"tags": []any{"secret2"}}))
	pub := w.art(t, "pub", "published", nil)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := w.alice.recv()
		if r.Args["call_id"] != wid {
			t.Fatalf("unexpected reply %v", r)
		}
		must(t, r)
		d := r.Args["docs"].([]any)[0].(map[string]any)
		if r.Args["oper"] != "delete" && d["status"] != "published" {
			t.Fatalf("alice, no longer an editor, got a draft: %s %v", r.Args["oper"], d)
		}
		if r.Args["oper"] == "delete" && len(d) != 1 {
			t.Fatalf("delete event with more than _id: %v", d)
		}
		if d["_id"] == pub {
			return
		}
	}
	t.Fatal("the published art never arrived")
}

// TestVerify14SlowWatcher: a watcher whose delivery is stuck (an
// on-watch hook that blocks until the test releases it) never holds
// writes: 400 creates go through while it cannot take a single event; it
// gets 503 CORE_WATCH_OVERFLOW and its watch ends; a watcher of the same
// query on another connection gets every event, in order; the stuck
// connection still answers calls.
func TestVerify14SlowWatcher(t *testing.T) {
	release := make(chan struct{})
	stuck := func(ctx context.Context, c *limp.Call, oper string, doc limp.M) (limp.M, error) {
		if c.Session.Anon() {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return doc, nil
	}
	s := watchAppCfg(t, limp.Config{}, limp.Hooks{OnWatch: stuck})
	lazy := dial(t, s.WS)
	lid := lazy.send("note/watch", []any{map[string]any{"$attrs": []any{"permalink"}}}, nil)
	must(t, lazy.recv())
	fast := dial(t, s.WS)
	signIn(t, fast, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	must(t, fast.call("note/watch", []any{map[string]any{"$attrs": []any{"permalink"}}}, nil))
	writer := dial(t, s.WS)
	const n = 400 // > WatchQueue + 1
	for i := range n {
		must(t, writer.call("note/create", nil, note(fmt.Sprint("n", i), "published")))
	}
	for i := range n {
		ev := must(t, fast.recv())
		if ev.Args["seq"] != float64(i+1) || permalinkOf(ev) != fmt.Sprint("create:n", i) {
			t.Fatalf("fast watcher event %d: %v", i, ev.Args)
		}
	}
	close(release)
	// At most the event the hook held, then the overflow.
	for {
		r := lazy.recv()
		if r.Args["call_id"] != lid {
			t.Fatalf("unexpected reply %v", r)
		}
		if r.Status != 200 {
			wantErr(t, r, 503, "CORE_WATCH_OVERFLOW")
			break
		}
		if r.Args["seq"] != float64(1) {
			t.Fatalf("the stuck watcher got %v", r.Args)
		}
	}
	quiet(t, lazy, "after the overflow")
}

// TestVerify14SoftDeleteLeaves: a soft-deleted document (base delete)
// leaves the watch as delete {_id}; its later updates (unseen by read)
// send nothing; an ADMIN $soft watch is what read allows.
func TestVerify14SoftDeleteLeaves(t *testing.T) {
	w := v14App(t, limp.Config{})
	anon := dial(t, w.s.WS)
	aid := anon.send("art/watch", nil, nil)
	must(t, anon.recv())
	id := w.art(t, "p", "published", nil)
	must(t, anon.recv())
	must(t, w.admin.call("art/delete", []any{map[string]any{"_id": id}}, nil))
	ev := must(t, anon.recv())
	if ev.Args["oper"] != "delete" || !reflect.DeepEqual(ev.Args["docs"], []any{map[string]any{"_id": id}}) || ev.Args["call_id"] != aid {
		t.Fatalf("soft delete: %v", ev.Args)
	}
	quiet(t, anon, "after the delete")
	// $soft: refused to a caller read refuses it to, the same way.
	rr := anon.call("art/read", []any{map[string]any{"$soft": true}}, nil)
	rw := anon.call("art/watch", []any{map[string]any{"$soft": true}}, nil)
	if rr.Status == 200 && rw.Status != 200 || rr.Status != 200 && (rw.Status != rr.Status || rw.code() != rr.code()) {
		t.Fatalf("$soft: read %d %s, watch %d %s", rr.Status, rr.code(), rw.Status, rw.code())
	}
}

// TestVerify14ClientServerEnded: through the Go client, a watch the
// server ended (an on-watch hook's error: the server sends nothing more on
// it) returns that error from Next, and then ErrWatchEnded at once, not a
// wait for events that can never come.
func TestVerify14ClientServerEnded(t *testing.T) {
	hook := func(ctx context.Context, c *limp.Call, oper string, doc limp.M) (limp.M, error) {
		if doc["permalink"] == "boom" {
			return nil, limp.NewError(400, "APP_BOOM", "Boom.")
		}
		return doc, nil
	}
	s := watchAppCfg(t, limp.Config{}, limp.Hooks{OnWatch: hook})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.Client(t, nil)
	w, err := c.Watch(ctx, "note/watch", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	writer := dial(t, s.WS)
	must(t, writer.call("note/create", nil, note("boom", "published")))
	if _, err := w.Next(ctx); client.CodeOf(err) != "APP_BOOM" {
		t.Fatalf("first Next: %v, want APP_BOOM", err)
	}
	short, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	if _, err := w.Next(short); !errors.Is(err, client.ErrWatchEnded) {
		t.Fatalf("Next after the server ended the watch: %v, want ErrWatchEnded", err)
	}
	// Stop has nothing to cancel on the server: no error.
	if err := w.Stop(ctx); err != nil {
		t.Fatalf("Stop of a watch the server ended: %v", err)
	}
}

// TestVerify14ShapesAsRead: for several $attrs and $extn, and for anon,
// bob (the vault's owner) and ADMIN, the update event's document equals
// read's for the same query; a query on tags sends create when an update
// makes the art match, delete {_id} when it stops matching, nothing while
// it does not match.
func TestVerify14ShapesAsRead(t *testing.T) {
	w := v14App(t, limp.Config{})
	vid := docs(t, must(t, w.bob.call("vault/create", nil, map[string]any{"name": "bv"})))[0]["_id"]
	id := w.art(t, "p", "published", map[string]any{"vault": vid, "tags": []any{"cold"}})
	anon := dial(t, w.s.WS)
	bobW := dial(t, w.s.WS)
	signIn(t, bobW, "bob@example.com", "pw")
	adminW := dial(t, w.s.WS)
	signIn(t, adminW, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	steps := []map[string]any{
		{},
		{"$attrs": []any{"title.en_AE", "vault"}},
		{"$attrs": []any{"title.ar_AE"}},
		{"$attrs": []any{}},
		{"$extn": false},
		{"$extn": []any{"vault"}, "$attrs": []any{"vault", "tags"}},
	}
	type watcher struct {
		who  string
		c    *wsClient
		step map[string]any
		id   string
	}
	var ws []watcher
	for _, c := range []struct {
		who string
		c   *wsClient
	}{{"anon", anon}, {"bob", bobW}, {"admin", adminW}} {
		for _, st := range steps {
			id := c.c.send("art/watch", []any{st}, nil)
			if r := c.c.recv(); r.Status != 200 {
				t.Fatalf("%s watch %v: %v", c.who, st, r)
			}
			ws = append(ws, watcher{c.who, c.c, st, id})
		}
	}
	must(t, w.admin.call("art/update", []any{map[string]any{"_id": id}}, map[string]any{"tags": []any{"hot"}}))
	got := map[string]reply{}
	for range steps {
		for _, c := range []*wsClient{anon, bobW, adminW} {
			r := must(t, c.recv())
			got[fmt.Sprint(c == anon, c == bobW, r.Args["call_id"])] = r
		}
	}
	for _, x := range ws {
		r := got[fmt.Sprint(x.c == anon, x.c == bobW, x.id)]
		q := []any{map[string]any{"_id": id}}
		if len(x.step) > 0 {
			q = append(q, x.step)
		}
		rd := docs(t, must(t, x.c.call("art/read", q, nil)))
		if r.Args["oper"] != "update" || len(rd) != 1 || !reflect.DeepEqual(r.Args["docs"].([]any)[0], any(rd[0])) {
			t.Errorf("%s %v: event %v %v\n read %v", x.who, x.step, r.Args["oper"], r.Args["docs"], rd)
		}
	}

	// Enter and leave through the client's own query.
	hw := dial(t, w.s.WS)
	hid := hw.send("art/watch", []any{map[string]any{"tags": "warm"}}, nil)
	must(t, hw.recv())
	must(t, w.admin.call("art/update", []any{map[string]any{"_id": id}}, map[string]any{"title": map[string]any{"en_AE": "not yet"}}))
	must(t, w.admin.call("art/update", []any{map[string]any{"_id": id}}, map[string]any{"tags": []any{"warm"}}))
	if ev := must(t, hw.recv()); ev.Args["oper"] != "create" || ev.Args["seq"] != float64(1) || ev.Args["call_id"] != hid {
		t.Fatalf("enter: %v", ev.Args)
	}
	must(t, w.admin.call("art/update", []any{map[string]any{"_id": id}}, map[string]any{"tags": []any{"cool"}}))
	// The feed reads after-images after the commit: the enter may come
	// from the first update's event, the second's then being an update
	// with the same state.
	for {
		ev := must(t, hw.recv())
		if ev.Args["oper"] == "delete" {
			if !reflect.DeepEqual(ev.Args["docs"], []any{map[string]any{"_id": id}}) {
				t.Fatalf("leave: %v", ev.Args)
			}
			break
		}
		if d := ev.Args["docs"].([]any)[0].(map[string]any); ev.Args["oper"] != "update" || !reflect.DeepEqual(d["tags"], []any{"warm"}) {
			t.Fatalf("before the leave: %v", ev.Args)
		}
	}
	must(t, w.admin.call("art/update", []any{map[string]any{"_id": id}}, map[string]any{"title": map[string]any{"en_AE": "gone"}}))
	quiet(t, hw, "updates of an art that does not match")
}

// TestVerify14ResumeUnderWrites: while a writer creates 300 notes, the
// watcher drops its connection every few events and resumes on a new one
// with the last seq it got: it gets every note exactly once, in order,
// with seq 1..300 and no gap.
func TestVerify14ResumeUnderWrites(t *testing.T) {
	s := watchAppCfg(t, limp.Config{}, limp.Hooks{})
	const n = 300
	w := dial(t, s.WS)
	must(t, w.call("note/watch", []any{map[string]any{"$attrs": []any{"permalink"}}}, nil))
	// The token, from a created reply.
	w2 := dial(t, s.WS)
	created := must(t, w2.call("note/watch", []any{map[string]any{"$attrs": []any{"permalink"}}}, nil))
	_ = w.ws.CloseNow()
	token := created.Args["resume"].(string)
	w = w2
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	writer := s.Client(t, nil)
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := writer.Call(ctx, "note/create", nil, note(fmt.Sprint("n", i), "published")); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var seq float64
	var got []string
	for cut := 1; len(got) < n; cut++ {
		for range cut % 23 {
			if len(got) == n {
				break
			}
			ev := must(t, w.recv())
			if ev.Args["seq"] != seq+1 {
				t.Fatalf("after seq %v got %v (%v so far)", seq, ev.Args, len(got))
			}
			seq++
			got = append(got, permalinkOf(ev))
		}
		_ = w.ws.CloseNow()
		w = dial(t, s.WS)
		r := must(t, w.call("note/watch", []any{resumeStep(token, seq)}, nil))
		if r.Args["resumed"] != true {
			t.Fatalf("resume at seq %v: %v", seq, r.Args)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		if p != fmt.Sprint("create:n", i) {
			t.Fatalf("event %d is %s", i, p)
		}
	}
	quiet(t, w, "after every note")
}

// TestVerify14SessionExpiry: a watch opened by a session that then
// expires (Config.SessionTTL) shows no more than the connection may read
// after the expiry: a draft created later does not reach it.
func TestVerify14SessionExpiry(t *testing.T) {
	const ttl = 3 * time.Second
	w := v14App(t, limp.Config{SessionTTL: ttl})
	watcher := dial(t, w.s.WS)
	signedIn := time.Now()
	signIn(t, watcher, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	wid := watcher.send("art/watch", nil, nil)
	must(t, watcher.recv())
	admin := dial(t, w.s.WS) // w.admin's session may have expired already
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	must(t, admin.call("art/create", nil, map[string]any{"title": map[string]any{"en_AE": "d0"}, "permalink": "d0", "status": "draft"}))
	if ev := must(t, watcher.recv()); ev.Args["oper"] != "create" {
		t.Fatalf("before the expiry: %v", ev.Args)
	}
	time.Sleep(time.Until(signedIn.Add(ttl + time.Second)))
	admin = dial(t, w.s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	must(t, admin.call("art/create", nil, map[string]any{"title": map[string]any{"en_AE": "d1"}, "permalink": "d1", "status": "draft"}))
	pub := docs(t, must(t, admin.call("art/create", nil, map[string]any{"title": map[string]any{"en_AE": "p"}, "permalink": "p", "status": "published"})))[0]["_id"]
	for {
		r := watcher.recv()
		if r.Args["call_id"] != wid {
			t.Fatalf("unexpected reply %v", r)
		}
		if r.Status != 200 {
			wantErr(t, r, 403, limp.CodeSessionExpired) // the watch ended with the session
			return
		}
		d := r.Args["docs"].([]any)[0].(map[string]any)
		if d["status"] != "published" {
			t.Fatalf("the expired session's watch got a draft: %v", d)
		}
		if d["_id"] == pub {
			return
		}
	}
}

// TestVerify14ResumeAttached: a client that reconnects before the server
// noticed its old connection end (that connection still open, silent)
// resumes its watch on the new one: resumed, the events after its seq,
// then live ones there, none more on the old connection. Another user
// with the token gets a fresh watch and leaves the watch where it is.
func TestVerify14ResumeAttached(t *testing.T) {
	w := v14App(t, limp.Config{})
	old := dial(t, w.s.WS)
	sess := signIn(t, old, "alice@example.com", "pw")
	oid := old.send("art/watch", []any{map[string]any{"$attrs": []any{"permalink"}}}, nil)
	token := must(t, old.recv()).Args["resume"].(string)
	w.art(t, "p1", "published", nil)
	if ev := must(t, old.recv()); ev.Args["seq"] != float64(1) {
		t.Fatalf("first event: %v", ev.Args)
	}
	w.art(t, "p2", "published", nil)
	time.Sleep(100 * time.Millisecond) // sent to the old connection, unread

	// Bob, with the token: a fresh watch; alice's stays on its connection.
	if r := must(t, w.bob.call("art/watch", []any{resumeStep(token, 1)}, nil)); r.Args["resumed"] != false || r.Args["snapshot"] != true {
		t.Fatalf("bob resumed alice's watch: %v", r.Args)
	}
	if ev := must(t, old.recv()); ev.Args["call_id"] != oid || ev.Args["seq"] != float64(2) {
		t.Fatalf("alice's old connection, second event: %v", ev.Args)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := w.s.Client(t, nil)
	if _, err := c.Reauth(ctx, sess["_id"].(string), sess["token"].(string)); err != nil {
		t.Fatal(err)
	}
	nw, err := c.Watch(ctx, "art/watch", []any{resumeStep(token, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if nw.Created.Args["resumed"] != true {
		t.Fatalf("resume of a watch still attached to the old connection: %v", nw.Created.Args)
	}
	e, err := nw.Next(ctx)
	if err != nil || fmt.Sprint(e.Args["seq"]) != "2" || e.Args["docs"].([]any)[0].(map[string]any)["permalink"] != "p2" {
		t.Fatalf("replayed: %v %v", e, err)
	}
	w.art(t, "p3", "published", nil)
	if e, err = nw.Next(ctx); err != nil || fmt.Sprint(e.Args["seq"]) != "3" {
		t.Fatalf("live after the resume: %v %v", e, err)
	}
	quiet(t, old, "the old connection after the resume elsewhere")
	wantErr(t, old.call("watch/delete", []any{map[string]any{"watch": oid}}, nil), 400, limp.CodeInvalidWatch)
	// Closing the old connection does not end the resumed watch.
	_ = old.ws.CloseNow()
	time.Sleep(100 * time.Millisecond)
	w.art(t, "p4", "published", nil)
	if e, err = nw.Next(ctx); err != nil || fmt.Sprint(e.Args["seq"]) != "4" {
		t.Fatalf("after the old connection closed: %v %v", e, err)
	}
}

// TestVerify14MatchAgreesWithStore: for tricky queries, ADMIN's watch
// knows which arts match from a store read; one update touching every art
// is then matched in process: an art the evaluator and the store disagree
// on arrives as create (store no, evaluator yes) or delete (the
// reverse); every event must be an update, and exactly the arts read
// returns for the query must arrive.
func TestVerify14MatchAgreesWithStore(t *testing.T) {
	w := v14App(t, limp.Config{})
	vid := docs(t, must(t, w.bob.call("vault/create", nil, map[string]any{"name": "v"})))[0]["_id"]
	arts := []map[string]any{
		{"permalink": "a.b", "tags": []any{"a", "b"}, "title": map[string]any{"en_AE": "Alpha"}},
		{"permalink": "Pé", "tags": []any{"b", "a"}, "title": map[string]any{"en_AE": "zeta", "ar_AE": "ز"}},
		{"permalink": "p-3", "tags": []any{}, "title": map[string]any{"en_AE": "m"}, "vault": vid},
		{"permalink": "axb", "tags": []any{"A"}, "title": map[string]any{"en_AE": "M"}, "status": "published"},
		{"permalink": "q(", "tags": []any{"a"}, "title": map[string]any{"en_AE": ""}, "status": "published", "vault": vid},
	}
	var ids []any
	for i, d := range arts {
		if d["status"] == nil {
			d["status"] = "draft"
		}
		ids = append(ids, w.art(t, fmt.Sprint(d["permalink"]), d["status"].(string), d))
		_ = i
	}
	queries := []any{
		map[string]any{"tags": "a"},
		map[string]any{"tags": []any{"a", "b"}},
		map[string]any{"tags": []any{}},
		map[string]any{"tags": nil},
		map[string]any{"tags": map[string]any{"$in": []any{"A", nil}}},
		map[string]any{"tags": map[string]any{"$nin": []any{"a"}}},
		map[string]any{"tags": map[string]any{"$all": []any{"a", "b"}}},
		map[string]any{"tags": map[string]any{"$ne": "a"}},
		map[string]any{"tags.0": "a"},
		map[string]any{"permalink": map[string]any{"$regex": "^p"}},
		map[string]any{"permalink": map[string]any{"$regex": "é"}},
		map[string]any{"permalink": map[string]any{"$regex": "a.b"}},
		map[string]any{"permalink": map[string]any{"$regex": `q\(`}},
		map[string]any{"permalink": map[string]any{"$bet": []any{"a", "p"}}},
		map[string]any{"title.en_AE": map[string]any{"$gt": "M"}},
		map[string]any{"title.en_AE": map[string]any{"$gte": ""}},
		map[string]any{"title.ar_AE": nil},
		map[string]any{"title.fr_FR": nil},
		map[string]any{"vault": nil},
		map[string]any{"vault": vid},
		map[string]any{"vault": map[string]any{"$ne": nil}},
		map[string]any{"vault.name": "v"},
		map[string]any{"vault.name": map[string]any{"$ne": "v"}},
		map[string]any{"status": map[string]any{"$ne": "draft"}},
		map[string]any{"create_time": map[string]any{"$gt": "2000-01-01T00:00:00"}},
		map[string]any{"_id": map[string]any{"$in": ids[:2]}},
		[]any{map[string]any{"tags": "A"}, map[string]any{"permalink": "p-3"}},
		map[string]any{"title": map[string]any{"en_AE": "m"}},
	}
	watcher := dial(t, w.s.WS)
	signIn(t, watcher, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	want := map[string]map[any]bool{}
	var order []string
	for _, q := range queries {
		r := watcher.call("art/read", []any{q}, nil)
		if r.Status != 200 {
			t.Logf("query %v refused by read: %d %s", q, r.Status, r.code())
			continue
		}
		id := watcher.send("art/watch", []any{q, map[string]any{"$attrs": []any{"_id"}}}, nil)
		if cr := watcher.recv(); cr.Status != 200 {
			t.Fatalf("watch %v: %v", q, cr)
		}
		set := map[any]bool{}
		for _, d := range docs(t, r) {
			set[d["_id"]] = true
		}
		want[id] = set
		order = append(order, fmt.Sprint(q))
	}
	must(t, w.admin.call("art/update", []any{map[string]any{"_id": map[string]any{"$in": ids}}}, map[string]any{"touch": 1}))
	got := map[string]map[any]bool{}
	n := 0
	for _, s := range want {
		n += len(s)
	}
	for range n {
		ev := must(t, watcher.recv())
		id := ev.Args["call_id"].(string)
		d := ev.Args["docs"].([]any)[0].(map[string]any)
		if ev.Args["oper"] != "update" {
			t.Errorf("watch %s: %s of %v: the evaluator and the store disagree", id, ev.Args["oper"], d["_id"])
		}
		if got[id] == nil {
			got[id] = map[any]bool{}
		}
		got[id][d["_id"]] = true
	}
	for id, s := range want {
		if !reflect.DeepEqual(s, got[id]) && !(len(s) == 0 && got[id] == nil) {
			t.Errorf("watch %s: events for %v, read %v", id, got[id], s)
		}
	}
	quiet(t, watcher, "after the touch")
	t.Logf("%d queries compared", len(order))
}

// TestVerify14PayloadAfterSessionChange: a custom watch handler's
// c.Payload (spec §6.10) still reaches the on-watch hook after the
// connection's session changed (the watch rebuilt its call).
func TestVerify14PayloadAfterSessionChange(t *testing.T) {
	perms := []limp.Perm{{Privilege: "admin"}, {Privilege: "*", QueryMod: limp.M{"status": "published"}}}
	notes := limp.NewModule[Post]("note", limp.Methods{
		"read": {Permissions: perms},
		"live": {Permissions: perms, Watch: true, Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			c.Payload = limp.M{"tag": "from-handler"}
			return c.Watch(ctx)
		}},
		"create": {Permissions: limp.Perms("*")},
	})
	notes.Hooks = limp.Hooks{OnWatch: func(ctx context.Context, c *limp.Call, oper string, doc limp.M) (limp.M, error) {
		doc["tag"] = c.Payload["tag"]
		return doc, nil
	}}
	s := startApp(t, limp.Config{Name: "test", AnonPrivileges: limp.Privileges{"note": {"read", "create"}},
		QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1}, notes)
	w := dial(t, s.WS)
	must(t, w.call("note/live", []any{map[string]any{"$attrs": []any{"permalink"}}}, nil))
	writer := dial(t, s.WS)
	must(t, writer.call("note/create", nil, note("a", "published")))
	if d := must(t, w.recv()).Args["docs"].([]any)[0].(map[string]any); d["tag"] != "from-handler" {
		t.Fatalf("before: %v", d)
	}
	signIn(t, w, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	must(t, writer.call("note/create", nil, note("b", "published")))
	if d := must(t, w.recv()).Args["docs"].([]any)[0].(map[string]any); d["tag"] != "from-handler" {
		t.Fatalf("after the sign-in: %v", d)
	}
}

// TestVerify14HookPanic: an on-watch hook that panics ends that watch
// with a 500 on its call_id; the connection, the other watchers and the
// writes go on.
func TestVerify14HookPanic(t *testing.T) {
	hook := func(ctx context.Context, c *limp.Call, oper string, doc limp.M) (limp.M, error) {
		if c.Session.Anon() && doc["permalink"] == "bang" {
			panic("bang")
		}
		return doc, nil
	}
	s := watchAppCfg(t, limp.Config{}, limp.Hooks{OnWatch: hook})
	w := dial(t, s.WS)
	wid := w.send("note/watch", []any{map[string]any{"$attrs": []any{"permalink"}}}, nil)
	must(t, w.recv())
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	must(t, admin.call("note/watch", []any{map[string]any{"$attrs": []any{"permalink"}}}, nil))
	writer := dial(t, s.WS)
	must(t, writer.call("note/create", nil, note("bang", "published")))
	r := w.recv()
	if r.Status != 500 || r.Args["call_id"] != wid {
		t.Fatalf("panicking hook: %+v", r)
	}
	if strings.Contains(r.Msg, "bang") || strings.Contains(r.Msg, "goroutine") {
		t.Errorf("the 500 leaks the panic: %q", r.Msg)
	}
	must(t, writer.call("note/create", nil, note("after", "published")))
	quiet(t, w, "after the panic")
	for _, want := range []string{"create:bang", "create:after"} {
		if ev := must(t, admin.recv()); permalinkOf(ev) != want {
			t.Fatalf("admin's watch: %v, want %s", ev.Args, want)
		}
	}
}
