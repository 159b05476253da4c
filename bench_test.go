package limp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/limp-go/limp"
)

// Benchmarks behind BENCHMARKS.md. Run them with
//
//	go test -run '^$' -bench . -benchtime 3s .
//
// Ratios are taken against baselines measured in the same run.

// echoServer is the baseline: a bare coder/websocket echo server.
func echoServer(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionNoContextTakeover})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := context.Background()
		for {
			typ, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			if err := ws.Write(ctx, typ, data); err != nil {
				return
			}
		}
	}))
	b.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// pipeline sends b.N copies of frame on one connection as fast as the
// server takes them (its back-pressure bounds what is in flight) while a
// reader takes the replies; it reports calls/s.
func pipeline(b *testing.B, url string, frame []byte, skipGreeting bool) {
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ws.CloseNow()
	if skipGreeting {
		if _, _, err := ws.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		for range b.N {
			if _, _, err := ws.Read(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range b.N {
		if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

func heartbeatFrame(b *testing.B) []byte {
	now := time.Now().Unix()
	tok := sign(b, map[string]any{"call_id": "hb", "endpoint": "heart/beat", "sid": "f00000000000000000000012",
		"query": []any{}, "doc": map[string]any{}, "iat": now, "exp": now + 86400}, limp.DefaultAnonToken)
	return mustJSON(map[string]any{"token": tok, "call_id": "hb"})
}

// BenchmarkHeartbeat compares heart/beat calls against the bare echo of
// the same frame (target, issue 13: at least 0.5× the echo rate).
func BenchmarkHeartbeat(b *testing.B) {
	frame := heartbeatFrame(b)
	b.Run("echo-baseline", func(b *testing.B) {
		pipeline(b, echoServer(b), frame, false)
	})
	b.Run("limp", func(b *testing.B) {
		s := testApp(b, limp.Config{CallsInFlight: 64})
		pipeline(b, s.WS, frame, true)
	})
}

// BenchmarkReadByID measures post/read of one document by _id among
// 1,000, one call at a time: calls/s, p50 and p99 latency.
func BenchmarkReadByID(b *testing.B) {
	s := testApp(b, limp.Config{})
	c := dial(b, s.WS)
	var ids []string
	for i := range 1000 {
		r := must(b, c.call("post/create", nil, map[string]any{"title": map[string]any{"en_AE": "t"}, "permalink": "p" + strconv.Itoa(i)}))
		ids = append(ids, docs(b, r)[0]["_id"].(string))
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		t0 := time.Now()
		r := c.call("post/read", []any{map[string]any{"_id": ids[i%len(ids)]}}, nil)
		lat = append(lat, time.Since(t0))
		if r.Status != 200 || r.Args["count"] != 1.0 {
			b.Fatalf("read = %+v", r)
		}
	}
	el := time.Since(start)
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/el.Seconds(), "calls/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkIdleConnMemory opens 2,000 idle connections to a server in a
// child process and reports the growth of the server's memory per
// connection (target: at most 40 KB). The child is this test binary
// running TestIdleMemoryServer.
func BenchmarkIdleConnMemory(b *testing.B) {
	const conns = 2000
	for range b.N {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleMemoryServer$", "-test.v")
		cmd.Env = append(os.Environ(), "LIMP_MEMORY_SERVER=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		addr := ""
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addr = a
				break
			}
		}
		if addr == "" {
			b.Fatal("memory server did not start")
		}
		mem := func() float64 {
			resp, err := http.Get("http://" + addr + "/__mem")
			if err != nil {
				b.Fatal(err)
			}
			defer resp.Body.Close()
			var v float64
			if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
				b.Fatal(err)
			}
			return v
		}
		before := mem()
		var wss []*websocket.Conn
		for range conns {
			ws, _, err := websocket.Dial(context.Background(), "ws://"+addr+"/ws", nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := ws.Read(context.Background()); err != nil {
				b.Fatal(err)
			}
			wss = append(wss, ws)
		}
		time.Sleep(200 * time.Millisecond)
		after := mem()
		b.ReportMetric((after-before)/conns/1024, "KB/conn")
		for _, ws := range wss {
			_ = ws.CloseNow()
		}
		_ = stdin.Close()
		_ = cmd.Wait()
	}
}

// TestIdleMemoryServer is the child process of BenchmarkIdleConnMemory;
// it does nothing unless LIMP_MEMORY_SERVER is set.
func TestIdleMemoryServer(t *testing.T) {
	if os.Getenv("LIMP_MEMORY_SERVER") == "" {
		t.Skip("child process of BenchmarkIdleConnMemory")
	}
	s := testApp(t, limp.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/__mem", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		// Memory the process holds for live objects and stacks.
		fmt.Fprint(w, ms.HeapInuse+ms.StackInuse)
	})
	mux.Handle("/", s.App)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	fmt.Println("ADDR " + ln.Addr().String())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	_ = srv.Close()
}

// Doc20 mirrors the 20-attr document of BenchmarkConvert20, for the share
// of validation in a full create.
type Doc20 struct {
	limp.Doc
	Title    limp.Locale       `json:"title"`
	Slug     string            `json:"slug" limp:"pattern=[a-z0-9-]+"`
	Status   string            `json:"status" validate:"oneof=draft published"`
	Email    string            `json:"email" limp:"type=EMAIL"`
	Phone    string            `json:"phone" limp:"type=PHONE"`
	Site     string            `json:"site" limp:"type=URI_WEB"`
	IP       string            `json:"ip" limp:"type=IP"`
	When     string            `json:"when" limp:"type=DATETIME"`
	Day      string            `json:"day" limp:"type=DATE"`
	Count    int64             `json:"count" limp:"min=0,max=1000"`
	Price    float64           `json:"price"`
	Active   bool              `json:"active"`
	Owner    limp.ID           `json:"owner"`
	Tags     []string          `json:"tags" limp:"max=10"`
	Refs     []limp.ID         `json:"refs"`
	Meta     map[string]string `json:"meta"`
	Loc      limp.Geo          `json:"loc"`
	Extra    any               `json:"extra"`
	Note     *string           `json:"note"`
	Position struct {
		X int64 `json:"x"`
		Y int64 `json:"y"`
	} `json:"position"`
}

// BenchmarkCreate20 is a full create call of the 20-attr document over
// the websocket, one at a time; compare with BenchmarkConvert20.
func BenchmarkCreate20(b *testing.B) {
	m := limp.NewModule[Doc20]("doc20", limp.Methods{"create": {Permissions: limp.Perms("*")}})
	s := startApp(b, limp.Config{Name: "bench", QuotaIPMin: -1, QuotaAnonMin: -1}, m)
	c := dial(b, s.WS)
	var doc map[string]any
	if err := json.Unmarshal([]byte(`{"title":{"ar_AE":"عنوان","en_AE":"Title"},"slug":"a-post","status":"draft","email":"a@example.com",
"phone":"+971501234567","site":"https://example.com/x","ip":"10.0.0.1","when":"2020-01-01T10:00:00","day":"2020-01-01",
"count":12,"price":9.5,"active":true,"owner":"5e1d1e0c0a1b2c3d4e5f6071","tags":["a","b"],
"refs":["5e1d1e0c0a1b2c3d4e5f6071"],"meta":{"k":"v"},"loc":{"type":"Point","coordinates":[55.2,25.1]},
"extra":{"any":[1,2]},"note":"n","position":{"x":1,"y":2}}`), &doc); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		must(b, c.call("doc20/create", nil, doc))
	}
}
