package limp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/limp-go/limp"
)

func TestHeartbeatAndClose(t *testing.T) {
	s := testApp(t, limp.Config{})
	c := dial(t, s.WS)
	r := must(t, c.call("heart/beat", nil, nil))
	if r.Msg != "Heartbeat received." || r.code() != limp.CodeHeartbeatOK {
		t.Fatalf("heartbeat = %+v", r)
	}
	c.send("conn/close", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := c.ws.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after conn/close read err = %v, want normal closure", err)
	}
}

func TestCRUD(t *testing.T) {
	s := testApp(t, limp.Config{})
	c := dial(t, s.WS)

	r := must(t, c.call("post/read", nil, nil))
	if r.Msg != "Found 0 docs." || r.Args["total"] != 0.0 || r.Args["count"] != 0.0 || len(docs(t, r)) != 0 {
		t.Fatalf("empty read = %+v", r)
	}
	if g, ok := r.Args["groups"].(map[string]any); !ok || len(g) != 0 {
		t.Fatalf("groups = %#v, want {}", r.Args["groups"])
	}

	var ids []string
	for i, p := range []string{"one", "two", "three"} {
		r := must(t, c.call("post/create", nil, map[string]any{
			"title": map[string]any{"en_AE": "Post " + p}, "permalink": p, "rank": i,
		}))
		if r.Msg != "Created 1 docs." || r.Args["count"] != 1.0 {
			t.Fatalf("create = %+v", r)
		}
		d := docs(t, r)
		if len(d) != 1 || len(d[0]) != 1 {
			t.Fatalf("create docs = %v, want [{_id}]", d)
		}
		ids = append(ids, d[0]["_id"].(string))
	}

	// Newest first by default.
	r = must(t, c.call("post/read", nil, nil))
	got := docs(t, r)
	if len(got) != 3 || got[0]["_id"] != ids[2] || got[2]["_id"] != ids[0] {
		t.Fatalf("default order = %v, want newest first", got)
	}
	d := got[2]
	if d["status"] != "draft" || d["rank"] != 0.0 || d["permalink"] != "one" {
		t.Fatalf("stored doc = %v", d)
	}
	title := d["title"].(map[string]any)
	if title["en_AE"] != "Post one" || title["ar_AE"] != "Post one" {
		t.Fatalf("LOCALE not completed to every locale: %v", title)
	}
	if d["user"] != "f00000000000000000000011" || d["create_time"] == nil {
		t.Fatalf("auto attrs = user %v create_time %v", d["user"], d["create_time"])
	}

	// Equality, $sort, $skip, $limit.
	r = must(t, c.call("post/read", []any{map[string]any{"$sort": map[string]any{"rank": 1}, "$skip": 1, "$limit": 1}}, nil))
	if got := docs(t, r); r.Args["total"] != 3.0 || r.Args["count"] != 1.0 || got[0]["permalink"] != "two" {
		t.Fatalf("sort/skip/limit = %+v", r)
	}
	r = must(t, c.call("post/read", []any{map[string]any{"permalink": "three"}}, nil))
	if got := docs(t, r); len(got) != 1 || got[0]["_id"] != ids[2] {
		t.Fatalf("equality read = %v", got)
	}
	r = must(t, c.call("post/read", []any{map[string]any{"_id": ids[1]}}, nil))
	if got := docs(t, r); len(got) != 1 || got[0]["permalink"] != "two" {
		t.Fatalf("read by _id = %v", got)
	}

	// Unique attrs.
	r = c.call("post/create", nil, map[string]any{"title": map[string]any{"en_AE": "x"}, "permalink": "one"})
	wantErr(t, r, 400, "TEST_POST_DUPLICATE_DOC")
	if !strings.Contains(r.Msg, "'permalink'") {
		t.Fatalf("duplicate msg %q does not name the attr", r.Msg)
	}

	// Update.
	r = must(t, c.call("post/update", []any{map[string]any{"_id": ids[0]}}, map[string]any{"status": "published", "rank": 10}))
	if r.Msg != "Updated 1 docs." || r.Args["count"] != 1.0 {
		t.Fatalf("update = %+v", r)
	}
	r = must(t, c.call("post/read", []any{map[string]any{"status": "published"}}, nil))
	if got := docs(t, r); len(got) != 1 || got[0]["rank"] != 10.0 {
		t.Fatalf("after update = %v", got)
	}
	r = c.call("post/update", []any{map[string]any{"_id": ids[0]}}, map[string]any{"status": "bogus"})
	wantErr(t, r, 400, "TEST_POST_INVALID_ATTR")
	r = c.call("post/update", []any{map[string]any{"_id": ids[0]}}, map[string]any{"permalink": "two"})
	wantErr(t, r, 400, "TEST_POST_DUPLICATE_DOC")
	r = c.call("post/update", nil, map[string]any{"rank": 1})
	wantErr(t, r, 400, "TEST_POST_INVALID_QUERY")

	// Delete.
	r = must(t, c.call("post/delete", []any{map[string]any{"_id": ids[1]}}, nil))
	if r.Msg != "Deleted 1 docs." {
		t.Fatalf("delete = %+v", r)
	}
	r = must(t, c.call("post/read", nil, nil))
	if r.Args["total"] != 2.0 {
		t.Fatalf("after delete total = %v", r.Args["total"])
	}
	// The deleted permalink is free again.
	must(t, c.call("post/create", nil, map[string]any{"title": map[string]any{"en_AE": "again"}, "permalink": "two"}))
}

