package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain fails the run if goroutines outlive the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		left := leakedGoroutines()
		for len(left) > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			left = leakedGoroutines()
		}
		if len(left) > 0 {
			fmt.Fprintf(os.Stderr, "goroutine leak: %d goroutines left\n%s\n", len(left), strings.Join(left, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of goroutines other than the caller's
// and the runtime's own (signal handling started by the fuzzing engine).
func leakedGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || strings.Contains(g, "os/signal.signal_recv") || strings.TrimSpace(g) == "" {
			continue // the first is the current goroutine
		}
		left = append(left, g)
	}
	return left
}

func dial(t *testing.T, f *fakeServer, o *Options) *Client {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	if o.AppID == "" {
		o.AppID = fakeApp
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, f.url(), o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func claimsOf(t *testing.T, res *Response) map[string]any {
	t.Helper()
	cl, ok := res.Args["claims"].(map[string]any)
	if !ok {
		t.Fatalf("echo response without claims: %s", res.Raw)
	}
	return cl
}

func TestDialVerifyAndCall(t *testing.T) {
	f := newFakeServer(t)
	c := dial(t, f, nil)
	ctx := testCtx(t)

	res, err := c.Call(ctx, "echo/echo", nil, nil)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	cl := claimsOf(t, res)
	if cl["sid"] != AnonSessionID || cl["endpoint"] != "echo/echo" || cl["call_id"] != res.CallID() {
		t.Errorf("claims = %v", cl)
	}
	if q, ok := cl["query"].([]any); !ok || len(q) != 0 {
		t.Errorf("default query = %#v; want []", cl["query"])
	}
	if d, ok := cl["doc"].(map[string]any); !ok || len(d) != 0 {
		t.Errorf("default doc = %#v; want {}", cl["doc"])
	}
	if _, ok := cl["token"]; ok {
		t.Error("token claim sent without NGLimpClaims")
	}
	iat, _ := cl["iat"].(json.Number).Int64()
	exp, _ := cl["exp"].(json.Number).Int64()
	if exp-iat != 86400 {
		t.Errorf("exp - iat = %d; want 86400", exp-iat)
	}
	if got := f.endpoints(); len(got) < 1 || got[0] != "conn/verify" {
		t.Errorf("first endpoint = %v; want conn/verify", got)
	}

	// Typed nil query/doc become [] and {} as well; values pass through.
	var nilQuery []any
	res, err = c.Call(ctx, "echo/echo", nilQuery, map[string]any{"a": 1, "html": "<&>"})
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	cl = claimsOf(t, res)
	if q, ok := cl["query"].([]any); !ok || len(q) != 0 {
		t.Errorf("typed nil query = %#v; want []", cl["query"])
	}
	if d := cl["doc"].(map[string]any); d["a"] != json.Number("1") || d["html"] != "<&>" {
		t.Errorf("doc = %#v", d)
	}
}

func TestNGLimpClaims(t *testing.T) {
	f := newFakeServer(t)
	c := dial(t, f, &Options{NGLimpClaims: true})
	res, err := c.Call(testCtx(t), "echo/echo", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := claimsOf(t, res)
	if cl["token"] != anon || cl["awaitAuth"] != false {
		t.Errorf("token, awaitAuth = %v, %v; want anon token, false", cl["token"], cl["awaitAuth"])
	}
}

func TestDialErrors(t *testing.T) {
	f := newFakeServer(t)
	ctx := testCtx(t)

	_, err := Dial(ctx, f.url(), &Options{AppID: "unknown_app"})
	if CodeOf(err) != "CORE_REQ_NO_VERIFY" {
		t.Errorf("Dial with unknown app: %v; want CORE_REQ_NO_VERIFY", err)
	}
	var le *Error
	if !errors.As(err, &le) || le.Status != 1008 {
		t.Errorf("Dial with unknown app: %#v; want *Error status 1008", err)
	}

	_, err = Dial(ctx, f.url(), &Options{AppID: fakeApp, AnonToken: "wrong"})
	if CodeOf(err) != "CORE_REQ_INVALID_TOKEN" {
		t.Errorf("Dial with wrong anon token: %v; want CORE_REQ_INVALID_TOKEN", err)
	}

	_, err = Dial(ctx, "ws://127.0.0.1:1/ws", nil)
	if err == nil {
		t.Error("Dial to a closed port: want error")
	}

	// A server that never greets: ctx bounds the handshake.
	silent := newSilentServer(t)
	sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := Dial(sctx, silent, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial without greeting: %v; want deadline exceeded", err)
	}
}

func TestMultiplexOutOfOrder(t *testing.T) {
	f := newFakeServer(t)
	c := dial(t, f, nil)
	ctx := testCtx(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Later calls finish first.
			res, err := c.Call(ctx, "slow/wait", nil, map[string]any{"ms": (n - i) * 5, "n": i})
			if err != nil {
				errs <- err
				return
			}
			if got := res.Args["n"]; got != json.Number(fmt.Sprint(i)) {
				errs <- fmt.Errorf("call %d got response for %v", i, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestContextCancel(t *testing.T) {
	f := newFakeServer(t)
	late := make(chan *Response, 1)
	c := dial(t, f, &Options{OnMessage: func(r *Response) { late <- r }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := c.Call(ctx, "slow/wait", nil, map[string]any{"ms": 200, "n": 7})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call = %v; want context.DeadlineExceeded", err)
	}
	// The connection stays usable.
	if err := c.Heartbeat(testCtx(t)); err != nil {
		t.Fatalf("Heartbeat after cancel: %v", err)
	}
	// The late response goes to OnMessage.
	select {
	case r := <-late:
		if r.Args["n"] != json.Number("7") {
			t.Errorf("late response = %s", r.Raw)
		}
	case <-time.After(5 * time.Second):
		t.Error("late response not delivered to OnMessage")
	}

	// An already cancelled ctx fails fast.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := c.Call(cctx, "heart/beat", nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Call with cancelled ctx = %v; want context.Canceled", err)
	}
}

func TestConnectionLoss(t *testing.T) {
	f := newFakeServer(t)
	c := dial(t, f, nil)
	ctx := testCtx(t)
	slow := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, "slow/wait", nil, map[string]any{"ms": 1000, "n": 1})
		slow <- err
	}()
	// Make sure the slow call is in flight before the connection dies.
	for f.count("slow/wait") == 0 {
		time.Sleep(time.Millisecond)
	}
	_, err := c.Call(ctx, "die/now", nil, nil)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Call on dying connection = %v; want ErrClosed", err)
	}
	if err := <-slow; !errors.Is(err, ErrClosed) {
		t.Errorf("pending call = %v; want ErrClosed", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after connection loss")
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err = %v; want ErrClosed", c.Err())
	}
	if _, err := c.Call(ctx, "heart/beat", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Call after loss = %v; want ErrClosed", err)
	}
}

func TestClose(t *testing.T) {
	f := newFakeServer(t)
	c := dial(t, f, nil)
	ctx := testCtx(t)
	slow := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, "slow/wait", nil, map[string]any{"ms": 1000, "n": 1})
		slow <- err
	}()
	for f.count("slow/wait") == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-slow; !errors.Is(err, ErrClosed) {
		t.Errorf("pending call after Close = %v; want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Call(ctx, "heart/beat", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Call after Close = %v; want ErrClosed", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.count("conn/close") == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if f.count("conn/close") != 1 {
		t.Errorf("server saw %d conn/close; want 1", f.count("conn/close"))
	}
}

func TestErrorResponse(t *testing.T) {
	f := newFakeServer(t)
	c := dial(t, f, nil)
	res, err := c.Call(testCtx(t), "nope/nope", nil, nil)
	var le *Error
	if !errors.As(err, &le) {
		t.Fatalf("Call = %v; want *Error", err)
	}
	if le.Status != 400 || le.Code != "CORE_REQ_INVALID_MODULE" || le.Msg != "Endpoint module is invalid." || le.Response != res || res == nil {
		t.Errorf("error = %#v", le)
	}
	if got, want := le.Error(), "limp error 400 CORE_REQ_INVALID_MODULE: Endpoint module is invalid."; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

func TestUnsolicited(t *testing.T) {
	f := newFakeServer(t)
	got := make(chan *Response, 4)
	c := dial(t, f, &Options{OnMessage: func(r *Response) { got <- r }})
	if _, err := c.Call(testCtx(t), "push/notice", nil, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.Code() != "TEST_NOTICE" {
			t.Errorf("unsolicited = %s", r.Raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("notice not delivered")
	}

	// A 500 without call_id (LIMP bug) cannot be matched: the call times
	// out and OnMessage sees the error.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, "server/error", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Call = %v; want deadline exceeded", err)
	}
	select {
	case r := <-got:
		if r.Status != 500 || r.Code() != "CORE_SERVER_ERROR" {
			t.Errorf("unsolicited = %s", r.Raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server error not delivered")
	}
}

func TestAuthReauthSignout(t *testing.T) {
	f := newFakeServer(t)
	c := dial(t, f, nil)
	ctx := testCtx(t)

	_, err := c.Auth(ctx, "email", fakeEmail, "wrong")
	if CodeOf(err) != "CORE_SESSION_INVALID_CREDS" {
		t.Fatalf("Auth with wrong password = %v; want CORE_SESSION_INVALID_CREDS", err)
	}
	if c.Session() != nil {
		t.Fatal("session set after failed auth")
	}

	s, err := c.Auth(ctx, "email", fakeEmail, fakePassword)
	if err != nil {
		t.Fatalf("Auth: %v", err)
	}
	if s.ID != fakeSessionID || s.Token != fakeToken || s.UserID() != "f00000000000000000000010" {
		t.Errorf("session = %+v", *s)
	}
	if strings.Contains(s.String(), fakeToken) || strings.Contains(fmt.Sprint(s.LogValue()), fakeToken) {
		t.Error("session String/LogValue reveals the token")
	}
	if cur := c.Session(); cur == nil || cur.ID != fakeSessionID {
		t.Errorf("Session() = %v", cur)
	}
	// Later calls are signed with the session token and carry its id.
	res, err := c.Call(ctx, "echo/echo", nil, nil)
	if err != nil {
		t.Fatalf("Call after auth: %v", err)
	}
	if sid := claimsOf(t, res)["sid"]; sid != fakeSessionID {
		t.Errorf("sid after auth = %v", sid)
	}

	if err := c.Signout(ctx); err != nil {
		t.Fatalf("Signout: %v", err)
	}
	if c.Session() != nil {
		t.Error("session kept after signout")
	}
	res, err = c.Call(ctx, "echo/echo", nil, nil)
	if err != nil {
		t.Fatalf("Call after signout: %v", err)
	}
	if sid := claimsOf(t, res)["sid"]; sid != AnonSessionID {
		t.Errorf("sid after signout = %v", sid)
	}

	// Resume the session on a new connection.
	c2 := dial(t, f, nil)
	if _, err := c2.Reauth(ctx, fakeSessionID, "bad-token"); CodeOf(err) != "CORE_SESSION_INVALID_REAUTH_HASH" {
		t.Errorf("Reauth with bad token = %v", err)
	}
	s2, err := c2.Reauth(ctx, fakeSessionID, fakeToken)
	if err != nil {
		t.Fatalf("Reauth: %v", err)
	}
	if s2.Token != fakeToken {
		t.Errorf("reauth session = %v", s2)
	}
	if err := c2.Heartbeat(ctx); err != nil {
		t.Errorf("Heartbeat after reauth: %v", err)
	}
}

func TestUpload(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		chunkSize int
		chunks    int
	}{
		{"several chunks", 1300, 500, 3},
		{"exact multiple", 1000, 500, 2},
		{"one chunk", 10, 500, 1},
		{"empty", 0, 500, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t)
			c := dial(t, f, &Options{ChunkSize: tt.chunkSize})
			data := make([]byte, tt.size)
			for i := range data {
				data[i] = byte(i * 7)
			}
			file := File{Name: "a.bin", Type: "application/octet-stream", Size: int64(len(data)), LastModified: time.UnixMilli(1578220000000)}
			if err := c.Upload(testCtx(t), "files", 2, file, bytes.NewReader(data)); err != nil {
				t.Fatalf("Upload: %v", err)
			}
			if got := f.count("file/upload"); got != tt.chunks {
				t.Errorf("chunks = %d; want %d", got, tt.chunks)
			}
			f.mu.Lock()
			got := f.uploads["files/2"]
			last := f.seen[len(f.seen)-1]
			f.mu.Unlock()
			if !bytes.Equal(got, data) {
				t.Errorf("server got %d bytes, want %d", len(got), len(data))
			}
			fl := last["doc"].(map[string]any)["file"].(map[string]any)
			if fl["name"] != "a.bin" || fl["size"] != json.Number(fmt.Sprint(tt.size)) || fl["lastModified"] != json.Number("1578220000000") {
				t.Errorf("file object = %v", fl)
			}
		})
	}

	f := newFakeServer(t)
	c := dial(t, f, nil)
	err := c.Upload(testCtx(t), "files", 0, File{Name: "short", Size: 10}, strings.NewReader("abc"))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Upload of a short reader = %v; want io.ErrUnexpectedEOF", err)
	}
}

func TestRead(t *testing.T) {
	f := newFakeServer(t)
	c := dial(t, f, nil)
	type blog struct {
		ID    string `json:"_id"`
		Title string `json:"title"`
		Views int    `json:"views"`
	}
	rr, err := Read[blog](testCtx(t), c, "blog", []any{map[string]any{"$limit": 2}})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if rr.Total != 5 || rr.Count != 2 || len(rr.Docs) != 2 || rr.Docs[1] != (blog{"5e2000000000000000000002", "two", 4}) {
		t.Errorf("Read = %+v", rr)
	}
	if _, err := Read[blog](testCtx(t), c, "nope/read", nil); CodeOf(err) != "CORE_REQ_INVALID_MODULE" {
		t.Errorf("Read of unknown module = %v", err)
	}
}

func TestAutomaticHeartbeat(t *testing.T) {
	f := newFakeServer(t)
	dial(t, f, &Options{HeartbeatInterval: 10 * time.Millisecond})
	deadline := time.Now().Add(5 * time.Second)
	for f.count("heart/beat") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := f.count("heart/beat"); n < 2 {
		t.Errorf("server saw %d heartbeats; want at least 2", n)
	}
}

func TestOriginHeader(t *testing.T) {
	f := newFakeServer(t)
	dial(t, f, &Options{HTTPHeader: http.Header{"Origin": {"https://app.example.com"}}})
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.origins) != 1 || f.origins[0] != "https://app.example.com" {
		t.Errorf("origins = %q", f.origins)
	}
}

func TestReadLimit(t *testing.T) {
	f := newFakeServer(t)
	ctx := testCtx(t)
	// The default limit accepts responses far above coder/websocket's 32 KiB.
	c := dial(t, f, nil)
	res, err := c.Call(ctx, "big/blob", nil, map[string]any{"n": 1 << 20})
	if err != nil {
		t.Fatalf("1 MiB response: %v", err)
	}
	if b, _ := res.Args["blob"].(string); len(b) != 1<<20 {
		t.Errorf("blob length = %d", len(b))
	}
	small := dial(t, f, &Options{ReadLimit: 1000})
	if _, err := small.Call(ctx, "big/blob", nil, map[string]any{"n": 2000}); !errors.Is(err, ErrClosed) {
		t.Errorf("response above ReadLimit = %v; want ErrClosed", err)
	}
}
