package limp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// reply is a decoded server message.
type reply struct {
	Status int            `json:"status"`
	Msg    string         `json:"msg"`
	Args   map[string]any `json:"args"`
}

func (r reply) code() string { s, _ := r.Args["code"].(string); return s }

// wsClient is a raw protocol client for tests: it signs frames itself so
// tests can also send broken ones.
type wsClient struct {
	t   testing.TB
	ws  *websocket.Conn
	key string
	n   atomic.Int64
}

// dial connects and checks the greeting.
func dial(t testing.TB, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	ws.SetReadLimit(64 << 20)
	c := &wsClient{t: t, ws: ws, key: limp.DefaultAnonToken}
	t.Cleanup(func() { _ = ws.CloseNow() })
	g := c.recv()
	if g.Status != 200 || g.code() != limp.CodeConnReady || g.Args["call_id"] != nil {
		t.Fatalf("greeting = %+v, want 200 CORE_CONN_READY without call_id", g)
	}
	return c
}

// sign returns a compact HS256 JWS of payload with key.
func sign(t testing.TB, payload any, key string) string {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(b, jws.WithKey(jwa.HS256(), []byte(key)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// sendRaw sends one text frame.
func (c *wsClient) sendRaw(data string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(data)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send signs and sends a call, returning its call_id.
func (c *wsClient) send(endpoint string, query, doc any) string {
	c.t.Helper()
	id := fmt.Sprintf("c%d", c.n.Add(1))
	if query == nil {
		query = []any{}
	}
	if doc == nil {
		doc = map[string]any{}
	}
	now := time.Now().Unix()
	payload := map[string]any{"call_id": id, "endpoint": endpoint, "sid": "f00000000000000000000012",
		"token": c.key, "query": query, "doc": doc, "awaitAuth": false, "iat": now, "exp": now + 86400}
	tok := sign(c.t, payload, c.key)
	b, _ := json.Marshal(map[string]any{"token": tok, "call_id": id})
	c.sendRaw(string(b))
	return id
}

// recv reads one message.
func (c *wsClient) recv() reply {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var r reply
	if err := json.Unmarshal(data, &r); err != nil {
		c.t.Fatalf("reply %s: %v", data, err)
	}
	return r
}

// call sends a call and returns its reply, checking the call_id echo.
func (c *wsClient) call(endpoint string, query, doc any) reply {
	c.t.Helper()
	id := c.send(endpoint, query, doc)
	r := c.recv()
	if r.Args["call_id"] != id {
		c.t.Fatalf("%s: reply call_id = %v, want %s (reply %+v)", endpoint, r.Args["call_id"], id, r)
	}
	return r
}

// must fails the test unless r is a 200.
func must(t testing.TB, r reply) reply {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d %q %v, want 200", r.Status, r.Msg, r.Args)
	}
	return r
}

// wantErr fails the test unless r has status and code.
func wantErr(t testing.TB, r reply, status int, code string) {
	t.Helper()
	if r.Status != status || r.code() != code {
		t.Fatalf("got %d %s (%q), want %d %s", r.Status, r.code(), r.Msg, status, code)
	}
}

// docs returns a read reply's docs.
func docs(t testing.TB, r reply) []map[string]any {
	t.Helper()
	l, ok := r.Args["docs"].([]any)
	if !ok {
		t.Fatalf("reply has no docs: %+v", r)
	}
	out := make([]map[string]any, len(l))
	for i, d := range l {
		out[i] = d.(map[string]any)
	}
	return out
}

// Post is the test app's document.
type Post struct {
	limp.OwnedDoc
	Status    string      `json:"status" limp:"default=draft" validate:"oneof=draft published"`
	Title     limp.Locale `json:"title"`
	Permalink string      `json:"permalink" limp:"unique"`
	Rank      int64       `json:"rank" limp:"default=0"`
	Tags      []string    `json:"tags" limp:"default=[]"`
}

var (
	barrierMu sync.Mutex
	barrierN  int
	barrierC  = make(chan struct{})
)

// testApp returns an app with a "post" module anyone may read and write,
// and a "ping" service whose method echoes.
func testApp(t testing.TB, cfg limp.Config) *limptest.Server {
	t.Helper()
	cfg.Name = "test"
	if cfg.AnonPrivileges == nil {
		cfg.AnonPrivileges = limp.Privileges{"post": {"*"}, "ping": {"*"}}
	}
	for _, q := range []*int{&cfg.QuotaIPMin, &cfg.QuotaAnonMin, &cfg.QuotaAuthMin} {
		if *q == 0 {
			*q = -1 // quotas have their own test
		}
	}
	if cfg.Locale == "" {
		cfg.Locale = "en_AE"
	}
	cfg = limptest.Config(t, cfg)
	app := limp.New(cfg)
	posts := limp.NewModule[Post]("post", limp.Methods{
		"read":   {Permissions: limp.Perms("read")},
		"create": {Permissions: limp.Perms("create")},
		"update": {Permissions: limp.Perms("update"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
		"delete": {Permissions: limp.Perms("delete"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
	})
	release := make(chan struct{})
	ping := limp.NewService("ping", limp.Methods{
		"echo": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			return limp.OK("Pong.", limp.M{"doc": c.Doc}), nil
		}},
		"slow": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			select {
			case <-time.After(200 * time.Millisecond):
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return limp.OK("Slept.", nil), nil
		}},
		// barrier returns once 4 barrier calls are in flight together: a
		// connection that ran its calls one at a time would never get
		// there (the call then fails after 10 s).
		"barrier": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			barrierMu.Lock()
			barrierN++
			ch := barrierC
			if barrierN%4 == 0 {
				close(barrierC)
				barrierC = make(chan struct{})
			}
			barrierMu.Unlock()
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
				return nil, limp.NewError(400, "TEST_NOT_CONCURRENT", "Calls did not run concurrently.")
			}
			return limp.OK("Passed.", nil), nil
		}},
		"panic": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			panic("boom")
		}},
		"get": {Permissions: limp.Perms("*"), GetMethod: true, QueryArgs: []limp.Args{{"n": {Type: limp.TypeInt}}},
			Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
				return limp.OK("Got.", limp.M{"n": c.Query.Values("n")}), nil
			}},
	})
	app.Register("test", posts, ping)
	return limptest.Start(t, app)
}

// startApp starts an app of the given modules in package "test".
func startApp(t testing.TB, cfg limp.Config, mods ...*limp.Module) *limptest.Server {
	t.Helper()
	if cfg.Locale == "" {
		cfg.Locale = "en_AE"
	}
	app := limp.New(limptest.Config(t, cfg))
	app.Register("test", mods...)
	return limptest.Start(t, app)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// testServer serves an app on loopback without limptest's clean-up, for
// tests that shut down themselves.
type testServer struct {
	ws    string
	close func()
}

func newTestServer(app *limp.App) *testServer {
	srv := httptest.NewServer(app)
	return &testServer{ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", close: srv.Close}
}
