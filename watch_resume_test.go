package limp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// watchAppCfg is watchApp with the watch fields of cfg.
func watchAppCfg(t testing.TB, cfg limp.Config, hooks limp.Hooks) *limptest.Server {
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
	notes.Hooks = hooks
	cfg.Name = "test"
	cfg.AnonPrivileges = limp.Privileges{"note": {"read"}}
	cfg.QuotaIPMin, cfg.QuotaAnonMin, cfg.QuotaAuthMin = -1, -1, -1
	return startApp(t, cfg, notes)
}

func note(p, status string) map[string]any {
	return map[string]any{"title": map[string]any{"en_AE": p}, "permalink": p, "status": status}
}

func resumeStep(token any, seq any) map[string]any {
	return map[string]any{"$resume": map[string]any{"watch": token, "seq": seq}}
}

// permalinkOf returns the permalink of an event's doc (or its _id for a
// delete).
func permalinkOf(r reply) string {
	d := r.Args["docs"].([]any)[0].(map[string]any)
	if p, ok := d["permalink"].(string); ok {
		return fmt.Sprint(r.Args["oper"], ":", p)
	}
	return fmt.Sprint(r.Args["oper"], ":", d["_id"])
}

// TestWatchResumeWire: raw frames (issue 14 item 6). Events carry args.seq;
// a watch outlives its connection for the retention window and keeps
// matching; a new connection that re-calls the watch with $resume gets the
// events after its seq exactly (no gap, no duplicate) on its new call_id,
// then live ones; resuming twice works; the sequence continues.
func TestWatchResumeWire(t *testing.T) {
	s := watchAppCfg(t, limp.Config{}, limp.Hooks{})
	w := dial(t, s.WS)
	id := w.send("note/watch", []any{map[string]any{"$attrs": []any{"permalink"}}}, nil)
	created := must(t, w.recv())
	token, _ := created.Args["resume"].(string)
	if token == "" {
		t.Fatalf("created reply has no args.resume: %v", created.Args)
	}
	writer := dial(t, s.WS)
	must(t, writer.call("note/create", nil, note("p1", "published")))
	ev := must(t, w.recv())
	if ev.Args["seq"] != float64(1) || ev.Args["call_id"] != id || permalinkOf(ev) != "create:p1" {
		t.Fatalf("first event: %v", ev.Args)
	}
	_ = w.ws.CloseNow()
	// Written while away: two enter, a draft does not, p1 changes.
	must(t, writer.call("note/create", nil, note("p2", "published")))
	must(t, writer.call("note/create", nil, note("d1", "draft")))
	must(t, writer.call("note/create", nil, note("p3", "published")))
	p1 := docs(t, must(t, writer.call("note/read", []any{map[string]any{"permalink": "p1"}}, nil)))[0]["_id"]
	must(t, writer.call("note/update", []any{map[string]any{"_id": p1}}, map[string]any{"rank": 5}))

	// Wait until the retained watch has taken the four events.
	time.Sleep(200 * time.Millisecond)
	w2 := dial(t, s.WS)
	id2 := w2.send("note/watch", []any{map[string]any{"$attrs": []any{"permalink"}}, resumeStep(token, 1)}, nil)
	r := must(t, w2.recv())
	want := map[string]any{"code": "CORE_WATCH_OK", "watch": id2, "call_id": id2, "resume": token, "resumed": true}
	if r.Msg != "Created watch task." || !reflect.DeepEqual(r.Args, want) {
		t.Fatalf("resumed: %q %v\nwant %v", r.Msg, r.Args, want)
	}
	var got []string
	for i, wantOper := range []string{"create:p2", "create:p3", "update:p1"} {
		ev := must(t, w2.recv())
		if ev.Args["seq"] != float64(i+2) || ev.Args["watch"] != id2 || ev.Args["call_id"] != id2 || permalinkOf(ev) != wantOper {
			t.Fatalf("replayed event %d: %v (so far %v)", i, ev.Args, got)
		}
		got = append(got, permalinkOf(ev))
	}
	// Then live, numbered on.
	must(t, writer.call("note/create", nil, note("p4", "published")))
	ev = must(t, w2.recv())
	if ev.Args["seq"] != float64(5) || permalinkOf(ev) != "create:p4" {
		t.Fatalf("live after resume: %v", ev.Args)
	}
	// Nothing else was queued: the next reply is the heartbeat's.
	if r := w2.call("heart/beat", nil, nil); r.code() != "CORE_HEARTBEAT_OK" {
		t.Fatalf("after the replay: %v", r)
	}

	// A second loss; resume from seq 4 (p4 never received): p4 again, once.
	_ = w2.ws.CloseNow()
	time.Sleep(100 * time.Millisecond)
	w3 := dial(t, s.WS)
	id3 := w3.send("note/watch", []any{resumeStep(token, 4)}, nil)
	if r := must(t, w3.recv()); r.Args["resumed"] != true {
		t.Fatalf("second resume: %v", r.Args)
	}
	ev = must(t, w3.recv())
	if ev.Args["seq"] != float64(5) || ev.Args["call_id"] != id3 || permalinkOf(ev) != "create:p4" {
		t.Fatalf("second replay: %v", ev.Args)
	}
	// watch/delete ends it for good: a resume then gets a snapshot.
	must(t, w3.call("watch/delete", []any{map[string]any{"watch": id3}}, nil))
	_ = w3.ws.CloseNow()
	w4 := dial(t, s.WS)
	r = must(t, w4.call("note/watch", []any{resumeStep(token, 5)}, nil))
	if r.Args["resumed"] != false || r.Args["snapshot"] != true {
		t.Fatalf("resume of a deleted watch: %v", r.Args)
	}
}

