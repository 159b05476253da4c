package query_test

import (
	"testing"

	"github.com/limp-go/limp/internal/match"
	"github.com/limp-go/limp/internal/query"
)

// FuzzAbsorb checks that Absorb keeps a filter's meaning: filters built
// from the fuzzer's bytes (nested And/Or over a few conditions, repeats
// likely) select the same documents before and after, for every document
// of a small set.
func FuzzAbsorb(f *testing.F) {
	f.Add([]byte{0, 2, 1, 3, 0, 1})
	f.Add([]byte{0, 3, 4, 1, 2, 1, 5, 4})
	f.Add([]byte{1, 2, 0, 2, 4, 3, 1})
	conds := []*query.Cond{
		{Path: "a", Op: query.Eq, Value: int64(1)},
		{Path: "a", Op: query.Eq, Value: int64(2)},
		{Path: "b", Op: query.Eq, Value: "x"},
		{Path: "b", Op: query.Ne, Value: "x"},
		{Path: "a", Op: query.Gt, Value: int64(1)},
	}
	var docs []map[string]any
	for _, a := range []any{nil, int64(1), int64(2), int64(3)} {
		for _, b := range []any{nil, "x", "y"} {
			d := map[string]any{}
			if a != nil {
				d["a"] = a
			}
			if b != nil {
				d["b"] = b
			}
			docs = append(docs, d)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		pos := 0
		next := func() int {
			if pos >= len(in) {
				return 0
			}
			pos++
			return int(in[pos-1])
		}
		var build func(depth int) query.Node
		build = func(depth int) query.Node {
			k := next()
			if depth > 3 || k%3 == 2 || pos >= len(in) {
				c := *conds[next()%len(conds)] // copies: equal keys, distinct nodes
				return &c
			}
			n := 1 + next()%4
			items := make([]query.Node, n)
			for i := range items {
				items[i] = build(depth + 1)
			}
			if k%3 == 0 {
				return query.And(items)
			}
			return query.Or(items)
		}
		n := build(0)
		before := query.NodeKey(n)
		got := query.Absorb(n)
		if query.NodeKey(n) != before {
			t.Fatalf("Absorb changed its input")
		}
		for _, d := range docs {
			if w, g := match.Match(n, d, nil), match.Match(got, d, nil); w != g {
				t.Fatalf("doc %v: %s matches %t, absorbed %s matches %t", d, before, w, query.NodeKey(got), g)
			}
		}
	})
}