func TestCreateRejects(t *testing.T) {
	s := testApp(t, limp.Config{})
	c := dial(t, s.WS)
	cases := []struct {
		name string
		doc  map[string]any
		code string
	}{
		{"missing", map[string]any{"permalink": "p"}, "TEST_POST_MISSING_ATTR"},
		{"wrong kind", map[string]any{"title": map[string]any{"en_AE": "t"}, "permalink": 5}, "TEST_POST_INVALID_ATTR"},
		{"unknown attr", map[string]any{"title": map[string]any{"en_AE": "t"}, "permalink": "p", "bogus": 1}, "TEST_POST_INVALID_ATTR"},
		{"client _id", map[string]any{"_id": "f00000000000000000000099", "title": map[string]any{"en_AE": "t"}, "permalink": "p"}, "TEST_POST_INVALID_ATTR"},
		{"float for int", map[string]any{"title": map[string]any{"en_AE": "t"}, "permalink": "p", "rank": 1.5}, "TEST_POST_INVALID_ATTR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.call("post/create", nil, tc.doc)
			if r.Status != 400 || !strings.HasPrefix(r.code(), "TEST_POST_") {
				t.Fatalf("got %d %s %q, want 400 %s", r.Status, r.code(), r.Msg, tc.code)
			}
			if r.code() != tc.code && !(tc.code == "TEST_POST_INVALID_ATTR" && r.code() == "TEST_POST_CONVERT_INVALID_ATTR") {
				t.Fatalf("code %s (%q), want %s", r.code(), r.Msg, tc.code)
			}
		})
	}
	r := must(t, c.call("post/read", nil, nil))
	if r.Args["total"] != 0.0 {
		t.Fatalf("a rejected create stored something: %v", r.Args)
	}
}

