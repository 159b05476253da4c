package limp

import (
	"context"

	"github.com/limp-go/limp/internal/feed"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// The limit of a re-check through a reference, per caller (issue 14: a
// caller learns nothing about a document it may not read).
//
// The shared re-check of a reference path (watch_join.go) counts every
// document referencing the changed ones, whoever may read them. When it
// goes past a bound (WatchRefLimit documents at one level, or WatchRefLimit
// changed ids waiting), each group of watchers concerned is handled on
// its own, on what its caller may read:
//
//   - when the caller may read one of the changed referenced documents
//     (the read permission its filter's joins carry on that collection),
//     its watches end with 503 CORE_WATCH_REF_LIMIT, as before: it may
//     see that document change anyway;
//   - otherwise the group's membership is read anew with its own filter
//     (the caller's conditions and permissions, evaluated by the store)
//     and compared with the ids it knows: the documents that entered
//     arrive as "create", those that left as "delete" {_id}. Only when
//     more than WatchRefLimit documents entered or left, all of them
//     documents the caller may read now or did read, do its watches end
//     with 503 CORE_WATCH_REF_LIMIT.
//
// So documents the caller may not read, however many reference a changed
// document it may not read, never end its watch.

// overflow handles each group of tg after its re-check through changed
// (the changed ids of the path's last collection) went past a bound.
func (a *App) overflow(tg *refTarget, changed []any) {
	for i, g := range tg.groups {
		if a.refsClosed() {
			return
		}
		one := &refTarget{cw: tg.cw, path: tg.path, groups: []*watchGroup{g}, members: [][]*watchTask{tg.members[i]}}
		readable, err := a.refReadable(g, tg.path, changed)
		if err == nil && !readable {
			err = a.resync(one)
		}
		switch {
		case err != nil:
			a.Logger().Error("watch: re-check a group past the reference limit", "collection", tg.cw.m.coll.Name, "err", err)
			one.end(errWatchLost)
		case readable:
			one.end(errWatchRefLimit)
		}
	}
}

// joinFilters returns the Join.Filter of every condition of n that runs
// through path (nested joins followed step by step); a nil filter stands
// for "every document", a Deny join adds nothing.
func joinFilters(dst []query.Node, n query.Node, path refPath) []query.Node {
	if len(path) == 0 {
		return dst
	}
	switch n := n.(type) {
	case query.And:
		for _, x := range n {
			dst = joinFilters(dst, x, path)
		}
	case query.Or:
		for _, x := range n {
			dst = joinFilters(dst, x, path)
		}
	case *query.Cond:
		j := n.Join
		if j == nil || j.Deny || j.Local != path[0].local || j.Collection != path[0].coll {
			return dst
		}
		if len(path) == 1 {
			return append(dst, j.Filter)
		}
		dst = joinFilters(dst, j.Filter, path[1:])
	}
	return dst
}

// refReadable reports whether g's caller may read one of ids, live
// documents of path's last collection, as g's filter joins them.
func (a *App) refReadable(g *watchGroup, path refPath, ids []any) (bool, error) {
	if len(ids) == 0 || len(path) == 0 {
		return false, nil
	}
	m := a.collByName(path[len(path)-1].coll)
	if m == nil {
		return false, nil
	}
	fs := joinFilters(nil, g.filter, path)
	if len(fs) == 0 {
		return false, nil
	}
	var perm query.Or
	for _, f := range fs {
		if f == nil {
			perm = nil
			break
		}
		perm = append(perm, f)
	}
	var f query.Node = &query.Cond{Path: "_id", Op: query.In, Value: ids}
	if perm != nil {
		f = query.And{f, perm}
	}
	ctx, cancel := context.WithTimeout(a.hardCtx, a.cfg.CallTimeout)
	defer cancel()
	res, err := a.store.Read(ctx, m.coll, &query.Query{Filter: f, Limit: 1, Attrs: []string{}})
	if err != nil {
		return false, err
	}
	return len(res.Docs) > 0, nil
}

// resync reads the membership of tg's one group anew with its filter and
// sends what changed: "delete" for the known ids that no longer match,
// "create" (WatchRefPage at a time, paced) for the matching ids it did
// not know. More than WatchRefLimit of them end its watches with 503
// CORE_WATCH_REF_LIMIT.
func (a *App) resync(tg *refTarget) error {
	g, cw := tg.groups[0], tg.cw
	limit, page := refBounds()
	cw.mu.Lock()
	ctx, cancel := context.WithTimeout(a.hardCtx, a.cfg.CallTimeout)
	refReads.Add(1)
	res, err := a.store.Read(ctx, cw.m.coll, &query.Query{Filter: g.filter, Attrs: []string{}})
	cancel()
	if err != nil {
		cw.mu.Unlock()
		return err
	}
	now := make(map[oid.ID]struct{}, len(res.Docs))
	for _, d := range res.Docs {
		if id, ok := d["_id"].(oid.ID); ok {
			now[id] = struct{}{}
		}
	}
	var left []oid.ID
	var entered []any
	g.mu.Lock()
	for id := range g.known {
		if _, ok := now[id]; !ok {
			left = append(left, id)
		}
	}
	for id := range now {
		if _, ok := g.known[id]; !ok {
			entered = append(entered, id)
		}
	}
	g.mu.Unlock()
	if len(left)+len(entered) > limit {
		cw.mu.Unlock()
		tg.end(errWatchRefLimit)
		return nil
	}
	for _, id := range left {
		if was, _ := g.mark(id, false, true); was {
			e := watchEvent{oper: feed.Delete, id: id, g: g}
			for _, t := range tg.members[0] {
				t.push(e)
			}
		}
	}
	cw.mu.Unlock()
	for i := 0; i < len(entered); i += page {
		if a.refsClosed() {
			return nil
		}
		if i > 0 {
			a.pace(tg)
		}
		chunk := entered[i:min(i+page, len(entered))]
		q := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.In, Value: chunk}, Sort: []query.Sort{{Path: "_id"}}}
		if _, err := a.refPage(cw.m, q, len(chunk), func(docs []map[string]any) { a.rematch(tg, docs) }, &cw.mu); err != nil {
			return err
		}
	}
	return nil
}
