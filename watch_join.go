package limp

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limp-go/limp/internal/feed"
	qmatch "github.com/limp-go/limp/internal/match"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// Live queries through references (issue 14 item 4, spec §6.12).
//
// A watch's filter may go through references: the caller's own
// conditions ("cat.name": "news" on a post), and the joins the permission
// guard adds (joinperm.go: a referenced module's read permission, whose
// query_mod may itself go through a reference of that module, and so on,
// at most maxJoinDepth levels). A change to a REFERENCED document then
// changes which watched documents match, although no watched document
// changed. For that, every collection reachable through a group's joins
// (a "reference path": post -cat-> blog_cat -section-> section) is
// followed on the change feed, without documents. One change of a
// referenced collection R (create, update, delete, soft or hard) is
// handled off the feed's goroutine, by one worker per App:
//
//   - for each watched collection and each reference path reaching R,
//     the documents referencing the changed ids are found with one
//     paged query per level of the path (level k's ids as an $in on the
//     reference attr of level k-1), shared by every group of watchers
//     whose filter goes through that path;
//   - the watched documents found are read in pages (WatchRefPage,
//     ordered by _id; each page once the watchers concerned have room
//     for its events) and matched in process against the filter of each
//     of those groups only, the referenced documents read once per page
//     for all groups; a document that starts matching arrives as
//     "create" (shaped as read), one that stops as "delete" {_id}, one
//     whose membership did not change sends nothing. Each page is read
//     and matched under the collection's lock, in order with the
//     collection's own changes.
//
// Bounds: at most WatchRefLimit documents are re-checked per level and
// path for one batch of changes, and at most WatchRefLimit changed ids
// wait for the worker per referenced collection. Past either bound each
// group whose filter goes through that path (or collection) is handled
// on what its caller may read (watch_join_limit.go): its watches end with
// 503 CORE_WATCH_REF_LIMIT, which tells the client to watch again (a
// fresh watch reads the membership anew), only when it may read a changed
// referenced document or more than WatchRefLimit of its own documents
// entered or left; the feed is never held. Events
// of a referenced collection lost by the feed (feed.Event.Lost) end them
// with 503 CORE_WATCH_LOST. A referenced collection's subscription is
// dropped at its first change after the last watch through it ended.

// WatchRefLimit bounds the work one batch of changes to referenced
// documents may cause: the documents re-checked per watched collection,
// reference path and level, and the changed ids waiting per referenced
// collection. Past it the watches through that reference end with 503
// CORE_WATCH_REF_LIMIT (watch again), on what their caller may read
// only (watch_join_limit.go).
const WatchRefLimit = 10_000

// WatchRefPage is the page size of the reads that find the documents
// referencing changed ones: at most half a watcher's queue (WatchQueue)
// of events per page, and the next page waits until the watchers of the
// groups concerned have room for another (or a few seconds), so a
// re-check of thousands of documents does not overflow its watchers.
const WatchRefPage = WatchQueue / 2

// CodeWatchRefLimit: a change to referenced documents concerns more
// watched documents than WatchRefLimit; the watch ended (status 503).
const CodeWatchRefLimit = "CORE_WATCH_REF_LIMIT"

// refLimit and refPage are WatchRefLimit and WatchRefPage (tests lower
// them); refReads counts the reads of documents referencing changed ones.
var (
	refLimitV, refPageV atomic.Int64 // 0: the defaults
	refReads            atomic.Int64
)

func refBounds() (limit, page int) {
	limit, page = WatchRefLimit, WatchRefPage
	if n := refLimitV.Load(); n > 0 {
		limit = int(n)
	}
	if n := refPageV.Load(); n > 0 {
		page = int(n)
	}
	return limit, page
}

var errWatchRefLimit = NewError(503, CodeWatchRefLimit, "A change to referenced documents concerns more documents than a watch re-checks; watch again.")

// maxRefPath bounds a reference path's length (joins nest at most
// maxJoinDepth levels; this is a second guard).
const maxRefPath = 8

// refStep is one reference of a path: attr local of the previous
// collection references collection coll.
type refStep struct {
	local string
	coll  string
}

// refPath is a chain of references from a watched collection.
type refPath []refStep