func TestBadFrames(t *testing.T) {
	s := testApp(t, limp.Config{})
	c := dial(t, s.WS)
	now := time.Now().Unix()
	payload := func(endpoint string) map[string]any {
		return map[string]any{"call_id": "x", "endpoint": endpoint, "query": []any{}, "doc": map[string]any{}, "iat": now, "exp": now + 60}
	}
	frame := func(tok string) string {
		b, _ := json.Marshal(map[string]any{"token": tok, "call_id": "outer"})
		return string(b)
	}
	noneTok := func() string {
		b, _ := json.Marshal(payload("post/read"))
		return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + strings.TrimRight(b64(b), "=") + "."
	}
	hs512, err := jws.Sign(mustJSON(payload("post/read")), jws.WithKey(jwa.HS512(), []byte(limp.DefaultAnonToken)))
	if err != nil {
		t.Fatal(err)
	}
	expired := payload("post/read")
	expired["exp"] = now - 10
	future := payload("post/read")
	future["nbf"] = now + 3600
	withAud := payload("post/read")
	withAud["aud"] = "x"
	noEndpoint := payload("")
	delete(noEndpoint, "endpoint")

	cases := []struct {
		name   string
		data   string
		status int
		code   string
		callID any
	}{
		{"not json", "hello", 403, limp.CodeInvalidToken, nil},
		{"json array", "[1,2]", 403, limp.CodeInvalidToken, nil},
		{"no token", `{"call_id":"outer"}`, 403, limp.CodeInvalidToken, "outer"},
		{"token not a jwt", frame("abc"), 403, limp.CodeInvalidToken, "outer"},
		{"wrong key", frame(sign(t, payload("post/read"), "other key")), 403, limp.CodeInvalidToken, "outer"},
		{"alg none", frame(noneTok()), 403, limp.CodeInvalidToken, "outer"},
		{"alg HS512", frame(string(hs512)), 403, limp.CodeInvalidToken, "outer"},
		{"expired", frame(sign(t, expired, limp.DefaultAnonToken)), 403, limp.CodeInvalidToken, "outer"},
		{"not yet valid", frame(sign(t, future, limp.DefaultAnonToken)), 403, limp.CodeInvalidToken, "outer"},
		{"audience", frame(sign(t, withAud, limp.DefaultAnonToken)), 403, limp.CodeInvalidToken, "outer"},
		{"no endpoint", frame(sign(t, noEndpoint, limp.DefaultAnonToken)), 400, limp.CodeNoEndpoint, "x"},
		{"bad path", frame(sign(t, payload("post"), limp.DefaultAnonToken)), 400, limp.CodeInvalidPath, "x"},
		{"bad path 3", frame(sign(t, payload("a/b/c"), limp.DefaultAnonToken)), 400, limp.CodeInvalidPath, "x"},
		{"unknown module", frame(sign(t, payload("nope/read"), limp.DefaultAnonToken)), 400, limp.CodeInvalidModule, "x"},
		{"unknown method", frame(sign(t, payload("post/nope"), limp.DefaultAnonToken)), 400, limp.CodeInvalidMethod, "x"},
		{"get method", frame(sign(t, payload("ping/get"), limp.DefaultAnonToken)), 400, limp.CodeGetMethod, "x"},
		{"query not a list", frame(sign(t, map[string]any{"call_id": "x", "endpoint": "post/read", "query": "x"}, limp.DefaultAnonToken)), 400, "CORE_REQ_INVALID_QUERY", "x"},
		{"panic in handler", frame(sign(t, payload("ping/panic"), limp.DefaultAnonToken)), 500, limp.CodeServerError, "x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.sendRaw(tc.data)
			r := c.recv()
			if r.Status != tc.status || r.code() != tc.code {
				t.Fatalf("got %d %s %q, want %d %s", r.Status, r.code(), r.Msg, tc.status, tc.code)
			}
			if r.Args["call_id"] != tc.callID {
				t.Fatalf("call_id = %v, want %v", r.Args["call_id"], tc.callID)
			}
		})
	}
	// The connection still works.
	must(t, c.call("heart/beat", nil, nil))
}

