package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Test credentials known to the fake server.
const (
	fakeApp       = "test_app"
	fakeEmail     = "admin@example.com"
	fakePassword  = "__ADMIN"
	fakeSessionID = "5e1000000000000000000001"
	fakeToken     = "session-token-0123456789abcdefghijklmnopqrstu"
)

// fakeServer is a small LIMP v6 websocket server for client tests: it
// greets, verifies each frame's HS256 JWT with the connection's current key,
// handles frames concurrently (so responses can come out of order) and
// implements a handful of endpoints:
//
//	conn/verify, conn/close, heart/beat, session/auth, session/reauth,
//	session/signout, file/upload, blog/read — as LIMP does (spec §2–§4, §9.1);
//	echo/echo     — replies args {claims} (the decoded JWT payload);
//	slow/wait     — sleeps doc.ms milliseconds, replies args {n: doc.n};
//	die/now       — closes the TCP connection without replying;
//	push/notice   — sends an unsolicited message, then replies;
//	blog/watch    — opens a watch and sends doc.n events;
//	big/blob      — replies args {blob: <doc.n bytes>};
//	server/error  — replies 500 without call_id (a LIMP bug).
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server
	wg  sync.WaitGroup // connection handlers and their frame goroutines

	mu      sync.Mutex
	seen    []map[string]any // every verified payload, in arrival order
	origins []string         // Origin header of each upgrade request
	uploads map[string][]byte
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, uploads: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.close)
	return f
}

func (f *fakeServer) url() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws" }

// close stops the server and waits for every connection handler.
func (f *fakeServer) close() {
	f.srv.CloseClientConnections()
	f.srv.Close()
	f.wg.Wait()
}

// endpoints returns the endpoints of all verified frames so far.
func (f *fakeServer) endpoints() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var eps []string
	for _, p := range f.seen {
		eps = append(eps, p["endpoint"].(string))
	}
	return eps
}

func (f *fakeServer) count(endpoint string) int {
	n := 0
	for _, e := range f.endpoints() {
		if e == endpoint {
			n++
		}
	}
	return n
}

// fakeConn is one connection's state.
type fakeConn struct {
	f   *fakeServer
	ws  *websocket.Conn
	mu  sync.Mutex
	key string
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	f.wg.Add(1)
	defer f.wg.Done()
	f.mu.Lock()
	f.origins = append(f.origins, r.Header.Get("Origin"))
	f.mu.Unlock()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	c := &fakeConn{f: f, ws: ws, key: anon}
	c.send(200, "Connection ready", map[string]any{"code": "CORE_CONN_READY"})
	var frames sync.WaitGroup
	defer frames.Wait()
	for {
		typ, data, err := ws.Read(context.Background())
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			continue
		}
		frames.Add(1)
		go func() {
			defer frames.Done()
			c.handle(data)
		}()
	}
}

func (c *fakeConn) send(status int, msg string, args map[string]any) {
	b, err := json.Marshal(map[string]any{"status": status, "msg": msg, "args": args})
	if err != nil {
		panic(err)
	}
	_ = c.ws.Write(context.Background(), websocket.MessageText, b)
}

func (c *fakeConn) setKey(k string) {
	c.mu.Lock()
	c.key = k
	c.mu.Unlock()
}

