package storetest

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// RunWrites runs the conformance cases of bounded updates (Update.Bounds)
// and of updates touching one path with several operators, each on its own
// store. Both stores must give the same answers.
func RunWrites(t *testing.T, open Opener) {
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Bounds", testBounds},
		{"BoundsManyDocs", testBoundsManyDocs},
		{"SamePathOperators", testSamePathOperators},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func ptr(f float64) *float64 { return &f }

// testBounds: $add/$multiply past max or below min, $append past a list's
// max and $remove below its min are refused with a *store.BoundsError and
// change nothing; the same operators within bounds apply.
func testBounds(t *testing.T, s store.Store) {
	c, id := seed(t, s)
	ctx := t.Context()
	byID := func(i int) *query.Query { return cond("_id", query.Eq, id[i]) }
	n0to10 := map[string]store.Bounds{"n": {Min: ptr(0), Max: ptr(10)}}
	tags1to3 := map[string]store.Bounds{"tags": {Min: ptr(1), Max: ptr(3)}}
	qty0 := map[string]store.Bounds{"items.0.qty": {Min: ptr(0)}}
	for _, tt := range []struct {
		name   string
		doc    int
		u      *store.Update
		path   string
		length bool
		value  float64
	}{
		{"add past max", 0, &store.Update{Add: map[string]any{"n": int64(10)}, Bounds: n0to10}, "n", false, 11},
		{"add below min", 0, &store.Update{Add: map[string]any{"n": int64(-2)}, Bounds: n0to10}, "n", false, -1},
		{"multiply past max", 4, &store.Update{Mul: map[string]any{"n": 1.5}, Bounds: n0to10}, "n", false, 15},
		{"multiply below min", 0, &store.Update{Mul: map[string]any{"n": int64(-1)}, Bounds: n0to10}, "n", false, -1},
		{"add to missing past max", 3, &store.Update{Add: map[string]any{"n": int64(11)}, Bounds: n0to10}, "n", false, 11},
		{"add with a set beside it", 0, &store.Update{Set: map[string]any{"title": "changed"}, Add: map[string]any{"n": int64(10)}, Bounds: n0to10}, "n", false, 11},
		{"nested add below min", 0, &store.Update{Add: map[string]any{"items.0.qty": int64(-3)}, Bounds: qty0}, "items.0.qty", false, -1},
		{"append past max", 0, &store.Update{Append: map[string]store.Append{"tags": {Values: []any{"c", "d"}}}, Bounds: tags1to3}, "tags", true, 4},
		{"append unique past max", 0, &store.Update{Append: map[string]store.Append{"tags": {Values: []any{"a", "c", "d", "d"}, Unique: true}}, Bounds: tags1to3}, "tags", true, 4},
		{"remove below min", 0, &store.Update{Remove: map[string][]any{"tags": {"a", "b"}}, Bounds: tags1to3}, "tags", true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := read(t, s, c, &query.Query{}).Docs
			_, err := s.Update(ctx, c, byID(tt.doc), tt.u)
			var be *store.BoundsError
			if !errors.As(err, &be) {
				t.Fatalf("update: %v, want a *store.BoundsError", err)
			}
			if be.Path != tt.path || be.Length != tt.length || be.ID != id[tt.doc] {
				t.Errorf("BoundsError %+v, want path %q length %v id %s", be, tt.path, tt.length, id[tt.doc].Hex())
			}
			if !math.IsNaN(be.Value) && be.Value != tt.value {
				t.Errorf("BoundsError value %v, want %v", be.Value, tt.value)
			}
			if after := read(t, s, c, &query.Query{}).Docs; !reflect.DeepEqual(before, after) {
				t.Errorf("a refused update changed documents:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	// Within bounds: a negative operand on a min=0 attr, the exact ends.
	for _, tt := range []struct {
		name string
		doc  int
		u    *store.Update
		path string
		want any
	}{
		{"negative add within bounds", 4, &store.Update{Add: map[string]any{"n": int64(-10)}, Bounds: n0to10}, "n", int64(0)},
		{"add up to max", 4, &store.Update{Add: map[string]any{"n": int64(10)}, Bounds: n0to10}, "n", int64(10)},
		{"multiply within bounds", 1, &store.Update{Mul: map[string]any{"n": int64(5)}, Bounds: n0to10}, "n", int64(10)},
		{"nested add to zero", 0, &store.Update{Add: map[string]any{"items.0.qty": int64(-2)}, Bounds: qty0}, "items.0.qty", int64(0)},
		{"append up to max", 0, &store.Update{Append: map[string]store.Append{"tags": {Values: []any{"c"}}}, Bounds: tags1to3}, "tags", []any{"a", "b", "c"}},
		{"append unique of present values", 0, &store.Update{Append: map[string]store.Append{"tags": {Values: []any{"a", "c"}, Unique: true}}, Bounds: tags1to3}, "tags", []any{"a", "b", "c"}},
		{"remove down to min", 0, &store.Update{Remove: map[string][]any{"tags": {"a", "b"}}, Bounds: tags1to3}, "tags", []any{"c"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Update(ctx, c, byID(tt.doc), tt.u)
			if err != nil || len(got.Matched) != 1 {
				t.Fatalf("update: %v %v", got, err)
			}
			d := read(t, s, c, byID(tt.doc)).Docs[0]
			if v := pathValue(d, tt.path); !reflect.DeepEqual(v, tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.path, v, tt.want)
			}
		})
	}
}

// testBoundsManyDocs: an update over several documents where one would go
// out of bounds changes none of them.
func testBoundsManyDocs(t *testing.T, s store.Store) {
	c, id := seed(t, s)
	ctx := t.Context()
	before := read(t, s, c, &query.Query{}).Docs
	some := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.In, Value: []any{id[0], id[1], id[2], id[4]}}}
	_, err := s.Update(ctx, c, some, &store.Update{Add: map[string]any{"n": int64(5)}, Set: map[string]any{"ok": true},
		Bounds: map[string]store.Bounds{"n": {Max: ptr(10)}}})
	var be *store.BoundsError
	if !errors.As(err, &be) || be.Path != "n" {
		t.Fatalf("update: %v, want a *store.BoundsError on n", err)
	}
	if be.ID != id[4] && be.ID != oid.Nil {
		t.Errorf("BoundsError names %s, want %s", be.ID.Hex(), id[4].Hex())
	}
	if after := read(t, s, c, &query.Query{}).Docs; !reflect.DeepEqual(before, after) {
		t.Errorf("a refused update changed documents:\nbefore %v\nafter  %v", before, after)
	}
	// Without the document that would overflow, all change.
	some.Filter = &query.Cond{Path: "_id", Op: query.In, Value: []any{id[0], id[1], id[2]}}
	if got, err := s.Update(ctx, c, some, &store.Update{Add: map[string]any{"n": int64(5)}, Bounds: map[string]store.Bounds{"n": {Max: ptr(10)}}}); err != nil || len(got.Matched) != 3 {
		t.Fatalf("update within bounds: %v %v", got, err)
	}
	for i, want := range []int64{6, 7, 8} {
		if d := read(t, s, c, cond("_id", query.Eq, id[i])).Docs[0]; d["n"] != want {
			t.Errorf("doc %d: n = %#v, want %d", i, d["n"], want)
		}
	}
}

// testSamePathOperators: operators that MongoDB refuses in one update
// document (the same path, or a path and its parent) apply in the
// documented order: Set, Unset, Add, Mul, Append, Remove.
func testSamePathOperators(t *testing.T, s store.Store) {
	c, id := seed(t, s)
	ctx := t.Context()
	byID := cond("_id", query.Eq, id[0])
	u := &store.Update{
		Set:    map[string]any{"meta": map[string]any{"k": int64(1)}, "meta.j": "x"},
		Add:    map[string]any{"meta.k": int64(2), "n": int64(4)},
		Mul:    map[string]any{"n": int64(3)},
		Append: map[string]store.Append{"tags": {Values: []any{"c", "d"}}},
		Remove: map[string][]any{"tags": {"a", "d"}},
	}
	if got, err := s.Update(ctx, c, byID, u); err != nil || len(got.Matched) != 1 {
		t.Fatalf("update: %v %v", got, err)
	}
	d := read(t, s, c, byID).Docs[0]
	if want := map[string]any{"k": int64(3), "j": "x"}; !reflect.DeepEqual(d["meta"], want) {
		t.Errorf("meta = %#v, want %#v", d["meta"], want)
	}
	if d["n"] != int64(15) {
		t.Errorf("n = %#v, want 15 ((1+4)*3)", d["n"])
	}
	if want := []any{"b", "c"}; !reflect.DeepEqual(d["tags"], want) {
		t.Errorf("tags = %#v, want %#v", d["tags"], want)
	}
}

// pathValue returns the value at a dotted path of a read document.
func pathValue(d map[string]any, p string) any {
	var cur any = d
	for _, seg := range splitPath(p) {
		switch x := cur.(type) {
		case map[string]any:
			cur = x[seg]
		case []any:
			i := 0
			for _, r := range seg {
				i = i*10 + int(r-'0')
			}
			if i >= len(x) {
				return nil
			}
			cur = x[i]
		default:
			return nil
		}
	}
	return cur
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}
