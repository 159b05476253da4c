package limp

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	qmatch "github.com/limp-go/limp/internal/match"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

func eqc(p string, v any) *query.Cond { return &query.Cond{Path: p, Op: query.Eq, Value: v} }

func TestGuardsOf(t *testing.T) {
	join := &query.Cond{Path: "title", Op: query.Eq, Value: "x", Join: &query.Join{Local: "cat", Collection: "cat"}}
	for _, tc := range []struct {
		f    query.Node
		want []guard
	}{
		{nil, nil},
		{eqc("status", "published"), []guard{{"status", "published"}}},
		{query.And{eqc("status", "published"), query.And{eqc("tags", "t1"), eqc("rank", int64(3))}}, []guard{{"status", "published"}, {"tags", "t1"}}},
		// Not required by the whole filter, or not a plain string
		// equality on a top-level attr.
		{query.Or{eqc("status", "a"), eqc("status", "b")}, nil},
		{query.And{&query.Cond{Path: "status", Op: query.Ne, Value: "x"}, eqc("a.b", "x"), eqc("_id", "x"), join, eqc("n", nil)}, nil},
	} {
		if got := guardsOf(tc.f); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("guardsOf(%v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}

// TestMayMatch: the index of the benchmark's groups (BENCHMARKS.md, "Live
// queries at 10,000 watchers") lets a draft through to no group and a
// published note to one; groups without a guard let everything through;
// removing groups empties the index.
func TestMayMatch(t *testing.T) {
	cw := &collWatch{}
	pub := eqc("status", "published")
	var groups []*watchGroup
	add := func(f query.Node) {
		g := &watchGroup{filter: f}
		cw.idx.add(g)
		groups = append(groups, g)
	}
	add(pub)
	for i := range 10 {
		add(query.And{eqc("tags", fmt.Sprint("t", i)), pub})
	}
	add(query.And{&query.Cond{Path: "rank", Op: query.Gte, Value: int64(90)}, pub})
	add(query.And{eqc("permalink", "never"), pub})
	add(query.And{eqc("status", "draft"), pub})
	draft := map[string]any{"_id": oid.New(), "status": "draft", "tags": []any{"t0"}, "permalink": "r1", "rank": int64(1)}
	if cw.mayMatch(draft) {
		t.Error("a draft may match")
	}
	if !cw.mayMatch(map[string]any{"_id": oid.New(), "status": "published"}) {
		t.Error("a published note may not match")
	}
	// Values it cannot judge: may match.
	for _, v := range []any{[]string{"draft"}, time.Now(), []any{int32(1)}} {
		if !cw.mayMatch(map[string]any{"status": v}) {
			t.Errorf("status %T: may not match", v)
		}
	}
	open := &watchGroup{filter: &query.Cond{Path: "rank", Op: query.Gt, Value: int64(1)}}
	cw.idx.add(open)
	if !cw.mayMatch(draft) {
		t.Error("a group without a guard: a draft may not match")
	}
	cw.idx.remove(open)
	cw.idx.remove(open) // once
	if cw.mayMatch(draft) || cw.idx.open != 0 {
		t.Errorf("after removing the open group: may match, open %d", cw.idx.open)
	}
	for _, g := range groups {
		cw.idx.remove(g)
	}
	if len(cw.idx.by) != 0 || len(cw.idx.paths) != 0 || cw.idx.open != 0 {
		t.Errorf("index not empty: %v %v %d", cw.idx.by, cw.idx.paths, cw.idx.open)
	}
}

// TestMayMatchNeverMisses: for random filters and documents, whenever a
// filter of the index matches a document (internal/match, as onChange
// matches the after-image), mayMatch says it may.
func TestMayMatchNeverMisses(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	id := oid.New()
	strs := []any{"a", "b", "c", id.Hex()}
	paths := []string{"s", "l", "n", "x"}
	value := func() any {
		switch r.IntN(9) {
		case 0:
			return nil
		case 1:
			return int64(r.IntN(3))
		case 2:
			return id
		case 3:
			l := []any{}
			for range r.IntN(3) {
				l = append(l, strs[r.IntN(len(strs))])
			}
			if r.IntN(4) == 0 {
				l = append(l, id, nil, map[string]any{"s": "a"})
			}
			return l
		case 4:
			return map[string]any{"s": strs[r.IntN(len(strs))]}
		case 5:
			return true
		}
		return strs[r.IntN(len(strs))]
	}
	var cond func(depth int) query.Node
	cond = func(depth int) query.Node {
		p := paths[r.IntN(len(paths))]
		switch k := r.IntN(10); {
		case k < 5 || depth > 2:
			return eqc(p, strs[r.IntN(len(strs))])
		case k == 5:
			return &query.Cond{Path: p, Op: query.Ne, Value: strs[r.IntN(len(strs))]}
		case k == 6:
			return &query.Cond{Path: p, Op: query.In, Value: []any{strs[r.IntN(len(strs))], nil}}
		case k == 7:
			return query.Or{cond(depth + 1), cond(depth + 1)}
		case k == 8:
			return eqc(p, id)
		}
		return query.And{cond(depth + 1), cond(depth + 1), cond(depth + 1)}
	}
	rejected, total := 0, 0
	for round := range 300 {
		cw := &collWatch{}
		var filters []query.Node
		for range 1 + r.IntN(6) {
			f := query.And{cond(0), cond(0)}
			filters = append(filters, f)
			cw.idx.add(&watchGroup{filter: f})
		}
		for range 200 {
			doc := map[string]any{"_id": oid.New()}
			for _, p := range paths {
				if r.IntN(4) != 0 {
					doc[p] = value()
				}
			}
			may := cw.mayMatch(doc)
			total++
			if !may {
				rejected++
			}
			for _, f := range filters {
				if qmatch.Match(f, doc, nil) && !may {
					t.Fatalf("round %d: %v matches %v, but mayMatch says no", round, f, doc)
				}
			}
		}
	}
	// The index does reject: the test checks its answers, not only "may".
	if rejected < total/10 {
		t.Fatalf("mayMatch rejected %d documents of %d", rejected, total)
	}
	t.Logf("rejected %d of %d", rejected, total)
}