func (c *fakeConn) handle(data []byte) {
	var outer struct {
		Token  string `json:"token"`
		CallID any    `json:"call_id"`
	}
	if err := json.Unmarshal(data, &outer); err != nil {
		c.send(500, "Unexpected error has occured.", map[string]any{"code": "CORE_SERVER_ERROR"})
		return
	}
	c.mu.Lock()
	key := c.key
	c.mu.Unlock()
	payload, err := jws.Verify([]byte(outer.Token), jws.WithKey(jwa.HS256(), []byte(key)))
	var p map[string]any
	if err == nil {
		d := json.NewDecoder(strings.NewReader(string(payload)))
		d.UseNumber()
		err = d.Decode(&p)
	}
	if err == nil {
		err = checkClaims(outer.Token, p)
	}
	if err != nil {
		c.f.t.Logf("fake server: rejecting frame: %v", err)
		c.send(403, "Request token is not accepted.", map[string]any{"call_id": outer.CallID, "code": "CORE_REQ_INVALID_TOKEN"})
		return
	}
	c.f.mu.Lock()
	c.f.seen = append(c.f.seen, p)
	c.f.mu.Unlock()

	id := p["call_id"].(string)
	doc, _ := p["doc"].(map[string]any)
	query, _ := p["query"].([]any)
	ok := func(msg string, args map[string]any) {
		if args == nil {
			args = map[string]any{}
		}
		args["call_id"] = id
		c.send(200, msg, args)
	}
	fail := func(status int, msg, code string) {
		c.send(status, msg, map[string]any{"call_id": id, "code": code})
	}
	switch p["endpoint"] {
	case "conn/verify":
		if doc["app"] != fakeApp {
			fail(1008, "Request token is not accepted.", "CORE_REQ_NO_VERIFY")
			c.ws.Close(websocket.StatusNormalClosure, "")
			return
		}
		ok("Connection establised", map[string]any{"code": "CORE_CONN_OK"})
	case "conn/close":
		c.ws.Close(websocket.StatusNormalClosure, "")
	case "heart/beat":
		ok("Heartbeat received.", map[string]any{"code": "CORE_HEARTBEAT_OK"})
	case "echo/echo":
		ok("echo", map[string]any{"claims": p})
	case "slow/wait":
		ms, _ := doc["ms"].(json.Number).Int64()
		time.Sleep(time.Duration(ms) * time.Millisecond)
		ok("waited", map[string]any{"n": doc["n"]})
	case "die/now":
		c.ws.CloseNow()
	case "push/notice":
		c.send(200, "notice", map[string]any{"code": "TEST_NOTICE"})
		ok("pushed", nil)
	case "server/error":
		c.send(500, "Unexpected error has occured.", map[string]any{"code": "CORE_SERVER_ERROR"})
	case "session/auth":
		want, _ := Hash(HashLevel56, "email", fakeEmail, fakePassword, anon)
		if doc["email"] != fakeEmail || doc["hash"] != want {
			fail(403, "Wrong auth credentials.", "CORE_SESSION_INVALID_CREDS")
			return
		}
		c.setKey(fakeToken)
		ok("You were successfully authed.", map[string]any{"session": fakeSession()})
	case "session/reauth":
		q, _ := query[0].(map[string]any)
		if q["_id"] != fakeSessionID {
			fail(403, "Session is invalid.", "CORE_SESSION_INVALID_SESSION")
			return
		}
		if q["hash"] != ReauthHash(fakeToken) {
			fail(403, "Reauth token hash invalid.", "CORE_SESSION_INVALID_REAUTH_HASH")
			return
		}
		c.setKey(fakeToken)
		ok("You were succefully reauthed.", map[string]any{"session": fakeSession()})
	case "session/signout":
		q, _ := query[0].(map[string]any)
		if q["_id"] != fakeSessionID {
			fail(403, "Session is invalid.", "CORE_SESSION_INVALID_SESSION")
			return
		}
		c.setKey(anon)
		ok("You are successfully signed-out.", map[string]any{"session": map[string]any{"_id": AnonSessionID}})
	case "file/upload":
		file := doc["file"].(map[string]any)
		k := doc["attr"].(string) + "/" + doc["index"].(string)
		var bytes []byte
		if s := file["content"].(string); s != "" {
			for _, v := range strings.Split(s, ",") {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 255 {
					fail(400, "bad content", "TEST_BAD_CONTENT")
					return
				}
				bytes = append(bytes, byte(n))
			}
		}
		c.f.mu.Lock()
		if doc["chunk"].(json.Number).String() == "1" {
			c.f.uploads[k] = nil
		}
		c.f.uploads[k] = append(c.f.uploads[k], bytes...)
		c.f.mu.Unlock()
		if doc["chunk"] == doc["total"] {
			ok("Last chunk accepted", nil)
		} else {
			ok("Chunk accepted", nil)
		}
	case "blog/watch":
		ok("Created watch task.", map[string]any{"code": "CORE_WATCH_OK", "watch": id})
		n, _ := doc["n"].(json.Number).Int64()
		for i := range n {
			time.Sleep(2 * time.Millisecond)
			ok("Detected 1 docs.", map[string]any{"count": 1, "oper": "create", "watch": id,
				"docs": []any{map[string]any{"i": i}}})
		}
	case "watch/delete":
		q, _ := query[0].(map[string]any)
		ok("Watch task deleted.", map[string]any{"watch": []any{q["watch"]}})
	case "big/blob":
		n, _ := doc["n"].(json.Number).Int64()
		ok("blob", map[string]any{"blob": strings.Repeat("x", int(n))})
	case "blog/read":
		ok("Found 2 docs.", map[string]any{
			"total": 5, "count": 2, "groups": map[string]any{},
			"docs": []any{
				map[string]any{"_id": "5e2000000000000000000001", "title": "one", "views": 3},
				map[string]any{"_id": "5e2000000000000000000002", "title": "two", "views": 4},
			},
		})
	default:
		fail(400, "Endpoint module is invalid.", "CORE_REQ_INVALID_MODULE")
	}
}

func fakeSession() map[string]any {
	return map[string]any{
		"_id":   fakeSessionID,
		"token": fakeToken,
		"user": map[string]any{
			"_id": "f00000000000000000000010", "email": fakeEmail,
			"privileges": map[string]any{"*": []any{"*"}},
		},
		"groups": []any{}, "host_add": "127.0.0.1", "user_agent": "",
		"expiry": "2099-01-01T00:00:00.000000",
	}
}

// checkClaims enforces what a LIMP server needs of a call JWT (spec §3.2):
// header {"alg":"HS256","typ":"JWT"}, endpoint, sid, call_id, integer iat,
// exp in the future.
func checkClaims(token string, p map[string]any) error {
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		return err
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if typ, _ := h.Type(); typ != "JWT" {
		return fmt.Errorf("typ header %q", typ)
	}
	for _, k := range []string{"endpoint", "sid", "call_id"} {
		if _, ok := p[k].(string); !ok {
			return fmt.Errorf("claim %s missing", k)
		}
	}
	iat, err := p["iat"].(json.Number).Int64()
	if err != nil {
		return fmt.Errorf("iat: %w", err)
	}
	exp, err := p["exp"].(json.Number).Int64()
	if err != nil || exp <= time.Now().Unix() || exp <= iat {
		return errors.New("bad exp")
	}
	if _, ok := p["query"].([]any); !ok {
		return errors.New("query is not a list")
	}
	if _, ok := p["doc"].(map[string]any); !ok {
		return errors.New("doc is not an object")
	}
	return nil
}

// newSilentServer starts a websocket server that accepts and never sends
// anything; it returns its /ws URL.
func newSilentServer(t *testing.T) string {
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}
