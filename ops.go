package limp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Operational endpoints, served before LIMP's HTTP interface. They have one
// path segment, so they never shadow a /{module}/{method} call.
const (
	// HealthPath answers liveness probes: 200 {"status": "ok"} while the
	// process serves HTTP, whether or not the app is started.
	HealthPath = "/health"
	// ReadyPath answers readiness probes: 200 {"status": "ok"} when the app
	// is started, not shutting down, and its store answers a ping within
	// ReadyTimeout; else 503 {"status": "unavailable"} (the cause is
	// logged, never sent).
	ReadyPath = "/ready"
	// ReadyTimeout bounds the store ping of a /ready probe.
	ReadyTimeout = 2 * time.Second
)

// serveOps serves /health, /ready and Config.MetricsPath; it reports
// whether it served r.
func (a *App) serveOps(w http.ResponseWriter, r *http.Request) bool {
	switch p := r.URL.Path; {
	case p == HealthPath:
		writeStatus(w, http.StatusOK, "ok")
	case p == ReadyPath:
		if !a.started.Load() || a.stopping.Load() {
			// Starting or stopping: expected, not logged (and the
			// logger is set by Start).
			writeStatus(w, http.StatusServiceUnavailable, "unavailable")
			return true
		}
		if err := a.ready(r.Context()); err != nil {
			a.Logger().Warn("readiness probe failed", "err", err)
			writeStatus(w, http.StatusServiceUnavailable, "unavailable")
			return true
		}
		writeStatus(w, http.StatusOK, "ok")
	case a.started.Load() && a.metrics != nil && p == a.cfg.MetricsPath:
		// started first: Start sets cfg and metrics before it.
		a.metrics.handler.ServeHTTP(w, r)
	default:
		return false
	}
	return true
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, `{"status":"`+status+`"}`)
}

// ready reports why the app cannot serve calls, or nil.
func (a *App) ready(ctx context.Context) error {
	if !a.started.Load() {
		return errors.New("app not started")
	}
	if a.stopping.Load() {
		return errors.New("app shutting down")
	}
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	return a.pingStore(ctx)
}

// pinger is a store that can check it is reachable cheaply.
type pinger interface {
	Ping(ctx context.Context) error
}

// backuper is a store that can copy itself consistently while serving.
type backuper interface {
	Backup(ctx context.Context, path string) error
}

// unwrapStore returns the first store in st's wrapping chain (Unwrap)
// that is a T.
func unwrapStore[T any](st store.Store) (T, bool) {
	for st != nil {
		if t, ok := st.(T); ok {
			return t, true
		}
		u, ok := st.(interface{ Unwrap() store.Store })
		if !ok {
			break
		}
		st = u.Unwrap()
	}
	var zero T
	return zero, false
}

// pingStore checks the store answers: its Ping, or else a one-document
// read of the session collection.
func (a *App) pingStore(ctx context.Context) error {
	if p, ok := unwrapStore[pinger](a.store); ok {
		return p.Ping(ctx)
	}
	sessions := a.modules["session"]
	_, err := a.store.Read(ctx, sessions.coll, &query.Query{Limit: 1})
	return err
}

// Backup writes a consistent copy of the embedded store's database to path
// while the app serves (SQLite's VACUUM INTO: one read transaction, so
// writes made meanwhile are either wholly in the copy or not at all), then
// copies the file contents (Config.FilesDir, default Data + ".files") to
// path + ".files" when the app keeps them in a directory. The copy is
// written under a temporary name and renamed, so path never holds a
// partial database; path must not exist. To restore, stop the app and run
// it with --data path (or copy path and path.files over Data and
// Data.files, removing Data-wal and Data-shm). The App must be started.
// On MongoDB it returns an error: use mongodump.
func (a *App) Backup(ctx context.Context, path string) error {
	if !a.started.Load() {
		return errors.New("limp: backup: app not started")
	}
	b, ok := unwrapStore[backuper](a.store)
	if !ok {
		return errors.New("limp: backup: the store cannot be backed up by limp (on MongoDB use mongodump)")
	}
	dir := ""
	if a.cfg.FilesDir != "" {
		dir = a.cfg.FilesDir
	} else if !isMemData(a.cfg.Data) {
		dir = a.cfg.Data + ".files"
	}
	return backupTo(ctx, b, dir, path)
}

func isMemData(data string) bool {
	return data == ":memory:" || data == "" || len(data) >= 13 && data[:13] == "file::memory:"
}

