package limp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// httpReq is one HTTP request being served (not a websocket), kept so
// that Shutdown can end it when its context ends.
type httpReq struct {
	rc     *http.ResponseController
	cancel context.CancelFunc
}

// httpReqs are the requests in flight.
type httpReqs struct {
	mu   sync.Mutex
	reqs map[*httpReq]struct{}
}

// trackHTTP prepares an HTTP request for serving under the App's bounds:
// its context ends at a forced shutdown, its body reads get deadlines
// relative to progress (Config.ReadTimeout, MinDataRate) and its
// response writes deadlines (WriteTimeout). The returned func must be
// called when the request is done.
func (a *App) trackHTTP(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, func()) {
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(a.hardCtx, cancel)
	hr := &httpReq{rc: rc, cancel: cancel}
	a.httpReqs.mu.Lock()
	if a.httpReqs.reqs == nil {
		a.httpReqs.reqs = map[*httpReq]struct{}{}
	}
	a.httpReqs.reqs[hr] = struct{}{}
	a.httpReqs.mu.Unlock()

	r = r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		start := time.Now()
		b := &bodyReader{r: r.Body, rc: rc, start: start, timeout: a.cfg.ReadTimeout, rate: a.cfg.MinDataRate, abort: a.hardCtx}
		if rc.SetReadDeadline(start.Add(a.cfg.ReadTimeout)) == nil {
			r.Body = b
		}
	}
	dw := &deadlineWriter{ResponseWriter: w, rc: rc, timeout: a.cfg.WriteTimeout, rate: a.cfg.MinDataRate, abort: a.hardCtx}
	return dw, r, func() {
		stop()
		cancel()
		a.httpReqs.mu.Lock()
		delete(a.httpReqs.reqs, hr)
		a.httpReqs.mu.Unlock()
	}
}

// abortHTTP ends every HTTP request in flight: their contexts are
// canceled and their reads and writes fail at once.
func (a *App) abortHTTP() {
	past := time.Unix(1, 0)
	a.httpReqs.mu.Lock()
	defer a.httpReqs.mu.Unlock()
	for hr := range a.httpReqs.reqs {
		hr.cancel()
		_ = hr.rc.SetReadDeadline(past)
		_ = hr.rc.SetWriteDeadline(past)
	}
}

// bodyReader reads a request body under a deadline that moves with
// progress: reading fails once the body has taken ReadTimeout plus its
// bytes at MinDataRate, or ReadTimeout passed since the last bytes, so a
// client trickling bytes cannot hold a handler (and its spool) for long.
type bodyReader struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	n       int64
	timeout time.Duration
	rate    int64
	abort   context.Context // the App's hardCtx: no deadline is extended once it ends
	// timedOut is set once a read missed its deadline (read by the
	// handler's goroutine, which is the reader's).
	timedOut bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 && b.abort.Err() == nil {
		b.n += int64(n)
		now := time.Now()
		d := b.start.Add(b.timeout + time.Duration(b.n)*time.Second/time.Duration(b.rate))
		if idle := now.Add(b.timeout); d.After(idle) {
			d = idle
		}
		_ = b.rc.SetReadDeadline(d)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.timedOut = true
		err = errBodyTimeout
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.r.Close() }

// errBodyTimeout is the read error of a body that came too slowly.
var errBodyTimeout = errors.New("request body came too slowly (read deadline)")

// errBodyTooSlow is the reply to a request whose body came too slowly.
var errBodyTooSlow = NewError(408, CodeRequestTimeout, "Request body came too slowly.")

// deadlineWriter gives every response write a deadline: WriteTimeout plus
// its bytes at MinDataRate. It unwraps for http.ResponseController.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	rate    int64
	abort   context.Context // the App's hardCtx: writes fail once it ends
}

// errAborted is the write error of a request ended by a forced shutdown.
var errAborted = errors.New("limp: request ended by shutdown")

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if w.abort.Err() != nil {
		return 0, errAborted
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout + time.Duration(len(p))*time.Second/time.Duration(w.rate)))
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher when the wrapped writer does.
func (w *deadlineWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