// TestWatchResumeRefused: every case that cannot resume starts a fresh
// watch whose created reply is marked resumed false, snapshot true, with
// the documents matching now for this caller; a malformed $resume is 400.
func TestWatchResumeRefused(t *testing.T) {
	s := watchAppCfg(t, limp.Config{WatchRetention: 300 * time.Millisecond, WatchRetainEvents: 3}, limp.Hooks{})
	writer := dial(t, s.WS)
	must(t, writer.call("note/create", nil, note("a", "published")))
	must(t, writer.call("note/create", nil, note("draft", "draft")))
	open := func() (*wsClient, string) {
		w := dial(t, s.WS)
		r := must(t, w.call("note/watch", nil, nil))
		return w, r.Args["resume"].(string)
	}
	snapshot := func(name string, r reply, wantCount int) {
		t.Helper()
		if r.Msg != "Created watch task." || r.Args["resumed"] != false || r.Args["snapshot"] != true ||
			r.Args["count"] != float64(wantCount) || len(r.Args["docs"].([]any)) != wantCount {
			t.Fatalf("%s: %v", name, r.Args)
		}
		for _, d := range r.Args["docs"].([]any) {
			if d.(map[string]any)["status"] != "published" {
				t.Fatalf("%s: the anonymous snapshot holds a draft: %v", name, d)
			}
		}
		if r.Args["resume"] == "" {
			t.Fatalf("%s: no new resume token", name)
		}
	}

	// Each check on a connection of its own: the fresh watches get events.
	var w *wsClient
	fresh := func() *wsClient { w = dial(t, s.WS); return w }
	// Unknown token.
	snapshot("unknown", must(t, fresh().call("note/watch", []any{resumeStep("00000000000000000000000000000000", 0)}, nil)), 1)

	// Past the window.
	old, tok := open()
	_ = old.ws.CloseNow()
	time.Sleep(800 * time.Millisecond)
	snapshot("expired", must(t, fresh().call("note/watch", []any{resumeStep(tok, 0)}, nil)), 1)

	// A seq the watch never sent.
	old, tok = open()
	_ = old.ws.CloseNow()
	time.Sleep(50 * time.Millisecond)
	snapshot("seq ahead", must(t, fresh().call("note/watch", []any{resumeStep(tok, 7)}, nil)), 1)

	// More events while away than the watch may keep (3): it ended.
	old, tok = open()
	_ = old.ws.CloseNow()
	time.Sleep(50 * time.Millisecond)
	for i := range 4 {
		must(t, writer.call("note/create", nil, note(fmt.Sprint("o", i), "published")))
	}
	time.Sleep(100 * time.Millisecond)
	snapshot("overflowed", must(t, fresh().call("note/watch", []any{resumeStep(tok, 0)}, nil)), 5)

	// Another method of the module does not resume it.
	old, tok = open()
	_ = old.ws.CloseNow()
	time.Sleep(50 * time.Millisecond)
	snapshot("other method", must(t, fresh().call("note/live", []any{resumeStep(tok, 0)}, nil)), 5)

	// Malformed.
	fresh()
	for _, bad := range []any{"x", map[string]any{"watch": tok}, map[string]any{"watch": 1, "seq": 0},
		map[string]any{"watch": tok, "seq": -1}, map[string]any{"watch": tok, "seq": 1.5}, map[string]any{"watch": tok, "seq": "1"}} {
		wantErr(t, w.call("note/watch", []any{map[string]any{"$resume": bad}}, nil), 400, limp.CodeWatchInvalidResume)
	}
	// The connection still works.
	if r := w.call("heart/beat", nil, nil); r.code() != "CORE_HEARTBEAT_OK" {
		t.Fatalf("after bad resumes: %v", r)
	}
}