func TestOversizeFrameCloses1009(t *testing.T) {
	s := testApp(t, limp.Config{MaxFrameSize: 1 << 10})
	c := dial(t, s.WS)
	c.sendRaw(`{"token":"` + strings.Repeat("a", 4<<10) + `"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := c.ws.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("read err = %v, want close 1009", err)
	}
	// The server keeps serving others.
	must(t, dial(t, s.WS).call("heart/beat", nil, nil))
}

func TestManyCallsAtOnce(t *testing.T) {
	s := testApp(t, limp.Config{CallsInFlight: 8})
	c := dial(t, s.WS)
	const n = 10000
	var wg sync.WaitGroup
	wg.Add(1)
	seen := make(map[any]bool, n)
	go func() {
		defer wg.Done()
		for range n {
			r := c.recv()
			if r.Status != 200 {
				t.Errorf("reply %+v", r)
				return
			}
			seen[r.Args["call_id"]] = true
		}
	}()
	for i := range n {
		c.send("ping/echo", nil, map[string]any{"i": i})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("got %d distinct replies, want %d", len(seen), n)
	}
}

func TestConcurrentCallsOverlap(t *testing.T) {
	s := testApp(t, limp.Config{})
	c := dial(t, s.WS)
	for range 4 {
		c.send("ping/barrier", nil, nil)
	}
	for range 4 {
		must(t, c.recv())
	}
}

func TestDisconnectMidCall(t *testing.T) {
	s := testApp(t, limp.Config{})
	c := dial(t, s.WS)
	c.send("ping/slow", nil, nil)
	_ = c.ws.CloseNow()
	// The app keeps serving, and shuts down cleanly (limptest checks).
	must(t, dial(t, s.WS).call("heart/beat", nil, nil))
}

func TestIdleTimeout(t *testing.T) {
	s := testApp(t, limp.Config{ConnTimeout: 150 * time.Millisecond})
	c := dial(t, s.WS)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := c.ws.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("idle connection: read err = %v, want normal closure", err)
	}
}

func TestConnVerify(t *testing.T) {
	s := testApp(t, limp.Config{ClientApps: map[string]limp.ClientApp{
		"web":    {Name: "Web", Type: "web", Hosts: []string{"app.example.com"}},
		"mobile": {Name: "Mobile", Type: "android"},
	}})
	// Verified mobile app.
	c := dial(t, s.WS)
	r := must(t, c.call("conn/verify", nil, map[string]any{"app": "mobile"}))
	if r.code() != limp.CodeConnOK {
		t.Fatalf("verify = %+v", r)
	}
	must(t, c.call("heart/beat", nil, nil))

	// A call before verify is refused and the connection closed.
	c = dial(t, s.WS)
	r = c.call("heart/beat", nil, nil)
	wantErr(t, r, 1008, limp.CodeNoVerify)

	// Unknown app.
	c = dial(t, s.WS)
	wantErr(t, c.call("conn/verify", nil, map[string]any{"app": "nope"}), 1008, limp.CodeNoVerify)

	// Web app from the wrong origin.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.WS, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	c = &wsClient{t: t, ws: ws, key: limp.DefaultAnonToken}
	c.recv()
	wantErr(t, c.call("conn/verify", nil, map[string]any{"app": "web"}), 1008, limp.CodeNoVerify)
	_ = ws.CloseNow()
}

func TestHTTP(t *testing.T) {
	s := testApp(t, limp.Config{})
	get := func(path string) (int, reply) {
		t.Helper()
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r reply
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode, r
	}
	if code, r := get("/"); code != 200 || r.Msg != "Welcome to LIMP!" {
		t.Fatalf("GET / = %d %+v", code, r)
	}
	if code, r := get("/ping/get/42"); code != 200 || fmt.Sprint(r.Args["n"]) != "[42]" {
		t.Fatalf("GET /ping/get/42 = %d %+v", code, r)
	}
	if code, r := get("/ping/get/x"); code != 400 {
		t.Fatalf("GET /ping/get/x = %d %+v, want 400", code, r)
	}
	if code, _ := get("/nope/nope"); code != 404 {
		t.Fatalf("unknown route = %d, want 404", code)
	}
	if code, _ := get("/ping/echo"); code != 405 {
		t.Fatalf("ws-only method over GET = %d, want 405", code)
	}
}

func TestShutdownDrainsCalls(t *testing.T) {
	s := testApp(t, limp.Config{})
	c := dial(t, s.WS)
	c.send("ping/slow", nil, nil)
	time.Sleep(50 * time.Millisecond) // let the call start
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.App.Shutdown(ctx) }()
	r := c.recv()
	if r.Status != 200 || r.Msg != "Slept." {
		t.Fatalf("call in flight during shutdown = %+v, want it to finish", r)
	}
	// Keep reading, as clients do, so the close handshake completes.
	closed := make(chan error, 1)
	go func() {
		_, _, err := c.ws.Read(context.Background())
		closed <- err
	}()
	if err := <-closed; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("connection closed with %v, want 1001 going away", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