func (p refPath) key() string {
	var b strings.Builder
	for _, s := range p {
		b.WriteString(s.local)
		b.WriteByte(0)
		b.WriteString(s.coll)
		b.WriteByte(1)
	}
	return b.String()
}

// refPaths appends to dst the reference paths of filter n (on the
// collection prefix ends at), each once.
func refPaths(dst []refPath, n query.Node, prefix refPath) []refPath {
	switch n := n.(type) {
	case query.And:
		for _, x := range n {
			dst = refPaths(dst, x, prefix)
		}
	case query.Or:
		for _, x := range n {
			dst = refPaths(dst, x, prefix)
		}
	case *query.Cond:
		j := n.Join
		if j == nil || j.Deny || len(prefix) >= maxRefPath {
			return dst
		}
		p := append(slices.Clip(prefix), refStep{local: j.Local, coll: j.Collection})
		k := p.key()
		if !slices.ContainsFunc(dst, func(x refPath) bool { return x.key() == k }) {
			dst = append(dst, p)
		}
		dst = refPaths(dst, j.Filter, p)
	}
	return dst
}

// watchRefs follows the referenced collections of the App's watches.
type watchRefs struct {
	mu      sync.Mutex
	subs    map[string]func() // followed collection → cancel
	pending map[string]*refPending
	running bool // the worker runs
	closed  bool
	wg      sync.WaitGroup // the worker
}

// refPending is the changes of one referenced collection waiting for the
// worker.
type refPending struct {
	ids  map[oid.ID]struct{}
	over bool // more than WatchRefLimit ids
	lost bool // the feed lost events
}

// followRefs subscribes to every collection filter f reaches through
// references (a watch joined a group of filter f).
func (a *App) followRefs(f query.Node) {
	paths := refPaths(nil, f, nil)
	if len(paths) == 0 {
		return
	}
	r := &a.wt.refs
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if r.subs == nil {
		r.subs = map[string]func(){}
	}
	for _, p := range paths {
		for _, s := range p {
			if r.subs[s.coll] != nil || a.collByName(s.coll) == nil {
				continue
			}
			coll := s.coll
			r.subs[coll] = a.feedHub().Subscribe(coll, func(ev feed.Event) { a.refChanged(coll, ev) })
		}
	}
}

// refChanged queues a change of referenced collection coll for the
// worker; it runs on the feed's goroutine and never blocks.
func (a *App) refChanged(coll string, ev feed.Event) {
	r := &a.wt.refs
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if r.pending == nil {
		r.pending = map[string]*refPending{}
	}
	p := r.pending[coll]
	if p == nil {
		p = &refPending{ids: map[oid.ID]struct{}{}}
		r.pending[coll] = p
	}
	p.lost = p.lost || ev.Lost
	limit, _ := refBounds()
	for _, id := range ev.IDs {
		if len(p.ids) >= limit {
			p.over = true
			break
		}
		p.ids[id] = struct{}{}
	}
	if !r.running {
		r.running = true
		r.wg.Add(1)
		go a.refWork()
	}
}

