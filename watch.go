package limp

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limp-go/limp/internal/feed"
	qmatch "github.com/limp-go/limp/internal/match"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/mongo"
)

// Live queries: watch methods (spec §6.12, issue 14).
//
// A watch method (Method.Watch, or a method named "watch" without a
// Handler) runs read's pipeline up to the query: permissions (query_mod),
// args, the parsed query with its joins guarded for the caller. It
// answers at once "Created watch task." (args.code CORE_WATCH_OK,
// args.watch = the call_id), then one reply per change with the same
// call_id: "Detected 1 docs." with args {count: 1, oper, docs: [doc],
// watch}.
//
// Changes come from the store's change feed (internal/feed): every write
// through the app's store (watchedStore) is published after its commit.
// One feed subscription per watched collection matches each changed
// document in process (internal/match) against the filter of every group
// of watchers sharing a filter (watch_group.go), with no database read
// per watcher; the documents conditions through references need are read
// once per change, batched across groups, and a change to a referenced
// document re-checks the watched documents referencing it
// (watch_join.go). Each group remembers which
// documents match it, so a document that starts matching arrives as
// "create", one that stops matching (or stops being readable) as
// "delete" with only its _id, and one that never matched produces
// nothing. Matched documents are then shaped as read shapes them for
// that caller ($attrs, secrets stripped, references expanded with the
// target's permissions, locales filled) on a goroutine of the watcher's
// own that runs while it has events, which sends the reply: a slow
// connection never holds the feed, and a watcher whose queue (WatchQueue
// events) overflows gets 503 CORE_WATCH_OVERFLOW and ends.
//
// Before each event a watcher compares its session with the
// connection's: when the session changed (sign-in, sign-out, session
// switch) or was revoked (revoke.go), the permissions are checked again
// for the new session (its query_mod added to the query) and the filter
// rebuilt; a session that may no longer read ends the watch with the
// permission error. Nothing is sent about a document the new session
// may not read, not even its delete (watch_session.go).
//
// Each event carries args.seq, the watch's own sequence (1, 2, ...
// without gaps), and the created reply args.resume, the watch's resume
// token: a client that lost its connection re-calls the watch method with
// {"$resume": {"watch": <token>, "seq": <last seq received>}} in its query
// and gets exactly the events after seq, then live ones (watch_resume.go).
// A watch is retained for Config.WatchRetention after its connection ends
// and keeps matching changes meanwhile; it ends with watch/delete, once
// the retention is over (or at once when it is negative), or on the
// errors above. On-watch hooks (Hooks.OnWatch) reshape or drop each event
// for its caller.

// WatchQueue bounds the events waiting for one watcher.
const WatchQueue = 256

var (
	errWatchOverflow = NewError(503, "CORE_WATCH_OVERFLOW", "Watch fell behind the changes and was ended.")
	errWatchLimit    = NewError(429, CodeWatchLimit, "Too many watch tasks on this connection.")
	errWatchNoConn   = NewError(400, "CORE_WATCH_NO_CONN", "Watch methods are served over the websocket only.")
	errWatchQuery    = NewError(400, "CORE_WATCH_INVALID_QUERY", "Watch queries take no $search, $geo_near or $group.")
	errWatchLost     = NewError(503, "CORE_WATCH_LOST", "Changes were lost; the watch was ended.")
)

// watchState is the App's live queries.
type watchState struct {
	once sync.Once
	hub  *feed.Hub

	mu       sync.Mutex
	byConn   map[*conn]map[string]*watchTask
	byColl   map[string]*collWatch
	pending  map[*Call]*watchTask  // created, waiting for the created reply
	retained map[string]*watchTask // by resume token: connection gone
	tokens   map[string]*watchTask // by resume token: every watch not ended
	count    atomic.Int64          // tasks not ended (per-node bound)
	wg       sync.WaitGroup        // tasks not finished
	active   sync.WaitGroup        // step goroutines
	refs     watchRefs             // referenced collections followed (watch_join.go)
}