// TestWatchResumeOtherUser: a retained watch of ADMIN cannot be resumed by
// another session, even with its token: the other caller gets a fresh
// watch with its own permissions (no draft), and the admin's watch is left
// untouched: ADMIN still resumes it, with every event.
func TestWatchResumeOtherUser(t *testing.T) {
	s := watchAppCfg(t, limp.Config{}, limp.Hooks{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	proxy := newCutProxy(t, s.WS)
	admin := dialVia(t, s, proxy, nil)
	sess, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	aw, err := admin.Watch(ctx, "note/watch", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	token := aw.Created.Args["resume"].(string)
	proxy.cut()
	writer := s.Client(t, nil)
	if _, err := writer.Call(ctx, "note/create", nil, note("secret", "draft")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)

	// An anonymous caller and a second admin session, both with the token.
	anon := s.Client(t, nil)
	r, err := anon.Call(ctx, "note/watch", []any{resumeStep(token, 0)}, nil)
	if err != nil || r.Args["resumed"] != false || r.Args["snapshot"] != true || r.Args["count"] != json.Number("0") {
		t.Fatalf("anon resumed the admin's watch: %v %v", r, err)
	}
	other := s.Client(t, nil)
	if _, err := other.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	r, err = other.Call(ctx, "note/watch", []any{resumeStep(token, 0)}, nil)
	if err != nil || r.Args["resumed"] != false {
		t.Fatalf("another session resumed the admin's watch: %v %v", r, err)
	}
	if strings.Contains(fmt.Sprint(r.Args["resume"]), token) {
		t.Fatal("the other session got the admin's token back")
	}

	// ADMIN, on a new connection with the same session, resumes it.
	back := s.Client(t, nil)
	if _, err := back.Reauth(ctx, sess.ID, sess.Token); err != nil {
		t.Fatal(err)
	}
	bw, err := back.Watch(ctx, "note/watch", []any{resumeStep(token, 0)}, nil)
	if err != nil || bw.Created.Args["resumed"] != true {
		t.Fatalf("admin resume: %v %v", bw, err)
	}
	e, err := bw.Next(ctx)
	if err != nil || e.Args["seq"] != json.Number("1") || e.Args["docs"].([]any)[0].(map[string]any)["permalink"] != "secret" {
		t.Fatalf("admin's replayed event: %v %v", e, err)
	}
}

// TestClientWatchResume: end to end through the Go client with
// Options.Reconnect: the connection is cut (a proxy drops it), documents
// are written while the client is away, the client reconnects, signs in
// again and resumes its watch by itself; Next then returns exactly the
// events after the last one received: no gap, no duplicate; then live.
func TestClientWatchResume(t *testing.T) {
	s := watchAppCfg(t, limp.Config{}, limp.Hooks{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	proxy := newCutProxy(t, s.WS)
	c := dialVia(t, s, proxy, &client.Reconnect{MinDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond})
	if _, err := c.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(ctx, "note/watch", []any{map[string]any{"$attrs": []any{"permalink"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	writer := s.Client(t, nil)
	create := func(p string) {
		t.Helper()
		if _, err := writer.Call(ctx, "note/create", nil, note(p, "draft")); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	next := func() {
		t.Helper()
		e, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("next (after %v): %v", got, err)
		}
		got = append(got, fmt.Sprint(e.Args["seq"], ":", e.Args["docs"].([]any)[0].(map[string]any)["permalink"]))
	}
	create("n1")
	next()
	for round := range 3 {
		proxy.cut()
		for i := range 5 {
			create(fmt.Sprintf("r%d-%d", round, i))
		}
		for range 5 {
			next()
		}
	}
	create("last")
	next()
	var want []string
	want = append(want, "1:n1")
	seq := 2
	for round := range 3 {
		for i := range 5 {
			want = append(want, fmt.Sprintf("%d:r%d-%d", seq, round, i))
			seq++
		}
	}
	want = append(want, fmt.Sprintf("%d:last", seq))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events across reconnects:\n got %v\nwant %v", got, want)
	}
	if proxy.accepted() < 4 {
		t.Fatalf("the client connected %d times, want 4", proxy.accepted())
	}
	// The client works again (calls, session: the admin reads drafts).
	r, err := c.Call(ctx, "note/read", []any{map[string]any{"permalink": "last"}}, nil)
	if err != nil || r.Args["count"] != json.Number("1") {
		t.Fatalf("read after reconnects: %v %v", r, err)
	}
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// dialVia connects a client to s through proxy.
func dialVia(t *testing.T, s *limptest.Server, p *cutProxy, rc *client.Reconnect) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws://"+p.addr+"/ws", &client.Options{AnonToken: s.App.Config().AnonToken, Reconnect: rc, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// cutProxy is a loopback TCP proxy whose connections a test can drop.
type cutProxy struct {
	addr string
	ln   net.Listener
	mu   sync.Mutex
	open []net.Conn
	n    int
	wg   sync.WaitGroup
}

func newCutProxy(t *testing.T, wsURL string) *cutProxy {
	t.Helper()
	target := strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws://"), "/ws")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{addr: ln.Addr().String(), ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.open = append(p.open, in, out)
			p.n++
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(out, in); out.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

// cut drops every connection through the proxy.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}

func (p *cutProxy) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// TestClientReconnectBounds: while the client reconnects, calls fail at
// once with ErrClosed; when the server stays away, the client gives up
// after Reconnect.MaxAttempts failed redials (Done, Err), and Close
// during the backoff returns at once.
func TestClientReconnectBounds(t *testing.T) {
	s := watchAppCfg(t, limp.Config{}, limp.Hooks{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	proxy := newCutProxy(t, s.WS)
	c := dialVia(t, s, proxy, &client.Reconnect{MinDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond, MaxAttempts: 3})
	w, err := c.Watch(ctx, "note/watch", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	proxy.ln.Close() // no redial can succeed
	proxy.cut()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the client did not give up")
	}
	if err := c.Err(); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Err = %v, want ErrClosed", err)
	}
	if _, err := w.Next(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("watch after giving up: %v", err)
	}

	proxy2 := newCutProxy(t, s.WS)
	c2 := dialVia(t, s, proxy2, &client.Reconnect{MinDelay: time.Hour, MaxDelay: time.Hour})
	proxy2.cut()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c2.Call(ctx, "heart/beat", nil, nil)
		if errors.Is(err, client.ErrClosed) && strings.Contains(err.Error(), "reconnecting") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("call while reconnecting: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	_ = c2.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close during a backoff took %v", d)
	}
}

// TestWatchRetainedRevoked: a retained watch keeps the permission checks:
// once its session is deleted, the next change ends it (nothing is kept
// for a resume), and the token then gives a fresh snapshot.
func TestWatchRetainedRevoked(t *testing.T) {
	s := watchAppCfg(t, limp.Config{}, limp.Hooks{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	proxy := newCutProxy(t, s.WS)
	admin := dialVia(t, s, proxy, nil)
	sess, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	aw, err := admin.Watch(ctx, "note/watch", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	token := aw.Created.Args["resume"].(string)
	proxy.cut()
	deadline := time.Now().Add(10 * time.Second)
	for limp.RetainedWatchCount(s.App) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the watch was not retained")
		}
		time.Sleep(5 * time.Millisecond)
	}
	other := s.Client(t, nil)
	if _, err := other.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Call(ctx, "session/delete", []any{map[string]any{"_id": sess.ID}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Call(ctx, "note/create", nil, note("after-revoke", "draft")); err != nil {
		t.Fatal(err)
	}
	for limp.RetainedWatchCount(s.App) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the revoked session's watch is still retained")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r, err := other.Call(ctx, "note/watch", []any{resumeStep(token, 0)}, nil)
	if err != nil || r.Args["resumed"] != false {
		t.Fatalf("resume after revocation: %v %v", r, err)
	}
}
