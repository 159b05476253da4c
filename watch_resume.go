package limp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"runtime/debug"
	"time"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/query"
)

// Resuming a watch (issue 14 item 6), bounds and on-watch hooks (item 7).
//
// Wire (beyond LIMP's, spec §6.12; LIMP's keys keep their shapes):
//
//   - The created reply carries args.resume, the watch's resume token (an
//     opaque string, unguessable, valid for the session that opened the
//     watch). Every event carries args.seq: 1 for the watch's first event,
//     then +1 for each, without gaps.
//   - When the connection ends, the watch is retained for
//     Config.WatchRetention (default 2 minutes): it keeps matching changes
//     under the same permission checks (a revoked session ends it) and
//     keeps its events, bounded by Config.WatchRetainEvents and
//     Config.WatchRetainBytes; one more unsent event than those bounds
//     hold ends it.
//   - A client re-calls the same watch method with the step
//     {"$resume": {"watch": <token>, "seq": <last args.seq received, 0 for none>}}
//     in its query (the query's other steps are then the watch's own: the
//     resumed watch keeps its query). When the watch is retained, was
//     opened by the same session (same session _id and user), on the same
//     endpoint, and still holds every event after seq (a watch still
//     attached to another connection of that session, whose end the
//     server has not seen yet, is claimed from it), the reply is
//     "Created watch task." with args {code: CORE_WATCH_OK, watch: <new
//     call_id>, call_id, resume: <same token>, resumed: true}, followed by
//     exactly the events after seq (no gap, no duplicate), then live ones,
//     all on the new call_id. Otherwise (unknown or expired token, another
//     session's or user's watch, seq out of range) a fresh watch starts and
//     its created reply carries resumed: false, snapshot: true, and the
//     documents matching now as read returns them: count and docs. Another
//     session's retained watch is left untouched.
//   - A malformed $resume is 400 CORE_WATCH_INVALID_RESUME.
//   - Limits: Config.WatchesPerConn (default 64) watches per connection,
//     429 CORE_WATCH_LIMIT past it; Config.WatchesPerNode (default 100000)
//     per App, retained ones included, 503 CORE_WATCH_NODE_LIMIT.

// Defaults of the watch fields of Config.
const (
	DefaultWatchesPerConn    = 64
	DefaultWatchesPerNode    = 100_000
	DefaultWatchRetention    = 2 * time.Minute
	DefaultWatchRetainEvents = 256
	DefaultWatchRetainBytes  = 256 << 10
)

// Codes of the watch bounds and resume errors (limp-go's own; LIMP had
// neither).
const (
	// CodeWatchLimit: too many watches on the connection (status 429).
	CodeWatchLimit = "CORE_WATCH_LIMIT"
	// CodeWatchNodeLimit: too many watches on the node (status 503).
	CodeWatchNodeLimit = "CORE_WATCH_NODE_LIMIT"
	// CodeWatchInvalidResume: a malformed $resume step (status 400).
	CodeWatchInvalidResume = "CORE_WATCH_INVALID_RESUME"
)

var (
	errWatchNodeLimit = NewError(503, CodeWatchNodeLimit, "Too many watch tasks on this server; try again later.")
	errWatchResume    = NewError(400, CodeWatchInvalidResume, `$resume takes {"watch": <resume token>, "seq": <integer ≥ 0>}.`)
)

func (c *Config) setWatchDefaults() {
	if c.WatchesPerConn <= 0 {
		c.WatchesPerConn = DefaultWatchesPerConn
	}
	if c.WatchesPerNode <= 0 {
		c.WatchesPerNode = DefaultWatchesPerNode
	}
	if c.WatchRetention == 0 {
		c.WatchRetention = DefaultWatchRetention
	}
	if c.WatchRetainEvents <= 0 {
		c.WatchRetainEvents = DefaultWatchRetainEvents
	}
	if c.WatchRetainBytes <= 0 {
		c.WatchRetainBytes = DefaultWatchRetainBytes
	}
}

