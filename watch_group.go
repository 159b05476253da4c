package limp

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// watchGroup is the watchers of one collection whose filters are the same
// (same query.Key: same conditions, query_mod values and realm scope):
// the feed matches a change once per group, not once per watcher, and the
// group, not each watcher, remembers which documents match (known), so
// that 10,000 watchers of a few queries cost a few matches per change
// and a few sets of ids (BENCHMARKS.md, "Live queries at 10,000
// watchers"). A group is created by its first watcher, which reads the
// matching ids; later ones wait for that read and share the set.
type watchGroup struct {
	key    string
	filter query.Node
	ready  chan struct{} // closed once known is read
	err    error         // the read failed (set before ready closes)

	mu    sync.Mutex // guards known and entered
	known map[oid.ID]struct{}
	// entered: the known ids a re-check through a reference sent as
	// "create" (watch_join.go) whose own feed event has not been handled
	// since: that document's pending create event then sends nothing
	// (the re-check read it after that create; later changes have their
	// own events). A subset of known.
	entered map[oid.ID]struct{}

	// guarded by watchState.mu
	tasks map[*watchTask]struct{}
	list  []*watchTask // tasks as a slice, rebuilt when nil

	// In the collection's groupIndex (watch_index.go; guarded by its mu).
	guards  []guard // the string equalities the filter requires
	filed   int     // the guard it is filed under; -1: none
	removed bool
}

// members returns the group's watchers; watchState.mu is held. The
// slice is not modified afterwards.
func (g *watchGroup) members() []*watchTask {
	if g.list == nil {
		g.list = make([]*watchTask, 0, len(g.tasks))
		for t := range g.tasks {
			g.list = append(g.list, t)
		}
	}
	return g.list
}

// mark records whether document id matches g's filter now and reports
// whether it did before: a change's enter (create), stay (update) or
// leave (delete) for the group's watchers. byRef marks an enter found by
// a re-check through a reference (watch_join.go), which may read a new
// document before its own create event comes: entered reports that mark
// to the change that follows (and clears it), so the create is sent once.
func (g *watchGroup) mark(id oid.ID, now, byRef bool) (was, entered bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, was = g.known[id]
	_, entered = g.entered[id]
	switch {
	case !now:
		delete(g.known, id)
		delete(g.entered, id)
	case byRef:
		g.known[id] = struct{}{}
		if !was {
			if g.entered == nil {
				g.entered = map[oid.ID]struct{}{}
			}
			g.entered[id] = struct{}{}
		}
	default:
		g.known[id] = struct{}{}
		delete(g.entered, id)
	}
	return was, entered
}

// join puts t in the group of filter f, creating it (fresh) when there is
// none; watchState.mu is held.
func (cw *collWatch) join(t *watchTask, f query.Node) (g *watchGroup, fresh bool) {
	key := query.Key(&query.Query{Filter: f})
	g = cw.groups[key]
	if g == nil {
		g = &watchGroup{key: key, filter: f, ready: make(chan struct{}), known: map[oid.ID]struct{}{},
			tasks: map[*watchTask]struct{}{}}
		cw.groups[key] = g
		cw.idx.add(g)
		fresh = true
	}
	g.tasks[t] = struct{}{}
	g.list = nil
	t.g = g
	t.grp.Store(g)
	if !fresh {
		// The watcher's filter f (its t.q.Filter) is the group's (same
		// key): one tree for the group, not one per watcher.
		t.mu.Lock()
		if t.q != nil {
			q := *t.q
			q.Filter = g.filter
			t.q = &q
		}
		t.mu.Unlock()
	}
	return g, fresh
}

// leave takes t out of its group, dropping the group when it empties;
// watchState.mu is held.
func (cw *collWatch) leave(t *watchTask) {
	g := t.g
	if g == nil {
		return
	}
	t.g = nil
	delete(g.tasks, t)
	g.list = nil
	if len(g.tasks) == 0 && cw.groups[g.key] == g {
		delete(cw.groups, g.key)
		cw.idx.remove(g)
	}
}

// groupReady reads the ids matching a fresh group's filter, or waits for
// the read of the watcher that created it.
func (a *App) groupReady(ctx context.Context, cw *collWatch, g *watchGroup, fresh bool) error {
	if !fresh {
		select {
		case <-g.ready:
			return g.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// The documents matching now: a later change to one of them is an
	// update (or a delete when it stops matching).
	res, err := a.store.Read(ctx, cw.m.coll, &query.Query{Filter: g.filter, Attrs: []string{}})
	if err != nil {
		g.err = err
		a.wt.mu.Lock()
		if cw.groups[g.key] == g {
			delete(cw.groups, g.key) // the next watcher reads again
			cw.idx.remove(g)
		}
		a.wt.mu.Unlock()
		close(g.ready)
		return err
	}
	g.mu.Lock()
	for _, d := range res.Docs {
		if id, ok := d["_id"].(oid.ID); ok {
			g.known[id] = struct{}{}
		}
	}
	g.mu.Unlock()
	close(g.ready)
	return nil
}

// regroup moves t to the group of its new filter f (its session changed).
func (a *App) regroup(ctx context.Context, t *watchTask, f query.Node) error {
	w := &a.wt
	w.mu.Lock()
	cw := w.byColl[t.m.coll.Name]
	if cw == nil || t.g == nil || t.g.key == query.Key(&query.Query{Filter: f}) {
		w.mu.Unlock()
		return nil
	}
	cw.leave(t)
	g, fresh := cw.join(t, f)
	w.mu.Unlock()
	return a.groupReady(ctx, cw, g, fresh)
}

// sharedShapes is one event's document shaped and encoded once per $attrs
// for the watchers of a group whose shaping does not depend on who they
// are (no on-watch hook, no references to expand): the fan-out then costs
// one copy and one encoding per distinct $attrs, not per watcher.
type sharedShapes struct {
	mu sync.Mutex
	m  map[string]*sharedShape
}

type sharedShape struct {
	once sync.Once
	raw  json.RawMessage
	err  error
}

// get returns the encoding of the document shaped for attrs, shaping it
// with shape the first time.
func (s *sharedShapes) get(attrs []string, shape func() (map[string]any, error)) (json.RawMessage, error) {
	key := "*"
	if attrs != nil {
		key = "\x00" + strings.Join(attrs, "\x00")
	}
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]*sharedShape{}
	}
	e := s.m[key]
	if e == nil {
		e = &sharedShape{}
		s.m[key] = e
	}
	s.mu.Unlock()
	e.once.Do(func() {
		doc, err := shape()
		if err != nil {
			e.err = err
			return
		}
		e.raw, e.err = jsonv.Append(nil, doc)
	})
	return e.raw, e.err
}
