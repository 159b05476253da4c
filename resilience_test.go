package limp

// Tests of slow and hostile clients (issue 18): a websocket client that
// never reads its replies, an HTTP body trickled a byte at a time, both
// driven by raw sockets; Shutdown with such clients stuck; a refused
// upload's spool; frames past the decode limits.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/limp-go/limp/internal/jsonv"
)

// logRecorder keeps the messages of warnings and errors logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		l.mu.Lock()
		l.msgs = append(l.msgs, r.Message)
		l.mu.Unlock()
	}
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }
func (l *logRecorder) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if strings.Contains(m, msg) {
			return true
		}
	}
	return false
}

// slowApp is a started app with a "big/get" method whose reply is
// doc.size bytes, served by an httptest server. The caller shuts it down
// (or t.Cleanup does).
type slowApp struct {
	app  *App
	srv  *httptest.Server
	addr string
	log  *logRecorder
}

// benchNote is a document for the durability benchmark.
type benchNote struct {
	Doc
	Title string `json:"title"`
}

func startSlowApp(t testing.TB, cfg Config) *slowApp {
	t.Helper()
	rec := &logRecorder{}
	cfg.Name = "slow"
	if cfg.Data == "" {
		cfg.Data = ":memory:"
	}
	cfg.Logger = slog.New(rec)
	cfg.FilesDir = t.TempDir()
	cfg.Locale = "en_AE"
	if cfg.QuotaIPMin == 0 {
		cfg.QuotaIPMin, cfg.QuotaAnonMin, cfg.QuotaAuthMin = -1, -1, -1
	}
	cfg.AnonPrivileges = Privileges{"big": {"*"}, "note": {"*"}}
	a := New(cfg)
	big := NewService("big", Methods{
		"get": {Permissions: Perms("*"), Handler: func(ctx context.Context, c *Call) (*Result, error) {
			n, _ := c.Doc["size"].(int64)
			return OK("Big.", M{"blob": strings.Repeat("x", int(n))}), nil
		}},
		"post": {Permissions: Perms("*"), PostMethod: true, Handler: func(ctx context.Context, c *Call) (*Result, error) {
			return OK("Posted.", nil), nil
		}},
	})
	note := NewModule[benchNote]("note", Methods{"create": {Permissions: Perms("*")}})
	a.Register("slow", big, note)
	if !realStore() {
		a.store = newMemStore()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		srv.Close()
	})
	return &slowApp{app: a, srv: srv, addr: srv.Listener.Addr().String(), log: rec}
}

// openConns is the number of websockets the app still holds.
func (s *slowApp) openConns() int {
	s.app.connsMu.Lock()
	defer s.app.connsMu.Unlock()
	return len(s.app.conns)
}

// rawWS is a websocket client on a raw TCP socket with a small receive
// buffer, which reads only when the test says so.
type rawWS struct {
	t  testing.TB
	nc *net.TCPConn
	br *bufio.Reader
	n  int
}