// refWork handles the queued changes of referenced collections until
// none is left.
func (a *App) refWork() {
	r := &a.wt.refs
	defer r.wg.Done()
	for {
		r.mu.Lock()
		work := r.pending
		r.pending = nil
		if len(work) == 0 || r.closed {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		for coll, p := range work {
			a.recheckRefs(coll, p)
		}
	}
}

// closeWatchRefs stops following referenced collections and waits for
// the worker (App shutdown).
func (a *App) closeWatchRefs() {
	r := &a.wt.refs
	r.mu.Lock()
	r.closed = true
	subs := r.subs
	r.subs = nil
	r.pending = nil
	r.mu.Unlock()
	for _, cancel := range subs {
		cancel()
	}
	r.wg.Wait()
}

func (a *App) refsClosed() bool {
	r := &a.wt.refs
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// refTarget is the groups of one watched collection whose filters reach
// a changed referenced collection through the same reference path.
type refTarget struct {
	cw      *collWatch
	path    refPath // ends at the changed collection
	groups  []*watchGroup
	members [][]*watchTask
}

// refTargets returns the targets a change of collection coll concerns
// (watchState.mu is taken).
func (a *App) refTargets(coll string) []*refTarget {
	w := &a.wt
	w.mu.Lock()
	defer w.mu.Unlock()
	byKey := map[string]*refTarget{}
	var out []*refTarget
	for name, cw := range w.byColl {
		for _, g := range cw.groups {
			for _, p := range refPaths(nil, g.filter, nil) {
				for k, s := range p {
					if s.coll != coll {
						continue
					}
					pre := p[:k+1]
					key := name + "\x02" + pre.key()
					tg := byKey[key]
					if tg == nil {
						tg = &refTarget{cw: cw, path: pre}
						byKey[key] = tg
						out = append(out, tg)
					}
					if !slices.Contains(tg.groups, g) {
						tg.groups = append(tg.groups, g)
						tg.members = append(tg.members, g.members())
					}
				}
			}
		}
	}
	return out
}

// dropRefSub stops following coll when no group's filter reaches it.
func (a *App) dropRefSub(coll string) {
	r := &a.wt.refs
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(a.refTargets(coll)) > 0 {
		return
	}
	if cancel := r.subs[coll]; cancel != nil {
		cancel()
		delete(r.subs, coll)
	}
}

// pace waits until every watcher of tg has room in its queue for a page
// of events (or has ended), at most refPaceWait: slower watchers then
// overflow as they would with any burst of changes.
func (a *App) pace(tg *refTarget) {
	_, page := refBounds()
	deadline := time.Now().Add(refPaceWait)
	for _, l := range tg.members {
		for _, t := range l {
			for {
				t.qmu.Lock()
				n := len(t.queue)
				t.qmu.Unlock()
				if n+page <= WatchQueue || t.stopped.Load() || time.Now().After(deadline) || a.hardCtx.Err() != nil || a.refsClosed() {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// refPaceWait bounds pace's wait for one page.
const refPaceWait = 5 * time.Second

// endTarget ends the watches of tg's groups with err.
func (tg *refTarget) end(err error) {
	for _, l := range tg.members {
		for _, t := range l {
			t.end(err)
		}
	}
}

// recheckRefs re-checks the watched documents a batch of changes to the
// referenced collection coll may have moved in or out of a group.
func (a *App) recheckRefs(coll string, p *refPending) {
	targets := a.refTargets(coll)
	if len(targets) == 0 {
		a.dropRefSub(coll)
		return
	}
	for _, tg := range targets {
		if a.refsClosed() {
			return
		}
		if p.lost {
			tg.end(errWatchLost)
			continue
		}
		ids := make([]any, 0, len(p.ids))
		for id := range p.ids {
			ids = append(ids, id)
		}
		if len(ids) > 0 || p.over {
			a.recheckTarget(tg, ids, p.over)
		}
	}
}

// recheckTarget walks tg's path back from the changed ids to the watched
// documents referencing them, and re-matches those. over: more ids
// changed than were kept (ids holds the first WatchRefLimit); the groups
// then go to overflow at once.
func (a *App) recheckTarget(tg *refTarget, ids []any, over bool) {
	// Wait for the groups' first reads (a group being created read its
	// membership after this change was committed, or will see it).
	var groups []*watchGroup
	var members [][]*watchTask
	for i, g := range tg.groups {
		select {
		case <-g.ready:
		case <-a.hardCtx.Done():
			return
		}
		if g.err == nil {
			groups = append(groups, g)
			members = append(members, tg.members[i])
		}
	}
	if len(groups) == 0 {
		return
	}
	tg.groups, tg.members = groups, members
	changed := ids
	if over {
		a.overflow(tg, changed)
		return
	}
	// Intermediate levels: the ids of the documents referencing the
	// changed ones, one level at a time.
	for k := len(tg.path) - 1; k >= 1; k-- {
		m := a.collByName(tg.path[k-1].coll)
		if m == nil || len(ids) == 0 {
			return
		}
		var next []any
		over, err := a.pageRefs(m, tg.path[k].local, ids, []string{}, func(docs []map[string]any) {
			for _, d := range docs {
				if id, ok := d["_id"].(oid.ID); ok {
					next = append(next, id)
				}
			}
		}, nil, nil)
		if err != nil {
			a.Logger().Error("watch: find documents referencing changed ones", "collection", m.coll.Name, "err", err)
			tg.end(errWatchLost)
			return
		}
		if over {
			a.overflow(tg, changed)
			return
		}
		ids = next
	}
	if len(ids) == 0 {
		return
	}
	cw := tg.cw
	over, err := a.pageRefs(cw.m, tg.path[0].local, ids, nil, func(docs []map[string]any) {
		a.rematch(tg, docs)
	}, &cw.mu, func() { a.pace(tg) })
	if err != nil {
		a.Logger().Error("watch: find documents referencing changed ones", "collection", cw.m.coll.Name, "err", err)
		tg.end(errWatchLost)
		return
	}
	if over {
		a.overflow(tg, changed)
	}
}

// pageRefs reads, WatchRefPage at a time in _id order, the live documents
// of m whose reference attr local holds one of ids, and calls fn with
// each page (attrs as a store read takes them). When lock is given, each
// page is read and handled under it; pace, when given, runs before each
// page after the first (outside lock). It reports over when more than
// WatchRefLimit documents match; fn then had the first WatchRefLimit.
func (a *App) pageRefs(m *Module, local string, ids []any, attrs []string, fn func([]map[string]any), lock *sync.Mutex, pace func()) (over bool, err error) {
	var last *oid.ID
	seen := 0
	limit, page := refBounds()
	for {
		if a.refsClosed() {
			return false, nil
		}
		var f query.Node = &query.Cond{Path: local, Op: query.In, Value: ids}
		if last != nil {
			f = query.And{f, &query.Cond{Path: "_id", Op: query.Gt, Value: *last}}
			if pace != nil {
				pace()
			}
		}
		// One document past the limit tells whether there are more.
		n := min(page, limit+1-seen)
		q := &query.Query{Filter: f, Sort: []query.Sort{{Path: "_id"}}, Limit: int64(n), Attrs: attrs}
		got, err := a.refPage(m, q, limit-seen, fn, lock)
		if err != nil {
			return false, err
		}
		seen += len(got)
		switch {
		case seen > limit:
			return true, nil
		case len(got) < n:
			return false, nil
		}
		id := got[len(got)-1]
		last = &id
	}
}

// refPage reads one page and hands at most max of its documents to fn
// (under lock when given); it returns the page's ids.
func (a *App) refPage(m *Module, q *query.Query, max int, fn func([]map[string]any), lock *sync.Mutex) ([]oid.ID, error) {
	if lock != nil {
		lock.Lock()
		defer lock.Unlock()
	}
	ctx, cancel := context.WithTimeout(a.hardCtx, a.cfg.CallTimeout)
	defer cancel()
	refReads.Add(1)
	res, err := a.store.Read(ctx, m.coll, q)
	if err != nil {
		return nil, err
	}
	ids := make([]oid.ID, 0, len(res.Docs))
	for _, d := range res.Docs {
		if id, ok := d["_id"].(oid.ID); ok {
			ids = append(ids, id)
		}
	}
	if docs := res.Docs[:min(len(res.Docs), max)]; len(docs) > 0 {
		fn(docs)
	}
	return ids, nil
}

// rematch matches one page of watched documents referencing changed ones
// against tg's groups and queues the membership changes: "create" for a
// document that starts matching, "delete" for one that stops; cw.mu is
// held.
func (a *App) rematch(tg *refTarget, docs []map[string]any) {
	var refs map[string][]oid.ID
	for _, g := range tg.groups {
		for _, d := range docs {
			refs = qmatch.Refs(refs, g.filter, d)
		}
	}
	for coll, l := range refs {
		slices.SortFunc(l, func(x, y oid.ID) int { return bytes.Compare(x[:], y[:]) })
		refs[coll] = slices.Compact(l)
	}
	resolve := a.resolver(refs)
	for _, d := range docs {
		id, ok := d["_id"].(oid.ID)
		if !ok {
			continue
		}
		for gi, g := range tg.groups {
			now := qmatch.Match(g.filter, d, resolve)
			was, _ := g.mark(id, now, true)
			var e watchEvent
			switch {
			case now && !was:
				e = watchEvent{oper: feed.Create, id: id, doc: d}
			case was && !now:
				e = watchEvent{oper: feed.Delete, id: id}
			default:
				continue
			}
			e.g = g
			if e.doc != nil && len(tg.members[gi]) > 1 {
				e.shapes = &sharedShapes{}
			}
			for _, t := range tg.members[gi] {
				t.push(e)
			}
		}
	}
}
