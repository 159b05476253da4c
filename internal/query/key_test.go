package query

import (
	"testing"

	"github.com/limp-go/limp/internal/oid"
)

func TestKey(t *testing.T) {
	id := oid.MustParse("000000000000000000000001")
	qs := []*Query{
		{},
		{Limit: 1},
		{Skip: 1},
		{Filter: &Cond{Path: "a", Op: Eq, Value: int64(2)}},
		{Filter: &Cond{Path: "a", Op: Eq, Value: float64(2)}},
		{Filter: &Cond{Path: "a", Op: Eq, Value: "2"}},
		{Filter: &Cond{Path: "a", Op: Ne, Value: "2"}},
		{Filter: &Cond{Path: "a", Op: Eq, Value: id}},
		{Filter: &Cond{Path: "a", Op: Eq, Value: id.Hex()}},
		{Filter: And{&Cond{Path: "a", Op: Eq, Value: "x"}, &Cond{Path: "b", Op: Eq, Value: "y"}}},
		{Filter: Or{&Cond{Path: "a", Op: Eq, Value: "x"}, &Cond{Path: "b", Op: Eq, Value: "y"}}},
		{Filter: &Cond{Path: "a", Op: Eq, Value: "x:s1:y"}},
		{Filter: &Cond{Path: "a", Op: Eq, Value: "x", Join: &Join{Local: "c", Collection: "cats"}}},
		{Filter: &Cond{Path: "a", Op: Eq, Value: "x", Join: &Join{Local: "c", Collection: "cats", Deny: true}}},
		{Filter: &Cond{Path: "a", Op: Eq, Value: "x", Join: &Join{Local: "c", Collection: "cats",
			Filter: &Cond{Path: "user", Op: Eq, Value: id}}}},
		{Filter: &Access{Path: "acc", User: id}},
		{Sort: []Sort{{Path: "a"}}},
		{Sort: []Sort{{Path: "a", Desc: true}}},
		{Attrs: []string{}},
		{Attrs: []string{"a"}},
		{Extn: []string{}},
		{Extn: []string{"a"}},
		{Search: "x"},
		{Soft: true},
		{Group: []Group{{By: "a", Count: 2}}},
		{GeoNear: &GeoNear{Attr: "g", Lng: 1}},
		{Filter: &Cond{Path: "m", Op: Eq, Value: map[string]any{"a": int64(1), "b": []any{"x"}}}},
	}
	seen := map[string]int{}
	for i, q := range qs {
		k := Key(q)
		if j, dup := seen[k]; dup {
			t.Errorf("queries %d and %d share key %q", j, i, k)
		}
		seen[k] = i
		if Key(q) != k {
			t.Errorf("query %d: key not stable", i)
		}
	}
	a := &Query{Filter: &Cond{Path: "m", Op: Eq, Value: map[string]any{"a": int64(1), "b": "x", "c": nil, "d": true}}}
	first := Key(a)
	for range 20 {
		if Key(a) != first {
			t.Fatal("map order leaks into the key")
		}
	}
}