// WatchHook is an on-watch hook (LIMP's on_watch, spec §6.12): it runs for
// each event of a watch on the module, on the watcher's goroutine, with
// the watcher's call (its session, query and Payload) and the event's oper
// ("create", "update", "delete") and document, already shaped for that
// caller ({_id} for a delete). It returns the document to send (doc
// itself, changed, or another), nil to drop the event for this caller (it
// then takes no args.seq), or an error, which ends the watch with that
// error as its last reply. A panic is a 500 that ends the watch.
type WatchHook func(ctx context.Context, c *Call, oper string, doc M) (M, error)

func (a *App) runWatchHook(ctx context.Context, h WatchHook, c *Call, oper string, doc M) (out M, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("panic in on-watch hook of %s: %v\n%s", c.Endpoint, r, debug.Stack())
		}
	}()
	return h(ctx, c, oper, doc)
}

func newWatchToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (w *watchState) init() {
	if w.byConn == nil {
		w.byConn = map[*conn]map[string]*watchTask{}
		w.byColl = map[string]*collWatch{}
		w.pending = map[*Call]*watchTask{}
		w.retained = map[string]*watchTask{}
		w.tokens = map[string]*watchTask{}
	}
}

// resumeReq is a parsed $resume step.
type resumeReq struct {
	token string
	seq   uint64
}

// takeResume removes the $resume steps of c's query and returns the last
// one (nil when there is none).
func takeResume(c *Call) (*resumeReq, error) {
	if c.Query == nil {
		return nil, nil
	}
	var val any
	found := false
	steps := c.Query.Steps()
	kept := make([]any, 0, len(steps))
	for _, st := range steps {
		o, ok := st.(jsonv.Object)
		if !ok {
			kept = append(kept, st)
			continue
		}
		var rest jsonv.Object
		for _, m := range o {
			if m.Key == "$resume" {
				val, found = m.Value, true
				continue
			}
			rest = append(rest, m)
		}
		if len(rest) > 0 || len(o) == 0 {
			kept = append(kept, rest)
		}
	}
	if !found {
		return nil, nil
	}
	c.Query = &Query{steps: kept, legacy: c.Query.legacy}
	o, ok := toOrdered(val).(jsonv.Object)
	if !ok || len(o) != 2 {
		return nil, errWatchResume
	}
	tok, ok1 := o.Get("watch")
	seq, ok2 := o.Get("seq")
	ts, ok3 := tok.(string)
	if !ok1 || !ok2 || !ok3 || ts == "" || len(ts) > 64 {
		return nil, errWatchResume
	}
	n, ok := wholeNumber(seq)
	if !ok {
		return nil, errWatchResume
	}
	return &resumeReq{token: ts, seq: n}, nil
}

// wholeNumber reads a JSON integer ≥ 0.
func wholeNumber(v any) (uint64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case int:
		f = float64(x)
	default:
		return 0, false
	}
	if f < 0 || f != math.Trunc(f) || f > 1<<53 {
		return 0, false
	}
	return uint64(f), true
}

