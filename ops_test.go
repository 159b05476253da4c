package limp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

func httpGet(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// TestHealthReady: /health answers 200 whenever the process serves;
// /ready only while the app is started and its store answers.
func TestHealthReady(t *testing.T) {
	app := limp.New(limptest.Config(t, limp.Config{Name: "ops", MetricsPath: "/metrics"}))
	for _, tc := range []struct {
		path, body string
		code       int
	}{
		{"/health", `{"status":"ok"}`, 200},
		{"/ready", `{"status":"unavailable"}`, 503}, // not started
	} {
		if code, body := httpGet(t, app, tc.path); code != tc.code || body != tc.body {
			t.Errorf("before Start: GET %s = %d %s, want %d %s", tc.path, code, body, tc.code, tc.body)
		}
	}
	// Probes arrive while the app starts (under -race: no data race).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 10000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, p := range []string{"/health", "/ready", "/metrics"} {
				httpGet(t, app, p)
			}
		}
	})
	srv := limptest.Start(t, app)
	close(stop)
	wg.Wait()
	for _, p := range []string{"/health", "/ready", "/metrics"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if p == "/metrics" {
			if res.StatusCode != 200 || !strings.Contains(string(b), "limp_connections_open 0") {
				t.Errorf("started: GET /metrics = %d %.200s", res.StatusCode, b)
			}
			continue
		}
		if res.StatusCode != 200 || string(b) != `{"status":"ok"}` || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("started: GET %s = %d %q (%s)", p, res.StatusCode, b, res.Header.Get("Content-Type"))
		}
	}
	// The store is lost: not ready, still alive.
	if err := limp.CloseStoreForTest(app); err != nil {
		t.Fatal(err)
	}
	if code, _ := httpGet(t, app, "/ready"); code != 503 {
		t.Errorf("store closed: /ready = %d, want 503", code)
	}
	if code, _ := httpGet(t, app, "/health"); code != 200 {
		t.Errorf("store closed: /health = %d, want 200", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _ := httpGet(t, app, "/ready"); code != 503 {
		t.Errorf("shut down: /ready = %d, want 503", code)
	}
	if code, _ := httpGet(t, app, "/health"); code != 200 {
		t.Errorf("shut down: /health = %d, want 200", code)
	}
}

// TestMetrics: with Config.MetricsPath, calls (websocket and HTTP, by
// endpoint and status code), latencies, connections, uploads and watches
// are served in the Prometheus text format; without it nothing is.
func TestMetrics(t *testing.T) {
	srv := testApp(t, limp.Config{MetricsPath: "/metrics"})
	c := srv.Client(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 2 {
		if _, err := c.Call(ctx, "ping/echo", nil, map[string]any{"a": 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Call(ctx, "post/update", nil, map[string]any{"title": "x"}); client.CodeOf(err) == "" {
		t.Fatalf("post/update without _id: %v, want an error", err)
	}
	data := []byte("metrics upload")
	if err := c.Upload(ctx, "image", 0, client.File{Name: "a.txt", Type: "text/plain", Size: int64(len(data))}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(srv.URL + "/ping/get/3")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = http.Get(srv.URL + "/nope/nope")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	limp.ObserveWatches(srv.App, 2)
	limp.ObserveWatches(srv.App, -1)

	wants := []string{
		`limp_calls_total{code="200",endpoint="ping/echo"} 2`,
		`limp_calls_total{code="400",endpoint="post/update"} 1`,
		`limp_calls_total{code="200",endpoint="file/upload"} 1`,
		`limp_calls_total{code="200",endpoint="ping/get"} 1`,
		`limp_calls_total{code="404",endpoint="-"} 1`,
		`limp_call_duration_seconds_count{endpoint="ping/echo"} 2`,
		`limp_call_duration_seconds_bucket{endpoint="ping/echo",le="+Inf"} 2`,
		`limp_connections_open 1`,
		`limp_watches_open 1`,
		`limp_uploads_total{transport="ws"} 1`,
		fmt.Sprintf(`limp_upload_bytes_total{transport="ws"} %d`, len(data)),
		`go_goroutines `,
	}
	// A call is counted just after its reply is sent: poll briefly.
	var body string
	var missing []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		res, err = http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body = string(b)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("GET /metrics = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(body, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range missing {
		t.Errorf("metrics lack %q", m)
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}

	// Off by default: the path is an ordinary (unknown) LIMP path.
	off := testApp(t, limp.Config{})
	if code, body := httpGet(t, off.App, "/metrics"); code != 404 || strings.Contains(body, "limp_calls_total") {
		t.Errorf("metrics off: GET /metrics = %d %s, want 404", code, body)
	}
}

// TestBackupWhileServing: App.Backup and --backup copy the embedded store
// (documents and file contents) while writes go on; the copy opens as an
// app's store with every document written before the backup started.
func TestBackupWhileServing(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "live.db")
	srv := testApp(t, limp.Config{Data: data})
	c := srv.Client(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 20 {
		if _, err := c.Call(ctx, "post/create", nil, map[string]any{"title": map[string]any{"en_AE": "before"}, "status": "published", "permalink": fmt.Sprint("b-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	payload := []byte("file contents kept beside the database")
	if err := c.Upload(ctx, "image", 0, client.File{Name: "f.txt", Type: "text/plain", Size: int64(len(payload))}, bytes.NewReader(payload)); err != nil {
		t.Fatal(err)
	}
	// A writer keeps writing during both backups (bounded).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		w := srv.Client(t, nil)
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := w.Call(ctx, "post/create", nil, map[string]any{"title": map[string]any{"en_AE": "during"}, "permalink": fmt.Sprint("d-", i)}); err != nil {
				t.Errorf("write during backup: %v", err)
				return
			}
		}
	})
	copy1 := filepath.Join(dir, "b1", "copy.db")
	err := srv.App.Backup(ctx, copy1)
	if err == nil {
		// The CLI, from another App on the same file (as another process would).
		cli := limp.New(limp.Config{Name: "test", Data: data})
		var out bytes.Buffer
		err = cli.RunArgs(ctx, []string{"--backup", filepath.Join(dir, "b2", "copy.db")}, &out)
		if err == nil && !strings.Contains(out.String(), "backed up") {
			t.Errorf("--backup printed %q", out.String())
		}
	}
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	// An existing target is refused, not overwritten.
	if err := srv.App.Backup(ctx, copy1); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("backup onto an existing file: %v", err)
	}
	for _, p := range []string{copy1, filepath.Join(dir, "b2", "copy.db")} {
		matches, _ := filepath.Glob(filepath.Join(filepath.Dir(p), "*.tmp-*"))
		if len(matches) > 0 {
			t.Errorf("temporary files left: %v", matches)
		}
		objs := 0
		_ = filepath.WalkDir(p+".files", func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				objs++
			}
			return nil
		})
		if objs == 0 {
			t.Errorf("%s.files holds no file contents", p)
		}
		restored := testApp(t, limp.Config{Data: p})
		rc := restored.Client(t, nil)
		r, err := client.Read[map[string]any](ctx, rc, "post", []any{map[string]any{"status": "published"}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Count != 20 {
			t.Errorf("restored %s: %d documents written before the backup, want 20", p, r.Count)
		}
	}
}

// TestRunLogsURLs: the startup log names the websocket and health URLs.
func TestRunLogsURLs(t *testing.T) {
	addr, logs := runAndAddr(t, limp.Config{}, "--listen", "127.0.0.1:0")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs, "ws://"+addr+"/ws") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{"ws=ws://" + addr + "/ws", "health=http://" + addr + "/health"} {
		if !strings.Contains(logs, want) {
			t.Errorf("startup log lacks %q:\n%s", want, logs)
		}
	}
}