// collWatch is the one feed subscription of a watched collection.
type collWatch struct {
	// mu orders the collection's own changes (onChange) with the
	// re-checks caused by referenced documents (watch_join.go).
	mu     sync.Mutex
	m      *Module
	tasks  map[*watchTask]struct{}
	groups map[string]*watchGroup // by query.Key of the filter
	cancel func()
	idx    groupIndex // which groups a created document may match (watch_index.go)
}

// watchTask is one live query.
type watchTask struct {
	a        *App
	m        *Module
	token    string // resume token (args.resume)
	endpoint string

	mu     sync.Mutex // guards the fields below
	c      *conn      // the connection (the last one while retained)
	id     string     // key in byConn[c]: fmt.Sprint(callID)
	callID any
	sess   *Session
	call   *Call
	q      *query.Query
	failed error       // why the watch ends (nil: quietly)
	expiry *time.Timer // retained: ends the watch

	// out: the events sent, kept for a resume (watch_resume.go).
	out watchOutbox

	g *watchGroup // its filter's group (guarded by watchState.mu)
	// grp is g, readable without watchState.mu: an event matched by
	// another group (before a session change moved the watcher) is
	// matched again under the watcher's filter before delivery.
	grp atomic.Pointer[watchGroup]

	// The events waiting for delivery, at most WatchQueue (grown as
	// needed: an idle watcher holds no buffer). A goroutine delivers them
	// while there are some (step); an idle watcher has none.
	qmu      sync.Mutex
	queue    []watchEvent
	running  atomic.Bool   // a step goroutine runs (or the watch is over)
	ready    atomic.Bool   // "Created watch task." is queued
	finished sync.Once     // finish ran
	stop     chan struct{} // closed by end
	stopOnce sync.Once
	done     chan struct{}
	stopped  atomic.Bool
}

// watchEvent is one reply to send: oper on document id (doc nil for a
// delete).
type watchEvent struct {
	oper feed.Oper
	id   oid.ID
	doc  map[string]any // after-image (shared: copy before changing)
	// shapes holds the event's document shaped and encoded once per
	// $attrs for the group's watchers whose shaping does not depend on
	// the caller (watch_group.go); nil for a group of one.
	shapes *sharedShapes
	seq    uint64 // the feed's sequence
	// g is the group whose filter matched the event (nil for events
	// not matched by a group).
	g *watchGroup
}

// feedHub returns the app's change feed (started on first use; issue 14
// item 5): a.feedHub().Subscribe(collection name, fn) gets every
// committed create, update and delete made through the App (or, on
// MongoDB with change streams, through any node), in commit order, as
// feed.Event{Oper, IDs, Seq, Lost}; fn runs on the feed's goroutine and
// must not block. For the framework's own use (read cache): the type is
// internal.
func (a *App) feedHub() *feed.Hub {
	a.wt.once.Do(func() {
		a.wt.hub = feed.New(a.loadByID, a.Logger())
		a.changeStreamSource(a.wt.hub)
	})
	return a.wt.hub
}

// changeStreamSource makes a MongoDB deployment with change streams the
// origin of the feed: one change stream per watched collection per node,
// so that the writes of every node sharing the database reach this
// node's watchers (the node's own writes come back the same way). On a
// server without change streams the store's change log (polled by every
// node; Config.ChangeLogPoll) plays the same part.
func (a *App) changeStreamSource(h *feed.Hub) {
	st := a.store
	for {
		u, ok := st.(interface{ Unwrap() store.Store })
		if !ok {
			break
		}
		st = u.Unwrap()
	}
	ms, ok := st.(*mongo.Store)
	if !ok || !ms.ChangeStreams() && !ms.ChangeLog() {
		return
	}
	h.SetSource(func(ctx context.Context, coll string, emit func(feed.Oper, []oid.ID)) error {
		m := a.collByName(coll)
		if m == nil {
			return fmt.Errorf("unknown collection %q", coll)
		}
		follow := func(fn func(mongo.Change)) error { return ms.Changes(ctx, m.coll, nil, fn) }
		if !ms.ChangeStreams() {
			// No change streams: the change log (mongo.ChangeLogOptions).
			follow = func(fn func(mongo.Change)) error { return ms.FollowChangeLog(ctx, coll, fn) }
		}
		return follow(func(ch mongo.Change) {
			op := feed.Update
			switch ch.Oper {
			case "create":
				op = feed.Create
			case "delete":
				op = feed.Delete
			}
			emit(op, []oid.ID{ch.ID})
		})
	})
}