func dialRaw(t testing.TB, addr string) *rawWS {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc := nc.(*net.TCPConn)
	// Default buffers: a client that reads nothing fills them within a few MiB.
	t.Cleanup(func() { _ = tc.Close() })
	fmt.Fprintf(tc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(tc)
	_ = tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	_ = tc.SetReadDeadline(time.Time{})
	return &rawWS{t: t, nc: tc, br: br}
}

// hs256 signs payload with key (compact JWS).
func hs256(payload any, key string) string {
	enc := base64.RawURLEncoding
	s := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(mustMarshal(payload))
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(s))
	return s + "." + enc.EncodeToString(mac.Sum(nil))
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// frame writes one masked text frame (mask key 0: payload as is).
func (c *rawWS) frame(payload []byte) error {
	hdr := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	hdr = append(hdr, 0, 0, 0, 0)
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Write(append(hdr, payload...))
	return err
}

// call sends a signed call.
func (c *rawWS) call(endpoint string, doc M) error {
	c.n++
	id := fmt.Sprintf("r%d", c.n)
	now := time.Now().Unix()
	tok := hs256(M{"call_id": id, "endpoint": endpoint, "sid": "f00000000000000000000012", "query": []any{},
		"doc": doc, "iat": now, "exp": now + 600}, DefaultAnonToken)
	return c.frame(mustMarshal(M{"token": tok, "call_id": id}))
}

// drain reads until the server closes the TCP connection, and returns
// the close status of the close frame if one came (-1 if none).
func (c *rawWS) drain(within time.Duration) (websocket.StatusCode, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(within))
	status := websocket.StatusCode(-1)
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
				return status, nil
			}
			return status, err
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return status, nil
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return status, nil
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
				return status, nil
			}
			return status, err
		}
		if h[0]&0x0f == 0x8 && len(p) >= 2 {
			status = websocket.StatusCode(binary.BigEndian.Uint16(p))
		}
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// A client that sends calls with large replies and never reads them is
// disconnected once its outbound queue is full and no byte is taken for
// WriteTimeout, and its connection (queue, calls) is released, well
// before any idle timeout.
func TestSlowReaderIsDisconnected(t *testing.T) {
	s := startSlowApp(t, Config{MaxQueuedBytes: 1 << 20, WriteTimeout: 2 * time.Second, ConnTimeout: time.Hour})
	c := dialRaw(t, s.addr)
	if !waitFor(5*time.Second, func() bool { return s.openConns() == 1 }) {
		t.Fatal("connection not registered")
	}
	for range 40 {
		if err := c.call("big/get", M{"size": 1 << 20}); err != nil {
			break // the server may close first
		}
	}
	start := time.Now()
	if !waitFor(15*time.Second, func() bool { return s.log.has("does not read its replies") }) {
		t.Fatalf("the non-reading connection was not closed: %v", s.log.msgs)
	}
	t.Logf("given up on %v after the calls were sent", time.Since(start))
	// Reading now, the client gets what was under way, then the close
	// frame with its code, then the end of the connection.
	status, err := c.drain(10 * time.Second)
	if err != nil {
		t.Fatalf("the server did not close the TCP connection: %v", err)
	}
	if status != websocket.StatusPolicyViolation {
		t.Errorf("close status %d, want 1008", status)
	}
	if !waitFor(5*time.Second, func() bool { return s.openConns() == 0 }) {
		t.Fatalf("the connection is still held (%d)", s.openConns())
	}
	// The server keeps serving.
	c2 := dialRaw(t, s.addr)
	if err := c2.call("big/get", M{"size": 10}); err != nil {
		t.Fatal(err)
	}
}

