package limp

import (
	"slices"
	"strings"
	"sync"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// Which filter groups a created document may match (issue 14 item 5;
// BENCHMARKS.md, "Live queries at 10,000 watchers").
//
// Most watch filters require an attr to equal a string: the status of
// the query_mod ("published"), a realm, a permalink, a tag. Such an
// equality is the group's guard: a document whose value at the path is
// not that string (nor a list holding it) cannot match. Each group is
// filed in its collection's groupIndex under one of its guards (the one
// whose (path, value) holds the fewest groups yet), and groups without
// a guard are counted apart. Before a create's after-image is even made,
// mayMatch looks the document's values up in the index and checks the
// other guards of the groups it finds: a draft created under 10,000
// watchers of published posts costs a few map lookups, no after-image and
// no event on the feed (watch_images.go). The check runs on the document
// as written, so it answers "may match" for any value it cannot judge
// (a type other than those a store returns); the groups' filters are
// then matched in full (onChange) on the after-image.

// guard is a condition path == value that a filter requires (a
// conjunct of its top-level $and): path is a top-level attr, value a
// string.
type guard struct {
	path, value string
}

// guardsOf returns the guards filter f requires.
func guardsOf(f query.Node) []guard {
	var out []guard
	var walk func(n query.Node)
	walk = func(n query.Node) {
		switch n := n.(type) {
		case query.And:
			for _, x := range n {
				walk(x)
			}
		case *query.Cond:
			s, ok := n.Value.(string)
			if ok && n.Op == query.Eq && n.Join == nil && n.Path != "_id" && n.Path != "" && !strings.Contains(n.Path, ".") {
				out = append(out, guard{n.Path, s})
			}
		}
	}
	walk(f)
	return out
}

// groupIndex files a collection's groups by one of their guards.
type groupIndex struct {
	mu    sync.RWMutex
	open  int                                 // groups without a guard
	by    map[string]map[string][]*watchGroup // path → value → groups
	paths []string                            // the keys of by
}

// add files g; watchState.mu is held.
func (x *groupIndex) add(g *watchGroup) {
	g.guards = guardsOf(g.filter)
	x.mu.Lock()
	defer x.mu.Unlock()
	g.filed = -1
	if len(g.guards) == 0 {
		x.open++
		return
	}
	if x.by == nil {
		x.by = map[string]map[string][]*watchGroup{}
	}
	best := -1
	for i, gd := range g.guards {
		if best < 0 || len(x.by[gd.path][gd.value]) < len(x.by[g.guards[best].path][g.guards[best].value]) {
			best = i
		}
	}
	g.filed = best
	gd := g.guards[best]
	vals := x.by[gd.path]
	if vals == nil {
		vals = map[string][]*watchGroup{}
		x.by[gd.path] = vals
		x.paths = append(x.paths, gd.path)
	}
	vals[gd.value] = append(vals[gd.value], g)
}

// remove takes g out of the index (once); watchState.mu is held.
func (x *groupIndex) remove(g *watchGroup) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if g.removed {
		return
	}
	g.removed = true
	if g.filed < 0 {
		x.open--
		return
	}
	gd := g.guards[g.filed]
	vals := x.by[gd.path]
	l := slices.DeleteFunc(slices.Clone(vals[gd.value]), func(y *watchGroup) bool { return y == g })
	if len(l) > 0 {
		vals[gd.value] = l
		return
	}
	delete(vals, gd.value)
	if len(vals) == 0 {
		delete(x.by, gd.path)
		x.paths = slices.DeleteFunc(x.paths, func(p string) bool { return p == gd.path })
	}
}

// mayMatch reports whether doc, a created document as written (or its
// after-image), may match the filter of one of the collection's groups:
// false only when every group requires a string doc does not hold. It is
// the change feed's filter of creates (feed.Hub.SubscribeDocsFilter) and
// runs on the writer's goroutine.
func (cw *collWatch) mayMatch(doc map[string]any) bool {
	x := &cw.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.open > 0 {
		return true
	}
	for _, p := range x.paths {
		vals := x.by[p]
		switch v := doc[p].(type) {
		case string:
			if passesAll(vals[v], doc) {
				return true
			}
		case oid.ID:
			if passesAll(vals[v.Hex()], doc) {
				return true
			}
		case []any:
			for _, e := range v {
				switch e := e.(type) {
				case string:
					if passesAll(vals[e], doc) {
						return true
					}
				case oid.ID:
					if passesAll(vals[e.Hex()], doc) {
						return true
					}
				case nil, bool, int64, float64, int, map[string]any, []any:
					// Never equal to a string.
				default:
					return true // a value it cannot judge
				}
			}
		case nil, bool, int64, float64, int, map[string]any:
			// Missing, or never equal to a string.
		default:
			return true
		}
	}
	return false
}

// passesAll reports whether doc passes every guard of one of groups.
func passesAll(groups []*watchGroup, doc map[string]any) bool {
	for _, g := range groups {
		ok := true
		for i, gd := range g.guards {
			if i != g.filed && !mayEqual(doc[gd.path], gd.value) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// mayEqual reports whether v, a document's value, may equal s as the
// stores compare them (a list: one of its elements); true when unsure.
func mayEqual(v any, s string) bool {
	switch v := v.(type) {
	case string:
		return v == s
	case oid.ID:
		return v.Hex() == s
	case []any:
		for _, e := range v {
			switch e := e.(type) {
			case string:
				if e == s {
					return true
				}
			case oid.ID:
				if e.Hex() == s {
					return true
				}
			case nil, bool, int64, float64, int, map[string]any, []any:
			default:
				return true
			}
		}
		return false
	case nil, bool, int64, float64, int, map[string]any:
		return false
	}
	return true
}
