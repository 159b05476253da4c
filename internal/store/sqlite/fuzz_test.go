package sqlite

import (
	"slices"
	"testing"

	"github.com/limp-go/limp/internal/bsonorder"
	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// FuzzRead runs reads with arbitrary paths, values and search strings on
// a store: a path Compile accepts must make valid SQL (filters,
// Mongo-ordered sorts and $group) and any search string a valid FTS5
// query, never an SQLite error.
func FuzzRead(f *testing.F) {
	f.Add("title", "x", int64(1))
	f.Add("items.0.qty", "it's", int64(-1))
	f.Add(`a"b`, `"; DROP TABLE x; --`, int64(0))
	f.Add("loc.en AE", "\x00", int64(9))
	f.Add("meta.a b.?", "x", int64(9))
	f.Add("title", `-"a b" "c -d" NEAR(e*) -`, int64(2))
	c := testCollection()
	s, err := Open(f.Context(), ":memory:", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	if err := s.Sync(f.Context(), c); err != nil {
		f.Fatal(err)
	}
	if err := s.Insert(f.Context(), c, map[string]any{"_id": oid.New(), "title": "a", "meta": map[string]any{"a b": []any{int64(1)}}}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, str string, n int64) {
		q := &query.Query{
			Filter: query.And{
				&query.Cond{Path: path, Op: query.Eq, Value: str},
				&query.Cond{Path: path, Op: query.In, Value: []any{str, n, nil}},
			},
			Sort:  []query.Sort{{Path: path}, {Path: "meta." + path, Desc: true}},
			Group: []query.Group{{By: path, Count: 2}},
		}
		if _, err := Compile(c, q); err != nil {
			return
		}
		if _, err := s.Read(t.Context(), c, q); err != nil {
			t.Fatalf("path %q: %v", path, err)
		}
		q.Filter = nil
		if _, err := s.Read(t.Context(), c, q); err != nil {
			t.Fatalf("path %q: %v", path, err)
		}
		// Any search string is a valid FTS5 query.
		if _, err := s.Read(t.Context(), c, &query.Query{Search: str}); err != nil {
			t.Fatalf("search %q: %v", str, err)
		}
	})
}

// FuzzOrderEquality checks the store against the reference comparator
// (internal/bsonorder, MongoDB's comparison order) on arbitrary stored
// values of an ANY attr: $eq with a whole value finds exactly the
// documents holding an equal value or an array with an equal element,
// numbers compared as numbers at every depth (a copy of the value with
// its integers written as floats is always found); $sort ascending and
// descending order the documents as MongoDB does (an array by its least
// or greatest element, an empty array before null, ties by _id
// descending).
func FuzzOrderEquality(f *testing.F) {
	for _, s := range [][2]string{
		{`{"score":10.0,"label":"l"}`, `{"score":9}`},
		{`[{"score":2,"label":"l"}]`, `{"label":"l","score":2.0}`},
		{`[[1,2],[]]`, `[1,"a",null]`},
		{`[]`, `null`},
		{`9007199254740993`, `9007199254740992.0`},
		{`"a\u0000b"`, `"a"`},
		{`{"a":{"b":[1,{"c":2}]}}`, `{"a":{"b":[1.0,{"c":2.0}]}}`},
		{`true`, `[false,{"x":[]}]`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	c := &schema.Collection{Name: "ord", Attrs: map[string]*schema.Type{"meta": {Kind: schema.Any}}}
	s, err := Open(f.Context(), ":memory:", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	if err := s.Sync(f.Context(), c); err != nil {
		f.Fatal(err)
	}
	ids := []oid.ID{oid.MustParse("659400000000000000000001"), oid.MustParse("659400000000000000000002"),
		oid.MustParse("659400000000000000000003"), oid.MustParse("659400000000000000000004")}
	f.Fuzz(func(t *testing.T, x, y []byte) {
		a, err := jsonv.Parse(x)
		if err != nil || depth(a) > 8 {
			return
		}
		b, err := jsonv.Parse(y)
		if err != nil || depth(b) > 8 {
			return
		}
		ctx := t.Context()
		if _, err := s.Delete(ctx, c, nil, true); err != nil {
			t.Fatal(err)
		}
		vals := []any{a, b, floats(a)}
		docs := []map[string]any{}
		for i, v := range vals {
			docs = append(docs, map[string]any{"_id": ids[i], "meta": v})
		}
		docs = append(docs, map[string]any{"_id": ids[3]}) // meta missing
		if err := s.Insert(ctx, c, docs...); err != nil {
			return // a value the store refuses (e.g. a key with ".")
		}
		meta := func(i int) (any, bool) {
			if i == 3 {
				return nil, false
			}
			return vals[i], true
		}
		idsOf := func(q *query.Query) []oid.ID {
			res, err := s.Read(ctx, c, q)
			if err != nil {
				t.Fatalf("read %+v: %v", q, err)
			}
			out := []oid.ID{}
			for _, d := range res.Docs {
				out = append(out, d["_id"].(oid.ID))
			}
			return out
		}
		// $eq, reference: MongoDB's equality match on a field.
		var want []oid.ID
		for i := 3; i >= 0; i-- {
			v, ok := meta(i)
			match := !ok && a == nil || ok && bsonorder.Equal(v, a)
			if l, isList := v.([]any); isList {
				for _, e := range l {
					match = match || bsonorder.Equal(e, a)
				}
			}
			if match {
				want = append(want, ids[i])
			}
		}
		if got := idsOf(&query.Query{Filter: &query.Cond{Path: "meta", Op: query.Eq, Value: a}}); !slices.Equal(got, want) {
			t.Fatalf("meta == %s: got %v, want %v", x, got, want)
		}
		if !slices.Contains(want, ids[2]) {
			t.Fatalf("meta == %s misses its copy with float numbers", x)
		}
		// $sort, reference: each document's sort key by bsonorder.
		for _, desc := range []bool{false, true} {
			order := []int{3, 2, 1, 0} // _id descending breaks ties
			slices.SortStableFunc(order, func(i, j int) int {
				vi, _ := meta(i)
				vj, _ := meta(j)
				c := compareSortKeys(vi, vj, desc)
				if desc {
					c = -c
				}
				return c
			})
			want := make([]oid.ID, len(order))
			for k, i := range order {
				want[k] = ids[i]
			}
			if got := idsOf(&query.Query{Sort: []query.Sort{{Path: "meta", Desc: desc}}}); !slices.Equal(got, want) {
				t.Fatalf("sort desc=%v of %s, %s: got %v, want %v", desc, x, y, got, want)
			}
		}
	})
}

// compareSortKeys compares two field values as MongoDB's $sort does: an
// array by its least (ascending) or greatest (descending) element, an
// empty array before everything (null included).
func compareSortKeys(a, b any, desc bool) int {
	key := func(v any) (any, bool) {
		l, ok := v.([]any)
		if !ok {
			return v, false
		}
		if len(l) == 0 {
			return nil, true
		}
		best := l[0]
		for _, e := range l[1:] {
			if c := bsonorder.Compare(e, best); !desc && c < 0 || desc && c > 0 {
				best = e
			}
		}
		return best, false
	}
	ka, ea := key(a)
	kb, eb := key(b)
	switch {
	case ea && eb:
		return 0
	case ea:
		return -1
	case eb:
		return 1
	}
	return bsonorder.Compare(ka, kb)
}

// floats returns v with every integer that a float64 holds exactly
// written as a float64.
func floats(v any) any {
	switch x := v.(type) {
	case int64:
		if x >= -(1<<53) && x <= 1<<53 {
			return float64(x)
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = floats(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = floats(e)
		}
		return out
	}
	return v
}

func depth(v any) int {
	d := 0
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	case map[string]any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}