// A client that stops reading a single large reply: the write deadline
// closes it even though its queue holds one message only.
func TestWriteDeadline(t *testing.T) {
	s := startSlowApp(t, Config{MaxQueuedBytes: 64 << 20, WriteTimeout: 500 * time.Millisecond, ConnTimeout: time.Hour})
	c := dialRaw(t, s.addr)
	if !waitFor(5*time.Second, func() bool { return s.openConns() == 1 }) {
		t.Fatal("connection not registered")
	}
	if err := c.call("big/get", M{"size": 32 << 20}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(15*time.Second, func() bool { return s.openConns() == 0 }) {
		t.Fatal("a connection whose write is stuck stays open")
	}
	if !s.log.has("does not read its replies") {
		t.Errorf("no warning logged: %v", s.log.msgs)
	}
}

// A client that reads its replies, even a burst of large ones, is not
// disconnected.
func TestReadingClientKeepsConnection(t *testing.T) {
	s := startSlowApp(t, Config{MaxQueuedBytes: 4 << 20, WriteTimeout: time.Second})
	c := dialRaw(t, s.addr)
	done := make(chan error, 1)
	go func() {
		_, err := c.drain(20 * time.Second)
		done <- err
	}()
	for range 20 {
		if err := c.call("big/get", M{"size": 256 << 10}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if s.openConns() != 1 {
		t.Fatal("a reading client was disconnected")
	}
	if s.log.has("does not read") {
		t.Fatalf("a reading client was taken for a slow one: %v", s.log.msgs)
	}
	_ = c.nc.Close()
	<-done
}

// slowPost starts a POST whose body (declared n bytes) is sent one byte
// per 100 ms from a raw socket, and returns the connection.
func slowPost(t *testing.T, addr, path, ctype string, body []byte, stop <-chan struct{}) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	fmt.Fprintf(nc, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, addr, ctype, len(body)+1<<20)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			b := byte(' ')
			if i < len(body) {
				b = body[i]
			}
			if _, err := nc.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	return nc
}

// readStatus reads the HTTP status line of the reply on nc.
func readStatus(nc net.Conn, within time.Duration) (int, error) {
	_ = nc.SetReadDeadline(time.Now().Add(within))
	res, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}

// A body trickled a byte at a time is cut off once it falls behind
// ReadTimeout plus its bytes at MinDataRate: the JSON call is answered
// 408 and the upload refused, and the upload's spool is removed.
func TestSlowBodyTimesOut(t *testing.T) {
	s := startSlowApp(t, Config{ReadTimeout: 700 * time.Millisecond, MinDataRate: 1 << 10})
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	nc := slowPost(t, s.addr, "/big/post", "application/json", []byte(`{"a": 1}`), stop)
	status, err := readStatus(nc, 10*time.Second)
	if err != nil || status != http.StatusRequestTimeout {
		t.Fatalf("slow JSON body: status %d, %v; want 408", status, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("slow body cut after %v", d)
	}

	var form bytes.Buffer
	form.WriteString("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n")
	form.WriteString(strings.Repeat("z", 200))
	nc = slowPost(t, s.addr, "/file/create", "multipart/form-data; boundary=B", form.Bytes(), stop)
	status, err = readStatus(nc, 10*time.Second)
	if err != nil || status != http.StatusRequestTimeout {
		t.Fatalf("slow upload: status %d, %v; want 408", status, err)
	}
	blobs, err := s.app.files.store(s.app)
	if err != nil {
		t.Fatal(err)
	}
	if n := walkCount(t, blobs); n != 0 {
		t.Errorf("%d blobs left by the slow upload", n)
	}
	if d, ok := blobs.(interface{ TempFiles() int }); ok {
		if !waitFor(2*time.Second, func() bool { return d.TempFiles() == 0 }) {
			t.Errorf("%d spool files left by the slow upload", d.TempFiles())
		}
	}
}

// Shutdown returns within its context's deadline with a stuck client of
// each kind open: a websocket that does not read a large reply, a slow
// upload and a slow JSON body.
func TestShutdownWithStuckClients(t *testing.T) {
	s := startSlowApp(t, Config{WriteTimeout: time.Hour, ReadTimeout: time.Hour, MinDataRate: 1, ConnTimeout: time.Hour})
	c := dialRaw(t, s.addr)
	if err := c.call("big/get", M{"size": 32 << 20}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	var form bytes.Buffer
	form.WriteString("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n")
	slowPost(t, s.addr, "/file/create", "multipart/form-data; boundary=B", append(form.Bytes(), strings.Repeat("z", 1000)...), stop)
	slowPost(t, s.addr, "/big/post", "application/json", []byte(`{"a": "`+strings.Repeat("y", 1000)), stop)
	// All three are stuck once the reply is being written.
	if !waitFor(30*time.Second, func() bool {
		s.app.connsMu.Lock()
		defer s.app.connsMu.Unlock()
		for c := range s.app.conns {
			c.out.mu.Lock()
			n := c.out.bytes
			c.out.mu.Unlock()
			return n > 1<<20
		}
		return false
	}) {
		t.Fatal("the large reply was never queued")
	}
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := s.app.Shutdown(ctx)
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("Shutdown took %v with a 1 s deadline", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the context's error", err)
	}
	t.Logf("Shutdown returned after %v", time.Since(start))
	// Shutdown waits for the handlers: none is left. (Closing the HTTP
	// connections themselves is the http.Server's Shutdown.)
	s.app.httpReqs.mu.Lock()
	left := len(s.app.httpReqs.reqs)
	s.app.httpReqs.mu.Unlock()
	if left != 0 {
		t.Errorf("%d HTTP handlers still running after Shutdown", left)
	}
	t.Logf("checked after %v", time.Since(start))
	if _, err := c.drain(5 * time.Second); err != nil {
		t.Errorf("websocket not closed: %v", err)
	}
	t.Logf("all clients ended after %v", time.Since(start))
}

// Run's drain timeout is honoured: with a stuck client, RunArgs returns
// within DrainTimeout (plus a little) of its context ending.
func TestRunDrainTimeout(t *testing.T) {
	rec := &logRecorder{}
	a := New(Config{Name: "drain", Data: ":memory:", FilesDir: t.TempDir(), Locale: "en_AE", Logger: slog.New(rec),
		DrainTimeout: time.Second, ReadTimeout: 300 * time.Millisecond, MinDataRate: 1,
		QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1, AnonPrivileges: Privileges{"big": {"*"}}})
	a.Register("slow", NewService("big", Methods{
		"post": {Permissions: Perms("*"), PostMethod: true, Handler: func(ctx context.Context, c *Call) (*Result, error) {
			return OK("Posted.", nil), nil
		}},
	}))
	if !realStore() {
		a.store = newMemStore()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.RunArgs(ctx, []string{"--listen", addr}, io.Discard) }()
	var nc net.Conn
	if !waitFor(10*time.Second, func() bool {
		nc, err = net.Dial("tcp", addr)
		return err == nil
	}) {
		t.Fatal("server did not start")
	}
	_ = nc.Close()
	// The server's ReadTimeout does not carry over to a websocket.
	ws := dialRaw(t, addr)
	if _, err := ws.next(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	if err := ws.call("heart/beat", nil); err != nil {
		t.Fatal(err)
	}
	if r, err := ws.next(5 * time.Second); err != nil || r.Status != 200 {
		t.Fatalf("heart/beat after the server's ReadTimeout: %+v, %v", r, err)
	}
	// A body trickled faster than MinDataRate (1 B/s here) is not cut:
	// it is the stuck client the drain must end.
	stop := make(chan struct{})
	defer close(stop)
	slowPost(t, addr, "/big/post", "application/json", []byte(`{"a": "`+strings.Repeat("y", 1000)), stop)
	time.Sleep(700 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-errc:
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("RunArgs returned %v after its context ended; DrainTimeout is 1 s", d)
		}
		if err == nil || !strings.Contains(err.Error(), "drain") {
			t.Errorf("RunArgs = %v, want a drain error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunArgs did not return with a stuck client")
	}
}

// An anonymous multipart upload with the file before the form fields is
// refused (403) and leaves nothing stored nor spooled.
func TestRefusedUploadRemovesSpool(t *testing.T) {
	needReads(t)
	s := startFiles(t, Config{})
	var b bytes.Buffer
	b.WriteString("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n")
	b.Write(pngBytes(t, 4, 4))
	for _, kv := range [][2]string{{"__module", "locked"}, {"__attr", "doc"}, {"name", "a.png"}, {"type", "image/png"}} {
		fmt.Fprintf(&b, "\r\n--B\r\nContent-Disposition: form-data; name=%q\r\n\r\n%s", kv[0], kv[1])
	}
	b.WriteString("\r\n--B--\r\n")
	res, err := http.Post(s.url+"/file/create", "multipart/form-data; boundary=B", &b)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != 403 {
		t.Fatalf("status %d, want 403", res.StatusCode)
	}
	if n := walkCount(t, s.blobs); n != 0 {
		t.Errorf("%d blobs stored by a refused upload", n)
	}
	if n := s.blobs.TempFiles(); n != 0 {
		t.Errorf("%d spool files left by a refused upload", n)
	}
}

// Frames past the decode limits are refused as invalid (403) without
// closing the connection, and every frame, valid or not, counts against
// the connection's quota.
func TestFrameLimitsAndQuota(t *testing.T) {
	s := startSlowApp(t, Config{QuotaIPMin: -1, QuotaAnonMin: 5, QuotaAuthMin: -1, MaxFrameValues: 100, MaxFrameDepth: 8})
	c := dialRaw(t, s.addr)
	deep := any("x")
	for range 10 {
		deep = []any{deep}
	}
	many := M{}
	for i := range 200 {
		many[fmt.Sprint("k", i)] = i
	}
	outer := M{"token": "x"}
	for i := range 100 {
		outer[fmt.Sprint("k", i)] = i
	}
	for _, f := range [][]byte{
		mustMarshal(M{"token": hs256(M{"endpoint": "big/get", "doc": M{"d": deep}}, DefaultAnonToken), "call_id": "deep"}),
		mustMarshal(M{"token": hs256(M{"endpoint": "big/get", "doc": many}, DefaultAnonToken), "call_id": "many"}),
		mustMarshal(outer),
		[]byte(`{"token": 1, "call_id": "bad"}`),
	} {
		if err := c.frame(f); err != nil {
			t.Fatal(err)
		}
	}
	// The sixth frame within the minute is over the quota of 5.
	if err := c.call("big/get", M{"size": 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.call("big/get", M{"size": 1}); err != nil {
		t.Fatal(err)
	}
	var got []string
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < 7 {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			t.Fatalf("read after %v: %v", got, err)
		}
		n := int(h[1] & 0x7f)
		if n == 126 {
			var b [2]byte
			_, _ = io.ReadFull(c.br, b[:])
			n = int(binary.BigEndian.Uint16(b[:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			t.Fatal(err)
		}
		var r struct {
			Status int
			Args   M
		}
		if err := json.Unmarshal(p, &r); err != nil {
			t.Fatalf("reply %s: %v", p, err)
		}
		got = append(got, fmt.Sprintf("%d %v %v", r.Status, r.Args["call_id"], r.Args["code"]))
	}
	want := []string{
		"200 <nil> CORE_CONN_READY",
		"403 deep CORE_REQ_INVALID_TOKEN",
		"403 many CORE_REQ_INVALID_TOKEN",
		"403 <nil> CORE_REQ_INVALID_TOKEN",
		"403 bad CORE_REQ_INVALID_TOKEN",
		"200 r1 <nil>",
		"429 r2 CORE_REQ_SESSION_QUOTA_HIT",
	}
	// r1 runs as a call, r2's refusal comes from the reader: either may
	// be first.
	slices.Sort(got[5:])
	slices.Sort(want[5:])
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("replies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The decode limits hold for any input: a document within them decodes
// as without limits, and one past them fails with ErrTooMany or
// ErrTooDeep, never more.
func TestDecodeLimits(t *testing.T) {
	for _, tc := range []struct {
		in      string
		lim     jsonv.Limits
		wantErr error
	}{
		{`{"a": 1, "b": [1, 2]}`, jsonv.Limits{MaxValues: 4}, nil},
		{`{"a": 1, "b": [1, 2, 3]}`, jsonv.Limits{MaxValues: 4}, jsonv.ErrTooMany},
		{`[[[1]]]`, jsonv.Limits{MaxDepth: 3}, nil},
		{`[[[[1]]]]`, jsonv.Limits{MaxDepth: 3}, jsonv.ErrTooDeep},
		{`{"a": {"b": {"c": {}}}}`, jsonv.Limits{MaxDepth: 3}, jsonv.ErrTooDeep},
		{`{}`, jsonv.Limits{MaxValues: 1, MaxDepth: 1}, nil},
		{`{"a": 1, "a": 2}`, jsonv.Limits{MaxValues: 1}, jsonv.ErrTooMany}, // repeated keys count
		{`"` + strings.Repeat("s", 1<<16) + `"`, jsonv.Limits{MaxValues: 1, MaxDepth: 1}, nil},
	} {
		for _, ordered := range []bool{false, true} {
			parse := jsonv.ParseLimited
			if ordered {
				parse = jsonv.ParseOrderedLimited
			}
			_, err := parse([]byte(tc.in), tc.lim)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("%.40s %+v ordered=%v: %v, want %v", tc.in, tc.lim, ordered, err, tc.wantErr)
			}
		}
	}
}

func FuzzDecodeLimits(f *testing.F) {
	for _, s := range []string{`{"a": [1, {"b": 2}]}`, `[[[[[]]]]]`, `{"a":1,"a":2,"b":3}`, `[1,2,3,4,5,6]`} {
		f.Add([]byte(s), uint8(3), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxValues, maxDepth uint8) {
		lim := jsonv.Limits{MaxValues: int(maxValues) + 1, MaxDepth: int(maxDepth) + 1}
		want, werr := jsonv.Parse(data)
		got, err := jsonv.ParseLimited(data, lim)
		if werr != nil {
			if err == nil {
				t.Fatalf("limited parse accepts what Parse refuses: %v", werr)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, jsonv.ErrTooMany) && !errors.Is(err, jsonv.ErrTooDeep) {
				t.Fatalf("limited parse fails on valid input with %v", err)
			}
			// Repeated keys are counted but decode to one member, so
			// only depth can be checked against the decoded value.
			if _, depth := measure(want, 1); errors.Is(err, jsonv.ErrTooDeep) && depth <= lim.MaxDepth {
				t.Fatalf("refused as too deep at depth %d (limit %d): %v", depth, lim.MaxDepth, err)
			}
			return
		}
		values, depth := measure(got, 1)
		if values > lim.MaxValues || depth > lim.MaxDepth {
			// Repeated keys make the decoded value smaller than what was
			// counted, never larger.
			t.Fatalf("accepted past limits: %d values, depth %d, limits %+v", values, depth, lim)
		}
	})
}

// measure returns the members plus elements and the nesting depth of v.
func measure(v any, level int) (values, depth int) {
	switch x := v.(type) {
	case map[string]any:
		depth = level
		for _, e := range x {
			n, d := measure(e, level+1)
			values += 1 + n
			depth = max(depth, d)
		}
	case []any:
		depth = level
		for _, e := range x {
			n, d := measure(e, level+1)
			values += 1 + n
			depth = max(depth, d)
		}
	}
	return values, depth
}

// rawReply is a decoded reply read by rawWS.next.
type rawReply struct {
	Status int
	Msg    string
	Args   M
}

// next reads one (unfragmented, small-header) text reply.
func (c *rawWS) next(within time.Duration) (rawReply, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(within))
	var r rawReply
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return r, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return r, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return r, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return r, err
	}
	return r, json.Unmarshal(p, &r)
}

// --durable sets Config.Durable (the embedded store's synchronous=FULL).
func TestDurableFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--generate-ref", "-"}, false},
		{[]string{"--durable", "--generate-ref", "-"}, true},
	} {
		a := New(Config{Name: "durable", Locale: "en_AE"})
		if err := a.RunArgs(context.Background(), tc.args, io.Discard); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := a.Config().Durable; got != tc.want {
			t.Errorf("%v: Config.Durable = %v, want %v", tc.args, got, tc.want)
		}
	}
}