// collByName maps a collection name to its module.
func (a *App) collByName(name string) *Module {
	for _, m := range a.order {
		if m.coll != nil && m.coll.Name == name {
			return m
		}
	}
	return nil
}

// loadByID reads the live documents ids of a collection, in one read.
func (a *App) loadByID(ctx context.Context, coll string, ids []oid.ID) ([]map[string]any, error) {
	m := a.collByName(coll)
	if m == nil {
		return nil, fmt.Errorf("unknown collection %q", coll)
	}
	l := make([]any, len(ids))
	for i, id := range ids {
		l[i] = id
	}
	res, err := a.store.Read(ctx, m.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.In, Value: l}})
	if err != nil {
		return nil, err
	}
	return res.Docs, nil
}

// publish reports a committed write to the change feed; inside a
// transaction it waits for the commit (and is dropped on rollback).
func (s watchedStore) publish(ctx context.Context, c *schema.Collection, oper feed.Oper, ids []oid.ID) {
	s.publishDocs(ctx, c, oper, ids, nil)
}

// publishDocs is publish with the write's after-images (watch_images.go).
func (s watchedStore) publishDocs(ctx context.Context, c *schema.Collection, oper feed.Oper, ids []oid.ID, docs map[oid.ID]map[string]any) {
	if len(ids) == 0 || c == nil {
		return
	}
	if p, ok := ctx.Value(feedPendingKey{}).(*feedPending); ok {
		p.mu.Lock()
		p.events = append(p.events, pendingEvent{coll: c.Name, oper: oper, ids: ids, docs: docs})
		p.mu.Unlock()
		return
	}
	s.a.feedHub().PublishDocs(c.Name, oper, ids, docs)
}

type feedPendingKey struct{}

type pendingEvent struct {
	coll string
	oper feed.Oper
	ids  []oid.ID
	docs map[oid.ID]map[string]any
	// created: a create's after-images (watch_images.go), published
	// with PublishCreated.
	created []map[string]any
}

type feedPending struct {
	mu     sync.Mutex
	events []pendingEvent
}