// backupTo runs b's backup into a temporary file beside path, renames it
// to path, and copies the files directory dir (if it exists) to
// path + ".files".
func backupTo(ctx context.Context, b backuper, dir, path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("limp: backup: %s exists", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("limp: backup: %w", err)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, time.Now().UnixNano())
	if err := b.Backup(ctx, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("limp: backup: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("limp: backup: %w", err)
	}
	if dir == "" {
		return nil
	}
	if err := copyTree(ctx, filepath.Join(dir, "objects"), filepath.Join(path+".files", "objects")); err != nil {
		return fmt.Errorf("limp: backup files: %w", err)
	}
	return nil
}

// copyTree copies the regular files under src to dst (a missing src copies
// nothing). File contents are immutable once committed, so a copy made
// while serving holds every file the database copy references.
func copyTree(ctx context.Context, src, dst string) error {
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile (or no files at all)
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o750)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(p, out)
	})
	return err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // collected meanwhile: no longer referenced
	}
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// metrics are the app's Prometheus collectors, in a registry of its own
// (never the global one), served at Config.MetricsPath.
type metrics struct {
	reg     *prometheus.Registry
	handler http.Handler
	calls   *prometheus.CounterVec   // endpoint, code
	latency *prometheus.HistogramVec // endpoint
	uploads *prometheus.CounterVec   // transport
	bytes   *prometheus.CounterVec   // transport
	watches prometheus.Gauge
}

// newMetrics registers the collectors of a.
func (a *App) newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "limp_calls_total",
			Help: "Calls answered, by endpoint (module/method) and reply status code.",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "limp_call_duration_seconds",
			Help:    "Time from a call's dispatch to its reply, by endpoint.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "limp_uploads_total",
			Help: "Files uploaded completely, by transport (ws: file/upload chunks; http: POST /file/create).",
		}, []string{"transport"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "limp_upload_bytes_total",
			Help: "Bytes of the files counted by limp_uploads_total, by transport.",
		}, []string{"transport"}),
		watches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "limp_watches_open",
			Help: "Watches (live queries) open.",
		}),
	}
	conns := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "limp_connections_open",
		Help: "Websocket connections open.",
	}, func() float64 {
		a.connsMu.Lock()
		defer a.connsMu.Unlock()
		return float64(len(a.conns))
	})
	reg.MustRegister(m.calls, m.latency, m.uploads, m.bytes, m.watches, conns,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return m
}

// observeCall counts one answered call; start is when it was dispatched
// (zero: latency not observed). A no-op when metrics are off.
func (a *App) observeCall(endpoint string, status int, start time.Time) {
	m := a.metrics
	if m == nil {
		return
	}
	if endpoint == "" {
		endpoint = "-"
	}
	m.calls.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	if !start.IsZero() {
		m.latency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	}
}

// metricsStart returns the time to pass to observeCall: now when metrics
// are on, else zero (no clock read).
func (a *App) metricsStart() time.Time {
	if a.metrics == nil {
		return time.Time{}
	}
	return time.Now()
}

// observeUpload counts a completed upload of size bytes.
func (a *App) observeUpload(transport string, size int64) {
	if m := a.metrics; m != nil {
		m.uploads.WithLabelValues(transport).Inc()
		m.bytes.WithLabelValues(transport).Add(float64(size))
	}
}

// observeWatches adds delta (+1 opened, -1 closed) to the open watches
// gauge; the watch methods call it.
func (a *App) observeWatches(delta int) {
	if m := a.metrics; m != nil {
		m.watches.Add(float64(delta))
	}
}

// statusWriter records the status code of an HTTP reply, for metrics.
type statusWriter struct {
	http.ResponseWriter
	code     int
	endpoint string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setMetricsEndpoint names the endpoint an HTTP call is counted under,
// once it is known to be declared (bounded label values).
func setMetricsEndpoint(w http.ResponseWriter, endpoint string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.endpoint = endpoint
	}
}

// serveHTTPObserved serves an HTTP call through serveHTTPCall, counting it
// when metrics are on. Calls to undeclared endpoints are counted as "-".
func (a *App) serveHTTPObserved(w http.ResponseWriter, r *http.Request) {
	if a.metrics == nil {
		a.serveHTTPCall(w, r)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	a.serveHTTPCall(sw, r)
	if sw.code == 0 {
		sw.code = http.StatusOK
	}
	a.observeCall(sw.endpoint, sw.code, start)
}

// fileSize returns the "size" of a stored file value.
func fileSize(v M) int64 {
	switch n := v["size"].(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}
