package storetest

import (
	"slices"
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// WrongTyped is the collection of testWrongTyped: declared scalars (n
// indexed), a typed DICT and a LIST.
func WrongTyped() *schema.Collection {
	return &schema.Collection{Name: "st_wt", Module: "wt", Attrs: map[string]*schema.Type{
		"n": {Kind: schema.Int}, "s": str, "b": {Kind: schema.Bool},
		"d":    {Kind: schema.Dict, Fields: map[string]*schema.Type{"x": {Kind: schema.Int}}},
		"tags": {Kind: schema.List, Items: []*schema.Type{str}},
	}, Indexes: [][]schema.IndexKey{{{Path: "n"}}, {{Path: "s"}}}}
}

// testWrongTyped (issue 13): values of other types than declared at
// declared paths — written under an earlier schema where the attrs were
// ANY, then under the typed schema — match and sort as MongoDB says: a
// boolean never equals nor orders with a number, an object never compares
// as text, a list matches element by element and as a whole, a DICT path
// holding a list of documents is crossed element by element; sorts follow
// MongoDB's order across types (an empty array first, then null, numbers,
// strings, objects, arrays, booleans; an array by its least element
// ascending, its greatest descending).
func testWrongTyped(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := WrongTyped()
	earlier := &schema.Collection{Name: c.Name, Module: c.Module, Attrs: map[string]*schema.Type{}}
	for k := range c.Attrs {
		earlier.Attrs[k] = &schema.Type{Kind: schema.Any}
	}
	id := IDs(10)
	docs := []map[string]any{
		{"n": int64(1), "s": "b", "b": true, "d": map[string]any{"x": int64(1)}, "tags": []any{"a"}},
		{"n": int64(2), "s": "c", "b": false, "d": map[string]any{"x": int64(2)}},
		{"n": true, "s": map[string]any{"x": "v"}, "b": int64(1), "d": []any{map[string]any{"x": int64(1)}, map[string]any{"x": int64(5)}}, "tags": "a"},
		{"n": false, "s": []any{"a", "b"}, "b": "true", "d": "str"},
		{"n": []any{int64(2), int64(5)}, "s": "z", "b": []any{true}, "d": map[string]any{"x": []any{int64(3), int64(4)}}},
		{"n": "1", "s": int64(1), "b": int64(0)},
		{"n": nil, "s": nil},
		// Written under the typed schema.
		{"s": true, "b": false},
		{"n": int64(0), "s": "a", "b": true},
		{"n": []any{}, "s": []any{}, "tags": map[string]any{"a": "a"}},
	}
	for i, d := range docs {
		d["_id"] = id[i]
	}
	if err := s.Sync(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, earlier, docs[:7]...); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, c, docs[7:]...); err != nil {
		t.Fatal(err)
	}
	ids := func(is ...int) []oid.ID {
		out := []oid.ID{}
		for _, i := range is {
			out = append(out, id[i])
		}
		return out
	}
	sorted := func(p string, desc bool) *query.Query { return &query.Query{Sort: []query.Sort{{Path: p, Desc: desc}}} }
	for _, tt := range []struct {
		name string
		q    *query.Query
		want []oid.ID // newest first unless sorted
	}{
		{"int eq is not true", cond("n", query.Eq, int64(1)), ids(0)},
		{"int eq true", cond("n", query.Eq, true), ids(2)},
		{"int eq 0 is not false", cond("n", query.Eq, int64(0)), ids(8)},
		{"int lt is type-bracketed", cond("n", query.Lt, int64(1)), ids(8)},
		{"int gt through a list", cond("n", query.Gt, int64(1)), ids(4, 1)},
		{"int bet through a list", &query.Query{Filter: &query.Cond{Path: "n", Op: query.Bet, Value: int64(2), Value2: int64(3)}}, ids(4, 1)},
		{"int in", cond("n", query.In, []any{int64(0), int64(1)}), ids(8, 0)},
		{"int eq list element", cond("n", query.Eq, int64(2)), ids(4, 1)},
		{"int eq whole list", cond("n", query.Eq, []any{int64(2), int64(5)}), ids(4)},
		{"int ne", cond("n", query.Ne, int64(1)), ids(9, 8, 7, 6, 5, 4, 3, 2, 1)},
		{"int eq nil", cond("n", query.Eq, nil), ids(7, 6)},
		{"int all", cond("n", query.All, []any{int64(2), int64(5)}), ids(4)},
		{"str gt is type-bracketed", cond("s", query.Gt, "c"), ids(4)},
		{"str eq list element", cond("s", query.Eq, "a"), ids(8, 3)},
		{"str lt through a list", cond("s", query.Lt, "b"), ids(8, 3)},
		{"str eq object", cond("s", query.Eq, map[string]any{"x": "v"}), ids(2)},
		{"str eq number", cond("s", query.Eq, int64(1)), ids(5)},
		{"str regex through a list", cond("s", query.Regex, "^a"), ids(8, 3)},
		{"str in mixed", cond("s", query.In, []any{"c", true}), ids(7, 1)},
		{"bool eq true", cond("b", query.Eq, true), ids(8, 4, 0)},
		{"bool eq 1 is a number", cond("b", query.Eq, int64(1)), ids(2)},
		{"bool ne true", cond("b", query.Ne, true), ids(9, 7, 6, 5, 3, 2, 1)},
		{"bool gt false", cond("b", query.Gt, false), ids(8, 4, 0)},
		{"dict field through a list", cond("d.x", query.Eq, int64(1)), ids(2, 0)},
		{"dict field range through a list", cond("d.x", query.Gt, int64(4)), ids(2)},
		{"dict field list element", cond("d.x", query.Eq, int64(3)), ids(4)},
		{"dict field nil", cond("d.x", query.Eq, nil), ids(9, 8, 7, 6, 5, 3)},
		{"list attr holding a string", cond("tags", query.Eq, "a"), ids(2, 0)},
		{"sort int asc", sorted("n", false), ids(9, 7, 6, 8, 0, 4, 1, 5, 3, 2)},
		{"sort int desc", sorted("n", true), ids(2, 3, 5, 4, 1, 0, 8, 7, 6, 9)},
		{"sort str asc", sorted("s", false), ids(9, 6, 5, 8, 3, 0, 1, 4, 2, 7)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			knownBug(t, "")
			var got []oid.ID
			for _, d := range read(t, s, c, tt.q).Docs {
				got = append(got, d["_id"].(oid.ID))
			}
			if got == nil {
				got = []oid.ID{}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", describe(tt.q), got, tt.want)
			}
			// The same page of a paged read (the side-only plan of the
			// embedded store).
			q := *tt.q
			q.Skip, q.Limit = 1, 3
			if len(q.Sort) == 0 {
				q.Sort = []query.Sort{{Path: "_id", Desc: true}}
			}
			var page []oid.ID
			res := read(t, s, c, &q)
			for _, d := range res.Docs {
				page = append(page, d["_id"].(oid.ID))
			}
			want := tt.want[min(1, len(tt.want)):]
			want = want[:min(3, len(want))]
			if page == nil {
				page = []oid.ID{}
			}
			if !slices.Equal(page, want) || res.Total != int64(len(tt.want)) {
				t.Errorf("%s skip 1 limit 3: got %v total %d, want %v total %d", describe(&q), page, res.Total, want, len(tt.want))
			}
		})
	}
}

// testWrongTypedNested: a list of lists at a declared INT path matches a
// list operand by element ([[1]] holds [1]) and sorts as an array.
func testWrongTypedNested(t *testing.T, s store.Store) {
	needs(t, s, store.FeatureNestedArrays)
	ctx := t.Context()
	c := WrongTyped()
	id := IDs(3)
	docs := []map[string]any{
		{"_id": id[0], "n": []any{[]any{int64(1)}}}, {"_id": id[1], "n": []any{int64(1)}}, {"_id": id[2], "n": "x"},
	}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, c, docs...); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		q    *query.Query
		want []oid.ID
	}{
		{"eq list", cond("n", query.Eq, []any{int64(1)}), []oid.ID{id[1], id[0]}},
		{"eq element", cond("n", query.Eq, int64(1)), []oid.ID{id[1]}},
		{"sort desc", &query.Query{Sort: []query.Sort{{Path: "n", Desc: true}}}, []oid.ID{id[0], id[2], id[1]}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			knownBug(t, "")
			var got []oid.ID
			for _, d := range read(t, s, c, tt.q).Docs {
				got = append(got, d["_id"].(oid.ID))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", describe(tt.q), got, tt.want)
			}
		})
	}
}