func insertedIDs(docs []map[string]any) []oid.ID {
	ids := make([]oid.ID, 0, len(docs))
	for _, d := range docs {
		if id, ok := d["_id"].(oid.ID); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// txFeed runs a transaction whose writes are published once it commits.
func (s watchedStore) txFeed(ctx context.Context, run func(ctx context.Context) error) error {
	if _, nested := ctx.Value(feedPendingKey{}).(*feedPending); nested {
		return run(ctx)
	}
	p := &feedPending{}
	err := run(context.WithValue(ctx, feedPendingKey{}, p))
	if err == nil {
		hub := s.a.feedHub()
		for _, e := range p.events {
			if e.created != nil {
				hub.PublishCreated(e.coll, e.created, imaged)
				continue
			}
			hub.PublishDocs(e.coll, e.oper, e.ids, e.docs)
		}
	}
	return err
}

// Watch starts the base watch implementation for c (spec §6.12): custom
// watch handlers may change c.Query and then return c.Watch(ctx). It
// answers "Created watch task." with args.watch = the call_id; events
// follow on the connection. Over HTTP or from App.Invoke it returns 400
// CORE_WATCH_NO_CONN.
func (c *Call) Watch(ctx context.Context) (*Result, error) {
	return c.app.watch(ctx, c)
}

// isWatch reports whether meth is served by the base watch.
func (m *Method) isWatch() bool { return m.Watch || m.Handler == nil && m.name == "watch" }

func (a *App) watch(ctx context.Context, c *Call) (*Result, error) {
	if c.conn == nil {
		return nil, errWatchNoConn
	}
	rs, err := takeResume(c)
	if err != nil {
		return nil, err
	}
	if rs != nil {
		if res, err := a.resume(c, rs); res != nil || err != nil {
			return res, err
		}
		// Not resumable: a fresh watch with a snapshot (below).
	}
	q, err := a.parseQuery(ctx, c, c.Query)
	if err != nil {
		return nil, err
	}
	q = a.realmScope(ctx, c.Module.coll, q) // realm mode: matched in process
	if q.Search != "" || q.GeoNear != nil || len(q.Group) > 0 {
		return nil, errWatchQuery
	}
	id := fmt.Sprint(c.CallID)
	t := &watchTask{a: a, c: c.conn, id: id, callID: c.CallID, m: c.Module, sess: c.Session, call: c, q: q,
		token: newWatchToken(), endpoint: c.Endpoint,
		stop: make(chan struct{}), done: make(chan struct{})}
	w := &a.wt
	w.mu.Lock()
	w.init()
	tasks := w.byConn[c.conn]
	if tasks == nil {
		tasks = map[string]*watchTask{}
		w.byConn[c.conn] = tasks
	}
	old := tasks[id]
	switch {
	case old == nil && len(tasks) >= a.cfg.WatchesPerConn:
		w.mu.Unlock()
		return nil, errWatchLimit
	case w.count.Load() >= int64(a.cfg.WatchesPerNode):
		w.mu.Unlock()
		return nil, errWatchNodeLimit
	}
	if old != nil {
		// A call_id reused for a new watch replaces the old one.
		old.end(nil)
	}
	tasks[id] = t
	w.tokens[t.token] = t
	w.count.Add(1)
	name := c.Module.coll.Name
	cw := w.byColl[name]
	if cw == nil {
		cw = &collWatch{m: c.Module, tasks: map[*watchTask]struct{}{}, groups: map[string]*watchGroup{}}
		w.byColl[name] = cw
		cw.cancel = a.feedHub().SubscribeDocsFilter(name, func(ev feed.Event) { a.onChange(cw, ev) }, cw.mayMatch)
	}
	cw.tasks[t] = struct{}{}
	g, fresh := cw.join(t, q.Filter)
	w.pending[c] = t
	w.wg.Add(1)
	w.mu.Unlock()
	a.observeWatches(1)
	a.followRefs(q.Filter) // before the group's first read: no change is missed

	if err := a.groupReady(ctx, cw, g, fresh); err != nil {
		t.end(nil)
		return nil, err
	}
	args := M{"code": "CORE_WATCH_OK", "watch": c.CallID, "resume": t.token}
	if rs != nil {
		docs, err := a.watchSnapshot(ctx, t)
		if err != nil {
			t.end(nil)
			return nil, err
		}
		args["resumed"], args["snapshot"], args["count"], args["docs"] = false, true, int64(len(docs)), docs
	}
	return OK("Created watch task.", args), nil
}

// watchReplied starts (err nil) or drops the watch call c created, once
// its reply is queued.
func (a *App) watchReplied(c *Call, err error) {
	w := &a.wt
	w.mu.Lock()
	t := w.pending[c]
	delete(w.pending, c)
	w.mu.Unlock()
	if t == nil {
		return
	}
	if err != nil {
		t.end(nil)
		return
	}
	if t.out.attach(t) {
		return // resumed: the events after the client's seq are sent
	}
	t.ready.Store(true)
	t.schedule()
}

// onChange matches one committed change against every filter group of
// the collection (watch_group.go) and queues the resulting event for the
// group's watchers; it runs on the feed's goroutine and never blocks.
func (a *App) onChange(cw *collWatch, ev feed.Event) {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	a.wt.mu.Lock()
	groups := make([]*watchGroup, 0, len(cw.groups))
	lists := make([][]*watchTask, 0, len(cw.groups))
	for _, g := range cw.groups {
		groups = append(groups, g)
		lists = append(lists, g.members())
	}
	a.wt.mu.Unlock()
	if ev.Lost {
		for _, l := range lists {
			for _, t := range l {
				t.end(errWatchLost)
			}
		}
		return
	}
	if ev.Oper == feed.Delete {
		for _, id := range ev.IDs {
			for gi, g := range groups {
				if was, _ := g.mark(id, false, false); was {
					for _, t := range lists[gi] {
						t.push(watchEvent{oper: feed.Delete, id: id, seq: ev.Seq, g: g})
					}
				}
			}
		}
		return
	}
	// The referenced documents every group's filter needs, read once.
	var refs map[string][]oid.ID
	for _, g := range groups {
		for _, d := range ev.Docs {
			refs = qmatch.Refs(refs, g.filter, d)
		}
	}
	resolve := a.resolver(refs)
	for _, id := range ev.IDs {
		doc := ev.Docs[id]
		for gi, g := range groups {
			now := doc != nil && qmatch.Match(g.filter, doc, resolve)
			// entered: a create already sent by a re-check through a
			// reference (it read this document before its create event came).
			was, entered := g.mark(id, now, false)
			var e watchEvent
			switch {
			case now && entered && ev.Oper == feed.Create:
				continue // sent by the re-check, which read it after this create
			case now && (!was || ev.Oper == feed.Create):
				e = watchEvent{oper: feed.Create, id: id, doc: doc, seq: ev.Seq}
			case now:
				e = watchEvent{oper: feed.Update, id: id, doc: doc, seq: ev.Seq}
			case was:
				e = watchEvent{oper: feed.Delete, id: id, seq: ev.Seq}
			default:
				continue
			}
			e.g = g
			if e.doc != nil && len(lists[gi]) > 1 {
				e.shapes = &sharedShapes{}
			}
			for _, t := range lists[gi] {
				t.push(e)
			}
		}
	}
}

// resolver returns a qmatch.Resolver over the documents refs names, read
// with one query per collection; documents found later (references of
// referenced documents) are read one by one and kept.
func (a *App) resolver(refs map[string][]oid.ID) qmatch.Resolver {
	cache := map[string]map[oid.ID]map[string]any{}
	var mu sync.Mutex
	load := func(coll string, ids []oid.ID) {
		ctx, cancel := context.WithTimeout(a.hardCtx, a.cfg.CallTimeout)
		defer cancel()
		docs, err := a.loadByID(ctx, coll, ids)
		if err != nil {
			a.Logger().Error("watch: read referenced documents", "collection", coll, "err", err)
		}
		m := cache[coll]
		if m == nil {
			m = map[oid.ID]map[string]any{}
			cache[coll] = m
		}
		for _, id := range ids {
			m[id] = nil
		}
		for _, d := range docs {
			if id, ok := d["_id"].(oid.ID); ok {
				m[id] = d
			}
		}
	}
	for coll, ids := range refs {
		if len(ids) > 0 {
			load(coll, ids)
		}
	}
	return func(coll string, id oid.ID) map[string]any {
		mu.Lock()
		defer mu.Unlock()
		if d, ok := cache[coll][id]; ok {
			return d
		}
		load(coll, []oid.ID{id})
		return cache[coll][id]
	}
}

// push queues an event for the watcher without blocking; a full queue
// ends the watch (503 CORE_WATCH_OVERFLOW).
func (t *watchTask) push(e watchEvent) {
	if t.stopped.Load() {
		return
	}
	t.qmu.Lock()
	if len(t.queue) >= WatchQueue {
		t.qmu.Unlock()
		t.end(errWatchOverflow)
		return
	}
	t.queue = append(t.queue, e)
	t.qmu.Unlock()
	t.schedule()
}

// schedule starts a step goroutine unless one runs.
func (t *watchTask) schedule() {
	if t.running.CompareAndSwap(false, true) {
		t.a.wt.active.Add(1)
		go t.step()
	}
}

// end stops the watch; err, when set, is sent to the client as the
// watch's last reply.
func (t *watchTask) end(err error) {
	t.stopOnce.Do(func() {
		t.a.wt.count.Add(-1)
		t.mu.Lock()
		t.failed = err
		t.mu.Unlock()
		t.stopped.Store(true)
		close(t.stop)
		t.schedule() // finishes it
	})
}

// step delivers the watcher's queued events, in order, once the created
// reply is queued, and returns when none is left; once the watch has
// ended it finishes it instead (one step runs at a time: running).
func (t *watchTask) step() {
	defer t.a.wt.active.Done()
	for {
		if t.stopped.Load() {
			t.finish() // running stays set: no step after this one
			return
		}
		if t.ready.Load() {
			t.qmu.Lock()
			batch := t.queue
			t.queue = nil
			t.qmu.Unlock()
			for _, e := range batch {
				if t.stopped.Load() {
					break
				}
				if err := t.deliver(e); err != nil {
					t.end(err)
					break
				}
			}
		}
		t.running.Store(false)
		// Work that came after the batch was taken (its schedule saw
		// running set): take it now, unless another step did.
		t.qmu.Lock()
		more := t.ready.Load() && len(t.queue) > 0
		t.qmu.Unlock()
		if !(more || t.stopped.Load()) || !t.running.CompareAndSwap(false, true) {
			return
		}
	}
}

// finish sends the error that ended the watch, if any, and unregisters
// it; once.
func (t *watchTask) finish() {
	t.finished.Do(func() {
		defer t.a.wt.wg.Done()
		defer close(t.done)
		t.mu.Lock()
		err, c, callID, endpoint := t.failed, t.c, t.callID, t.call.Endpoint
		t.mu.Unlock()
		if err != nil && t.ready.Load() && t.out.live() {
			c.replyErr(err, callID, endpoint)
		}
		t.unregister()
	})
}

func (t *watchTask) unregister() {
	w := &t.a.wt
	defer t.a.observeWatches(-1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.retained[t.token] == t {
		delete(w.retained, t.token)
	}
	if w.tokens[t.token] == t {
		delete(w.tokens, t.token)
	}
	if t.expiry != nil {
		t.expiry.Stop()
	}
	t.mu.Lock()
	c, id := t.c, t.id
	t.mu.Unlock()
	if tasks := w.byConn[c]; tasks != nil && tasks[id] == t {
		delete(tasks, id)
		if len(tasks) == 0 {
			delete(w.byConn, c)
		}
	}
	name := t.m.coll.Name
	if cw := w.byColl[name]; cw != nil {
		cw.leave(t)
		delete(cw.tasks, t)
		if len(cw.tasks) == 0 {
			cw.cancel()
			delete(w.byColl, name)
		}
	}
	for c, p := range w.pending {
		if p == t {
			delete(w.pending, c)
		}
	}
}

// deliverOnce shapes one event for the watcher's caller and sends it
// (deliver, watch_session.go, repeats it when the session changed).
func (t *watchTask) deliverOnce(e watchEvent) error {
	a := t.a
	// Not the connection's context: a retained watch shapes its events
	// after its connection ended.
	ctx, cancel := context.WithTimeout(a.hardCtx, a.cfg.CallTimeout)
	defer cancel()
	// In the watcher's realm (realm mode): its permissions checked again,
	// its filter rebuilt, references expanded and hooks run there, as
	// for its call.
	t.mu.Lock()
	realm := t.call.Realm
	t.mu.Unlock()
	if realm != "" {
		ctx = WithRealm(ctx, realm)
	}
	if changed, err := t.resession(ctx); err != nil {
		return err
	} else if e.doc != nil && (changed || e.g != nil && e.g != t.grp.Load()) {
		// Matched under the old session (this event, or one queued
		// before the session changed and the watcher moved to the
		// group of its new filter): match again under the new. One
		// the new session may not read is dropped: not even its
		// delete is sent (watch_session.go).
		t.mu.Lock()
		f := t.q.Filter
		t.mu.Unlock()
		if !qmatch.Match(f, e.doc, a.resolver(qmatch.Refs(nil, f, e.doc))) {
			return nil
		}
	} else if e.doc == nil && e.g != nil && e.g != t.grp.Load() {
		// The delete of a document known under the old session's
		// filter.
		return nil
	}
	t.mu.Lock()
	call, q := t.call, t.q
	t.mu.Unlock()
	hook := t.m.Hooks.OnWatch
	if call.skip&skipOn != 0 {
		hook = nil
	}
	if e.oper != feed.Delete && e.shapes != nil && hook == nil &&
		(call.skip&skipExtn != 0 || len(t.m.Extns) == 0 || q.Extn != nil && len(q.Extn) == 0) {
		// Shaped the same for every caller: shaped and encoded once.
		raw, err := e.shapes.get(q.Attrs, func() (map[string]any, error) { return a.shapeWatchDoc(ctx, call, t.m, q, e.doc) })
		if err != nil {
			return err
		}
		return t.out.emit(t, e.oper.String(), raw)
	}
	var doc map[string]any
	if e.oper == feed.Delete {
		doc = map[string]any{"_id": e.id}
	} else {
		var err error
		if doc, err = a.shapeWatchDoc(ctx, call, t.m, q, e.doc); err != nil {
			return err
		}
	}
	oper := e.oper.String()
	if hook != nil {
		var err error
		doc, err = a.runWatchHook(ctx, hook, call, oper, doc)
		if err != nil {
			return err
		}
		if doc == nil {
			return nil // dropped for this caller
		}
	}
	return t.out.emit(t, oper, doc)
}

// shapeWatchDoc shapes a matched document as read returns it to call's
// caller: $attrs, secrets stripped, references expanded, locales filled.
// raw is shared: it is copied first.
func (a *App) shapeWatchDoc(ctx context.Context, call *Call, m *Module, q *query.Query, raw map[string]any) (map[string]any, error) {
	doc := project(deepCopy(raw).(map[string]any), q.Attrs)
	docs := []map[string]any{doc}
	stripSecrets(m, docs)
	if call.skip&skipExtn == 0 {
		if err := a.expand(ctx, call, m, q.Extn, docs, 0); err != nil {
			return nil, err
		}
	}
	a.fillLocales(m, doc)
	return doc, nil
}

// resession checks the watcher's session against the connection's: an
// expired session ends the watch (403 CORE_SESSION_SESSION_EXPIRED), a
// revoked session is revalidated, a changed one gets read's permissions
// checked again and the filter rebuilt. It reports whether the filter
// changed; an error ends the watch.
func (t *watchTask) resession(ctx context.Context) (bool, error) {
	a := t.a
	t.mu.Lock()
	old, call := t.sess, t.call
	t.mu.Unlock()
	t.mu.Lock()
	c := t.c
	t.mu.Unlock()
	s := c.session.Load()
	if !s.Anon() && !s.Expiry.IsZero() && time.Now().After(s.Expiry) {
		// As a call on the connection would be refused (conn.go): the
		// watch ends with the session.
		return false, NewError(403, CodeSessionExpired, msgSessionExpired)
	}
	if s == old && !a.stale(s) {
		return false, nil
	}
	if a.stale(s) {
		ns, err := a.revalidate(ctx, s)
		if err != nil {
			return false, err
		}
		c.session.CompareAndSwap(s, ns)
		s = ns
	}
	// The query keeps the old session's query_mod: the new session's is
	// added to it, so the watch never sees more than either allows.
	nc := &Call{Endpoint: call.Endpoint, CallID: call.CallID, Module: call.Module, Method: call.Method,
		Query: NewQuery(call.Query.Steps()...), Doc: M{}, Session: s, RemoteAddr: call.RemoteAddr,
		UserAgent: call.UserAgent, Origin: call.Origin, ClientApp: call.ClientApp, Realm: call.Realm, Payload: call.Payload, app: a, conn: c, skip: call.skip}
	if nc.skip&skipPerm == 0 {
		if err := a.checkPermissions(ctx, nc); err != nil {
			return false, err
		}
	}
	q, err := a.parseQuery(ctx, nc, nc.Query)
	if err != nil {
		return false, err
	}
	q = a.realmScope(ctx, nc.Module.coll, q)
	t.mu.Lock()
	t.sess, t.call, t.q = s, nc, q
	t.mu.Unlock()
	a.followRefs(q.Filter)
	if err := a.regroup(ctx, t, q.Filter); err != nil {
		return false, err
	}
	return true, nil
}

// project keeps _id and the $attrs paths of d (all of d when attrs is
// nil), as a store's read with $attrs returns it.
func project(d map[string]any, attrs []string) map[string]any {
	if attrs == nil {
		return d
	}
	out := map[string]any{"_id": d["_id"]}
	for _, p := range attrs {
		if v, ok := d[p]; ok {
			out[p] = v
			continue
		}
		// A dotted path keeps the nested value under its parents.
		vals := qmatch.Values(d, p)
		if len(vals) != 1 {
			continue
		}
		setPath(out, p, vals[0])
	}
	return out
}

func setPath(d map[string]any, p string, v any) {
	if qmatch.IsMissing(v) {
		return
	}
	segs := splitDots(p)
	for _, s := range segs[:len(segs)-1] {
		next, ok := d[s].(map[string]any)
		if !ok {
			next = map[string]any{}
			d[s] = next
		}
		d = next
	}
	d[segs[len(segs)-1]] = v
}

func splitDots(p string) []string {
	var out []string
	start := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return append(out, p[start:])
}

// deleteWatch serves watch/delete (spec §6.12): query [{"watch": id}]
// ends that watch of the connection, [{"watch": "__all"}] every one.
func (c *conn) deleteWatch(q *Query, callID any) {
	a := c.app
	vals := q.Values("watch")
	if len(vals) != 1 {
		c.replyErr(errInvalidWatch, callID, "watch/delete")
		return
	}
	// The id as the watch was keyed (fmt.Sprint of its call_id): a
	// numeric call_id is named by the same number (LIMP compares the
	// values).
	var want string
	named, all := true, false
	switch v := vals[0].(type) {
	case string:
		want, all = v, v == "__all"
	case float64, int64, int:
		want = fmt.Sprint(v)
	default:
		named = false
	}
	w := &a.wt
	w.mu.Lock()
	var ended []*watchTask
	for id, t := range w.byConn[c] {
		if all || named && id == want {
			ended = append(ended, t)
			// Gone from the connection now (its goroutine ends later).
			delete(w.byConn[c], id)
		}
	}
	w.mu.Unlock()
	ids := make([]any, 0, len(ended))
	for _, t := range ended {
		t.end(nil)
		t.mu.Lock()
		ids = append(ids, t.callID)
		t.mu.Unlock()
	}
	switch {
	case all:
		c.reply(200, "All watch tasks deleted.", M{"watch": ids}, callID, true)
	case len(ended) == 0:
		c.replyErr(errInvalidWatch, callID, "watch/delete")
	default:
		c.reply(200, "Watch task deleted.", M{"watch": ids}, callID, true)
	}
}

// endWatches ends every watch of c (its connection is closing), or
// retains it for a resume (watch_resume.go), and waits for the
// goroutines of those ended.
func (a *App) endWatches(c *conn) {
	w := &a.wt
	w.mu.Lock()
	var tasks []*watchTask
	for _, t := range w.byConn[c] {
		tasks = append(tasks, t)
	}
	pending := map[*watchTask]bool{}
	for call, t := range w.pending {
		t.mu.Lock()
		mine := t.c == c
		t.mu.Unlock()
		if mine {
			pending[t] = true
			tasks = append(tasks, t)
			delete(w.pending, call)
		}
	}
	w.mu.Unlock()
	var ended []*watchTask
	for _, t := range tasks {
		if pending[t] || !a.retainWatch(c, t) {
			t.end(nil)
			ended = append(ended, t)
		}
	}
	for _, t := range ended {
		<-t.done
	}
}