// resume reattaches the retained watch rs names to c's connection and
// returns the created reply; it returns nil, nil when the watch cannot
// be resumed (the caller then starts a fresh one, with a snapshot).
func (a *App) resume(c *Call, rs *resumeReq) (*Result, error) {
	w := &a.wt
	w.mu.Lock()
	w.init()
	t := w.retained[rs.token]
	attached := false
	if t == nil {
		// Still attached to a connection: the client reconnected before
		// the server saw its old connection end (a dropped network is
		// noticed only at the next write timeout). Claimed from it below.
		t = w.tokens[rs.token]
		attached = true
	}
	if t == nil {
		w.mu.Unlock()
		return nil, nil
	}
	t.mu.Lock()
	owner := t.sess
	t.mu.Unlock()
	if owner == nil || c.Session == nil || owner.ID != c.Session.ID || owner.UserID != c.Session.UserID ||
		t.endpoint != c.Endpoint || t.stopped.Load() {
		// Another session's watch (or another method): untouched.
		w.mu.Unlock()
		return nil, nil
	}
	if tasks := w.byConn[c.conn]; len(tasks) >= a.cfg.WatchesPerConn && tasks[fmt.Sprint(c.CallID)] == nil {
		w.mu.Unlock()
		return nil, errWatchLimit
	}
	if attached {
		for _, p := range w.pending {
			if p == t {
				// Its created reply is not out yet: not resumable.
				w.mu.Unlock()
				return nil, nil
			}
		}
		t.mu.Lock()
		oldc, oldID := t.c, t.id
		t.mu.Unlock()
		if tasks := w.byConn[oldc]; tasks != nil && tasks[oldID] == t {
			delete(tasks, oldID)
			if len(tasks) == 0 {
				delete(w.byConn, oldc)
			}
		}
		t.out.detach() // the old connection gets no more of its events
	}
	delete(w.retained, rs.token) // claimed
	if t.expiry != nil {
		t.expiry.Stop()
		t.expiry = nil
	}
	w.mu.Unlock()

	if !t.out.resuming(rs.seq) {
		t.end(nil) // the client's seq is not ours or is gone: useless now
		return nil, nil
	}
	id := fmt.Sprint(c.CallID)
	w.mu.Lock()
	if t.stopped.Load() {
		w.mu.Unlock()
		return nil, nil
	}
	tasks := w.byConn[c.conn]
	if tasks == nil {
		tasks = map[string]*watchTask{}
		w.byConn[c.conn] = tasks
	}
	if old := tasks[id]; old != nil {
		old.end(nil)
	}
	t.mu.Lock()
	t.c, t.id, t.callID = c.conn, id, c.CallID
	t.mu.Unlock()
	tasks[id] = t
	w.pending[c] = t
	w.mu.Unlock()
	return OK("Created watch task.", M{"code": "CORE_WATCH_OK", "watch": c.CallID, "resume": t.token, "resumed": true}), nil
}

// retainWatch keeps t (of the closing connection c) for a resume; false
// when watches are not retained or t is over.
func (a *App) retainWatch(c *conn, t *watchTask) bool {
	if a.cfg.WatchRetention <= 0 || t.stopped.Load() {
		return false
	}
	w := &a.wt
	w.mu.Lock()
	defer w.mu.Unlock()
	if t.stopped.Load() {
		return false
	}
	t.mu.Lock()
	id, mine := t.id, t.c == c
	t.mu.Unlock()
	if !mine {
		return true // resumed on another connection meanwhile
	}
	t.out.detach()
	if tasks := w.byConn[c]; tasks != nil && tasks[id] == t {
		delete(tasks, id)
		if len(tasks) == 0 {
			delete(w.byConn, c)
		}
	}
	w.retained[t.token] = t
	t.expiry = time.AfterFunc(a.cfg.WatchRetention, func() {
		w.mu.Lock()
		mine := w.retained[t.token] == t
		if mine {
			delete(w.retained, t.token)
		}
		w.mu.Unlock()
		if mine {
			t.end(nil)
		}
	})
	return true
}

// closeWatch ends every watch (Shutdown, after the connections: the
// retained ones are left), waits for their goroutines and stops the
// change feed.
func (a *App) closeWatch() {
	a.closeWatchRefs() // watch_join.go
	w := &a.wt
	w.mu.Lock()
	var tasks []*watchTask
	for _, t := range w.retained {
		tasks = append(tasks, t)
	}
	for _, m := range w.byConn {
		for _, t := range m {
			tasks = append(tasks, t)
		}
	}
	w.mu.Unlock()
	for _, t := range tasks {
		t.end(nil)
	}
	w.wg.Wait()
	w.active.Wait()
	a.feedHub().Close()
}

// watchSnapshot reads the documents t's query matches now, shaped as
// read returns them to its caller (a resume that could not be honoured).
func (a *App) watchSnapshot(ctx context.Context, t *watchTask) ([]any, error) {
	t.mu.Lock()
	call, q := t.call, t.q
	t.mu.Unlock()
	res, err := a.store.Read(ctx, t.m.coll, &query.Query{Filter: q.Filter, Sort: q.Sort, Skip: q.Skip, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(res.Docs))
	for _, d := range res.Docs {
		doc, err := a.shapeWatchDoc(ctx, call, t.m, q, d)
		if err != nil {
			return nil, err
		}
		if h := t.m.Hooks.OnWatch; h != nil && call.skip&skipOn == 0 {
			if doc, err = a.runWatchHook(ctx, h, call, "create", doc); err != nil {
				return nil, err
			}
			if doc == nil {
				continue
			}
		}
		out = append(out, doc)
	}
	return out, nil
}
