// Package storetest is the conformance suite every store.Store
// implementation passes: the same documents, queries and updates with the
// same expected results, so the embedded SQLite store and the MongoDB
// store behave alike. A store's test calls Run with a function opening a
// fresh, empty store.
package storetest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// Opener returns a fresh, empty store; the store's test closes it (in
// t.Cleanup) and removes its data.
type Opener func(t *testing.T) store.Store

// Run runs the conformance suite, each subtest on its own store.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Filters", testFilters},
		{"SortPageAttrs", testSortPageAttrs},
		{"Values", testValues},
		{"Duplicate", testDuplicate},
		{"Update", testUpdate},
		{"UpdateLimit", testUpdateLimit},
		{"UpdateModified", testUpdateModified},
		{"Delete", testDelete},
		{"Tx", testTx},
		{"Group", testGroup},
		{"Search", testSearch},
		{"Join", testJoin},
		{"Access", testAccess},
		{"Nested", testNested},
		{"MongoRead", testMongoRead},
		{"Geo", testGeo},
		{"Cancelled", testCancelled},
		{"WrongTyped", testWrongTyped},
		{"WrongTypedNested", testWrongTypedNested},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

var str = &schema.Type{Kind: schema.Str}

// Items is the collection most tests use.
func Items() *schema.Collection {
	return &schema.Collection{
		Name:   "st_item",
		Module: "item",
		Attrs: map[string]*schema.Type{
			"title": str,
			"n":     {Kind: schema.Int},
			"f":     {Kind: schema.Float},
			"ok":    {Kind: schema.Bool},
			"tags":  {Kind: schema.List, Items: []*schema.Type{str}},
			"ref":   {Kind: schema.ID},
			"refs":  {Kind: schema.List, Items: []*schema.Type{{Kind: schema.ID}}},
			"items": {Kind: schema.List, Items: []*schema.Type{{Kind: schema.Dict, Fields: map[string]*schema.Type{
				"qty": {Kind: schema.Int}, "name": str, "by": {Kind: schema.ID}}}}},
			"desc": {Kind: schema.Locale},
			"meta": {Kind: schema.Any},
		},
		Unique:  [][]string{{"title"}},
		Indexes: [][]schema.IndexKey{{{Path: "n"}}, {{Path: "f", Desc: true}, {Path: "title"}}, {{Path: "tags"}}, {{Path: "refs"}}},
		Search:  []string{"title", "desc"},
	}
}

// IDs returns n ascending (time-ordered) ids, the same on every call:
// IDs(n)[i] is older than IDs(n)[i+1], so the default order (newest
// first) is descending i. The first five are the _ids of
// testdata/items.json; the next two are the ids its documents reference.
func IDs(n int) []oid.ID {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]oid.ID, n)
	for i := range out {
		binary.BigEndian.PutUint32(out[i][:4], uint32(base.Unix())+uint32(i))
	}
	return out
}

// seedDocs are the documents of testdata/items.json, which seed inserts;
// they reference IDs(7)[5] and [6], which are not stored.
func seedDocs(t testing.TB) []map[string]any {
	t.Helper()
	return Dataset(t, "items", Items())
}

func seed(t *testing.T, s store.Store) (*schema.Collection, []oid.ID) {
	t.Helper()
	c := Items()
	ctx := t.Context()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatalf("sync: %v", err)
	}
	id := IDs(7)
	if err := s.Insert(ctx, c, seedDocs(t)...); err != nil {
		t.Fatalf("insert: %v", err)
	}
	return c, id
}

func read(t *testing.T, s store.Store, c *schema.Collection, q *query.Query) *store.Result {
	t.Helper()
	res, err := s.Read(t.Context(), c, q)
	if err != nil {
		t.Fatalf("read %s: %v", describe(q), err)
	}
	checkMatch(t, s, c, q, res)
	return res
}

func readIDs(t *testing.T, s store.Store, c *schema.Collection, q *query.Query) []oid.ID {
	t.Helper()
	out := []oid.ID{}
	for _, d := range read(t, s, c, q).Docs {
		id, ok := d["_id"].(oid.ID)
		if !ok {
			t.Fatalf("_id is %T", d["_id"])
		}
		out = append(out, id)
	}
	return out
}

func describe(q *query.Query) string {
	if q == nil {
		return "<nil>"
	}
	return fmt.Sprintf("filter=%s sort=%v skip=%d limit=%d search=%q", describeNode(q.Filter), q.Sort, q.Skip, q.Limit, q.Search)
}

func describeNode(n query.Node) string {
	switch n := n.(type) {
	case *query.Cond:
		return fmt.Sprintf("{%s %s %v %v}", n.Path, n.Op, n.Value, n.Value2)
	case *query.Access:
		return fmt.Sprintf("access(%s)", n.Path)
	case query.And:
		out := "and["
		for _, x := range n {
			out += describeNode(x) + " "
		}
		return out + "]"
	case query.Or:
		out := "or["
		for _, x := range n {
			out += describeNode(x) + " "
		}
		return out + "]"
	}
	return "nil"
}

func cond(p string, op query.Op, v any) *query.Query {
	return &query.Query{Filter: &query.Cond{Path: p, Op: op, Value: v}}
}

func testFilters(t *testing.T, s store.Store) {
	c, id := seed(t, s)
	ids := func(is ...int) []oid.ID {
		out := []oid.ID{}
		for _, i := range is {
			out = append(out, id[i])
		}
		return out
	}
	tests := []struct {
		name string
		q    *query.Query
		want []oid.ID // default order: newest first
	}{
		{"nil query", nil, ids(4, 3, 2, 1, 0)},
		{"eq str", cond("title", query.Eq, "beta"), ids(1)},
		{"eq int", cond("n", query.Eq, int64(2)), ids(1)},
		{"eq int matches float", cond("f", query.Eq, int64(2)), ids(1)},
		{"eq float matches int", cond("f", query.Eq, 10.0), ids(4)},
		{"eq true", cond("ok", query.Eq, true), ids(2, 0)},
		{"eq false", cond("ok", query.Eq, false), ids(1)},
		{"eq nil: null or missing", cond("ok", query.Eq, nil), ids(4, 3)},
		{"eq nil: null", cond("n", query.Eq, nil), ids(3)},
		{"eq _id", cond("_id", query.Eq, id[2]), ids(2)},
		{"eq ID attr", cond("ref", query.Eq, id[5]), ids(0)},
		{"number never equals string", cond("meta", query.Eq, int64(1)), ids(3)},
		{"string never equals number", cond("meta", query.Eq, "1"), ids(2)},
		{"bool never equals number", cond("n", query.Eq, true), ids()},
		{"ne", cond("title", query.Ne, "beta"), ids(4, 3, 2, 0)},
		{"ne matches missing", cond("ok", query.Ne, true), ids(4, 3, 1)},
		{"gt", cond("n", query.Gt, int64(2)), ids(4, 2)},
		{"gte", cond("n", query.Gte, int64(2)), ids(4, 2, 1)},
		{"lt", cond("n", query.Lt, int64(2)), ids(0)},
		{"lte float", cond("f", query.Lte, 2.0), ids(1, 0)},
		{"gt string", cond("title", query.Gt, "beta"), ids(4, 3, 2)},
		{"gt is type-bracketed", cond("meta", query.Gt, int64(0)), ids(4, 3)},
		{"gt _id", cond("_id", query.Gt, id[2]), ids(4, 3)},
		{"in", cond("n", query.In, []any{int64(1), int64(3), "2"}), ids(2, 0)},
		{"in nil", cond("n", query.In, []any{nil, int64(10)}), ids(4, 3)},
		{"in strings", cond("title", query.In, []any{"alpha", "beta"}), ids(1, 0)},
		{"in empty", cond("title", query.In, []any{}), ids()},
		{"nin", cond("n", query.Nin, []any{int64(1), int64(3)}), ids(4, 3, 1)},
		{"nin empty", cond("n", query.Nin, []any{}), ids(4, 3, 2, 1, 0)},
		{"bet", &query.Query{Filter: &query.Cond{Path: "n", Op: query.Bet, Value: int64(2), Value2: int64(3)}}, ids(2, 1)},
		{"regex case-insensitive", cond("title", query.Regex, "^(AL|ep)"), ids(4, 0)},
		{"regex locale", cond("desc.en_AE", query.Regex, "apple$"), ids(2, 0)},
		{"and", &query.Query{Filter: query.And{cond("n", query.Gte, int64(1)).Filter, cond("ok", query.Eq, true).Filter}}, ids(2, 0)},
		{"empty and", &query.Query{Filter: query.And{}}, ids(4, 3, 2, 1, 0)},
		{"or", &query.Query{Filter: query.Or{cond("title", query.Eq, "alpha").Filter, cond("n", query.Eq, int64(10)).Filter}}, ids(4, 0)},
		{"empty or", &query.Query{Filter: query.Or{}}, ids()},
		{"or in and", &query.Query{Filter: query.And{
			query.Or{cond("n", query.Eq, int64(1)).Filter, cond("n", query.Eq, int64(2)).Filter},
			cond("tags", query.Eq, "c").Filter,
		}}, ids(1)},
		{"locale key", cond("desc.en_AE", query.Eq, "green pear"), ids(1)},
		{"whole dict", cond("desc", query.Eq, map[string]any{"en_AE": "green pear"}), ids(1)},
		{"whole dict with non-ASCII", cond("desc", query.Eq, map[string]any{"en_AE": "red apple", "ar_AE": "تفاحة"}), ids(0)},
		{"whole dict is not a subset", cond("desc", query.Eq, map[string]any{"en_AE": "red apple"}), ids()},
		// LIST semantics
		{"list eq element", cond("tags", query.Eq, "b"), ids(1, 0)},
		{"list ne element", cond("tags", query.Ne, "b"), ids(4, 3, 2)},
		{"list in", cond("tags", query.In, []any{"a", "c"}), ids(1, 0)},
		{"list nin", cond("tags", query.Nin, []any{"a", "c"}), ids(4, 3, 2)},
		{"list all", cond("tags", query.All, []any{"b", "c"}), ids(1)},
		{"list all one", cond("tags", query.All, []any{"b"}), ids(1, 0)},
		{"list eq whole", cond("tags", query.Eq, []any{"a", "b"}), ids(0)},
		{"list eq nil", cond("tags", query.Eq, nil), ids(4, 3)},
		{"list regex", cond("tags", query.Regex, "C"), ids(1)},
		{"id list", cond("refs", query.Eq, id[6]), ids(0)},
		{"id list in", cond("refs", query.In, []any{id[6], id[4]}), ids(0)},
		{"list of dict field", cond("items.qty", query.Gt, int64(3)), ids(1)},
		{"list of dict field eq", cond("items.name", query.Eq, "x"), ids(0)},
		{"list of dict index", cond("items.0.name", query.Eq, "y"), ids(1)},
		{"list of dict id", cond("items.by", query.Eq, id[5]), ids(0)},
		{"any array element", cond("meta", query.Eq, int64(7)), ids(4)},
		{"value looking like SQL", cond("title", query.Eq, "' OR 1=1 --"), ids()},
		{"value looking like an operator", cond("meta", query.Eq, map[string]any{"$gt": ""}), ids()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readIDs(t, s, c, tt.q); !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", describe(tt.q), got, tt.want)
			}
		})
	}
}

func testSortPageAttrs(t *testing.T, s store.Store) {
	c, id := seed(t, s)
	ids := func(is ...int) []oid.ID {
		out := []oid.ID{}
		for _, i := range is {
			out = append(out, id[i])
		}
		return out
	}
	tests := []struct {
		name  string
		q     *query.Query
		want  []oid.ID
		total int64
	}{
		{"sort asc nulls first", &query.Query{Sort: []query.Sort{{Path: "n"}}}, ids(3, 0, 1, 2, 4), 5},
		{"sort desc nulls last", &query.Query{Sort: []query.Sort{{Path: "n", Desc: true}}}, ids(4, 2, 1, 0, 3), 5},
		{"sort ties by newest", &query.Query{Sort: []query.Sort{{Path: "ok", Desc: true}}}, ids(2, 0, 1, 4, 3), 5},
		{"sort _id asc", &query.Query{Sort: []query.Sort{{Path: "_id"}}}, ids(0, 1, 2, 3, 4), 5},
		{"sort string", &query.Query{Sort: []query.Sort{{Path: "title"}}}, ids(0, 1, 3, 4, 2), 5},
		{"sort multi-key", &query.Query{Sort: []query.Sort{{Path: "ok", Desc: true}, {Path: "n"}}}, ids(0, 2, 1, 3, 4), 5},
		{"sort multi-key asc desc", &query.Query{Sort: []query.Sort{{Path: "ok"}, {Path: "f", Desc: true}}}, ids(4, 3, 1, 2, 0), 5},
		// MongoDB's order across types: null < numbers < strings; an
		// array by its least element ascending, its greatest descending.
		{"sort mixed types asc", &query.Query{Sort: []query.Sort{{Path: "meta"}}}, ids(1, 0, 3, 4, 2), 5},
		{"sort mixed types desc", &query.Query{Sort: []query.Sort{{Path: "meta", Desc: true}}}, ids(4, 2, 3, 1, 0), 5},
		// An empty list sorts before null (missing).
		{"sort list asc", &query.Query{Sort: []query.Sort{{Path: "tags"}}}, ids(2, 4, 3, 0, 1), 5},
		{"sort list desc", &query.Query{Sort: []query.Sort{{Path: "tags", Desc: true}}}, ids(1, 0, 4, 3, 2), 5},
		{"sort list of dict field", &query.Query{Sort: []query.Sort{{Path: "items.qty", Desc: true}}}, ids(1, 0, 4, 3, 2), 5},
		{"skip limit total", &query.Query{Sort: []query.Sort{{Path: "n"}}, Skip: 1, Limit: 2}, ids(0, 1), 5},
		{"limit", &query.Query{Limit: 2}, ids(4, 3), 5},
		{"skip", &query.Query{Skip: 3}, ids(1, 0), 5},
		{"skip past end", &query.Query{Skip: 10, Limit: 2}, ids(), 5},
		{"filtered total", &query.Query{Filter: cond("n", query.Gte, int64(2)).Filter, Limit: 1}, ids(4), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			knownBug(t, "")
			res := read(t, s, c, tt.q)
			var got []oid.ID
			for _, d := range res.Docs {
				got = append(got, d["_id"].(oid.ID))
			}
			if got == nil {
				got = []oid.ID{}
			}
			if !slices.Equal(got, tt.want) || res.Total != tt.total {
				t.Errorf("%s: got %v total %d, want %v total %d", describe(tt.q), got, res.Total, tt.want, tt.total)
			}
		})
	}
	t.Run("attrs", func(t *testing.T) {
		res := read(t, s, c, &query.Query{Filter: cond("n", query.Lte, int64(2)).Filter, Attrs: []string{"title", "desc.en_AE", "missing"}})
		want := []map[string]any{
			{"_id": id[1], "title": "beta", "desc": map[string]any{"en_AE": "green pear"}},
			{"_id": id[0], "title": "alpha", "desc": map[string]any{"en_AE": "red apple"}},
		}
		if !reflect.DeepEqual(res.Docs, want) {
			t.Errorf("got %v, want %v", res.Docs, want)
		}
	})
	t.Run("empty attrs", func(t *testing.T) {
		res := read(t, s, c, &query.Query{Filter: cond("_id", query.Eq, id[0]).Filter, Attrs: []string{}})
		if want := []map[string]any{{"_id": id[0]}}; !reflect.DeepEqual(res.Docs, want) {
			t.Errorf("got %v, want %v", res.Docs, want)
		}
	})
}

func testValues(t *testing.T, s store.Store) {
	c, id := seed(t, s)
	res := read(t, s, c, nil)
	want := seedDocs(t)
	slices.Reverse(want)
	if len(want) != 5 || want[4]["_id"] != id[0] || want[0]["ref"] != nil || want[4]["ref"] != id[5] {
		t.Fatalf("testdata/items.json does not match IDs")
	}
	if !reflect.DeepEqual(res.Docs, want) {
		t.Errorf("documents differ:\ngot  %v\nwant %v", res.Docs, want)
	}
	for _, d := range res.Docs {
		if _, ok := d["__deleted"]; ok {
			t.Errorf("document %v has __deleted", d["_id"])
		}
	}
}

func testDuplicate(t *testing.T, s store.Store) {
	c, id := seed(t, s)
	ctx := t.Context()
	var dup *store.DuplicateError
	err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "zeta"}, map[string]any{"_id": oid.New(), "title": "alpha"})
	if !errors.As(err, &dup) || !slices.Equal(dup.Attrs, []string{"title"}) {
		t.Fatalf("insert duplicate title: %v", err)
	}
	if got := readIDs(t, s, c, cond("title", query.Eq, "zeta")); len(got) != 0 {
		t.Errorf("insert was not atomic: %v", got)
	}
	if err := s.Insert(ctx, c, map[string]any{"_id": id[0], "title": "eta"}); !errors.As(err, &dup) || !slices.Equal(dup.Attrs, []string{"_id"}) {
		t.Errorf("insert duplicate _id: %v", err)
	}
	// Missing values never collide.
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New()}, map[string]any{"_id": oid.New()}); err != nil {
		t.Errorf("insert two without title: %v", err)
	}
	// A soft-deleted document releases its unique values.
	if _, err := s.Delete(ctx, c, cond("title", query.Eq, "alpha"), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "alpha"}); err != nil {
		t.Errorf("insert over soft-deleted: %v", err)
	}
	// Compound unique sets.
	cc := &schema.Collection{Name: "st_pair", Attrs: map[string]*schema.Type{"a": str, "b": str}, Unique: [][]string{{"a", "b"}}}
	if err := s.Sync(ctx, cc); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, cc, map[string]any{"_id": oid.New(), "a": "1", "b": "1"}, map[string]any{"_id": oid.New(), "a": "1", "b": "2"}); err != nil {
		t.Fatal(err)
	}
	err = s.Insert(ctx, cc, map[string]any{"_id": oid.New(), "a": "1", "b": "2"})
	if !errors.As(err, &dup) || !slices.Equal(dup.Attrs, []string{"a", "b"}) {
		t.Errorf("compound duplicate: %v", err)
	}
	knownBug(t, "update to duplicate")
	_, err = s.Update(ctx, cc, cond("b", query.Eq, "1"), &store.Update{Set: map[string]any{"b": "2"}})
	if !errors.As(err, &dup) || !slices.Equal(dup.Attrs, []string{"a", "b"}) {
		t.Errorf("update to duplicate: %v", err)
	}
}

func testUpdate(t *testing.T, s store.Store) {
	knownBug(t, "")
	c, id := seed(t, s)
	ctx := t.Context()
	byID := cond("_id", query.Eq, id[0])
	got, err := s.Update(ctx, c, byID, &store.Update{
		Set:    map[string]any{"title": "alpha2", "desc.fr_FR": "pomme", "ref": id[6], "new.deep": int64(1)},
		Unset:  []string{"ok"},
		Add:    map[string]any{"n": int64(2), "f": int64(1), "fresh": 1.5},
		Mul:    map[string]any{"gone": int64(3)},
		Append: map[string]store.Append{"tags": {Values: []any{"b", "z", "z"}, Unique: true}, "refs": {Values: []any{id[4]}}},
		Remove: map[string][]any{"refs": {id[5]}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Matched, []oid.ID{id[0]}) || got.Modified != 1 {
		t.Errorf("updated ids %v, modified %d", got.Matched, got.Modified)
	}
	res := read(t, s, c, byID)
	want := map[string]any{
		"_id": id[0], "title": "alpha2", "n": int64(3), "f": 2.5, "fresh": 1.5, "gone": int64(0),
		"tags": []any{"a", "b", "z"}, "ref": id[6], "refs": []any{id[6], id[4]}, "new": map[string]any{"deep": int64(1)},
		"desc":  map[string]any{"en_AE": "red apple", "ar_AE": "تفاحة", "fr_FR": "pomme"},
		"items": []any{map[string]any{"qty": int64(2), "name": "x", "by": id[5]}},
	}
	if len(res.Docs) != 1 || !reflect.DeepEqual(res.Docs[0], want) {
		t.Errorf("updated document\ngot  %v\nwant %v", res.Docs, want)
	}
	// Ints stay ints; an int times a float is a float.
	if _, err := s.Update(ctx, c, cond("n", query.Eq, int64(2)), &store.Update{Mul: map[string]any{"n": int64(3), "f": 0.5}}); err != nil {
		t.Fatal(err)
	}
	d := read(t, s, c, cond("_id", query.Eq, id[1])).Docs[0]
	if d["n"] != int64(6) || d["f"] != 1.0 {
		t.Errorf("mul: n=%#v f=%#v", d["n"], d["f"])
	}
	// Append to a missing list creates it; remove every occurrence.
	if _, err := s.Update(ctx, c, cond("_id", query.Eq, id[3]), &store.Update{Append: map[string]store.Append{"tags": {Values: []any{"q", "q", "r"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, c, cond("_id", query.Eq, id[3]), &store.Update{Remove: map[string][]any{"tags": {"q"}}}); err != nil {
		t.Fatal(err)
	}
	if d := read(t, s, c, cond("_id", query.Eq, id[3])).Docs[0]; !reflect.DeepEqual(d["tags"], []any{"r"}) {
		t.Errorf("append/remove: tags %v", d["tags"])
	}
	// Keep bounds the list to its last items, counting the ones appended.
	t.Run("append keep", func(t *testing.T) {
		knownBug(t, "")
		for _, k := range []struct {
			vals []any
			want []any
		}{{[]any{"s", "t"}, []any{"r", "s", "t"}}, {[]any{"u", "v"}, []any{"t", "u", "v"}}, {[]any{"w", "x", "y", "z"}, []any{"x", "y", "z"}}} {
			if _, err := s.Update(ctx, c, cond("_id", query.Eq, id[3]), &store.Update{Append: map[string]store.Append{"tags": {Values: k.vals, Keep: 3}}}); err != nil {
				t.Fatal(err)
			}
			if d := read(t, s, c, cond("_id", query.Eq, id[3])).Docs[0]; !reflect.DeepEqual(d["tags"], k.want) {
				t.Errorf("append %v keep 3: tags %v, want %v", k.vals, d["tags"], k.want)
			}
		}
	})
	if _, err := s.Update(ctx, c, cond("_id", query.Eq, id[3]), &store.Update{Set: map[string]any{"tags": []any{"r"}}}); err != nil {
		t.Fatal(err)
	}
	// A query reading the updated values finds them.
	if got := readIDs(t, s, c, cond("desc.fr_FR", query.Eq, "pomme")); !slices.Equal(got, []oid.ID{id[0]}) {
		t.Errorf("read after update: %v", got)
	}
	// An int64 overflow is an error and changes nothing.
	for _, u := range []*store.Update{
		{Add: map[string]any{"n": int64(math.MaxInt64)}, Set: map[string]any{"title": "overflow"}},
		{Mul: map[string]any{"n": int64(math.MinInt64)}},
	} {
		if _, err := s.Update(ctx, c, cond("_id", query.Eq, id[1]), u); err == nil {
			t.Errorf("update %v overflowing: no error", u)
		}
	}
	if d := read(t, s, c, cond("_id", query.Eq, id[1])).Docs[0]; d["n"] != int64(6) || d["title"] != "beta" {
		t.Errorf("overflowing update changed n=%v title=%v", d["n"], d["title"])
	}
	// A unique violation changes nothing, even for documents before it.
	// Its own subtest, so a server listed as answering it wrongly skips
	// only this step (Options.Known "Update/update_to_duplicate").
	t.Run("update to duplicate", func(t *testing.T) {
		knownBug(t, "")
		_, err := s.Update(ctx, c, &query.Query{}, &store.Update{Set: map[string]any{"title": "same"}})
		var dup *store.DuplicateError
		if !errors.As(err, &dup) || !slices.Equal(dup.Attrs, []string{"title"}) {
			t.Fatalf("update to duplicate: %v", err)
		}
		// All or nothing needs transactions: without them (documented)
		// each document's write is atomic, not the whole update.
		if got := readIDs(t, s, c, cond("title", query.Eq, "same")); len(got) != 0 && store.Supports(s, store.FeatureTransactions) {
			t.Errorf("update was not atomic: %v", got)
		}
	})
	// Nothing matching: no ids, no error; an empty update returns the matches.
	if got, err := s.Update(ctx, c, cond("title", query.Eq, "nope"), &store.Update{Set: map[string]any{"n": int64(1)}}); err != nil || len(got.Matched) != 0 || got.Modified != 0 {
		t.Errorf("update nothing: %v %v", got, err)
	}
	if got, err := s.Update(ctx, c, cond("n", query.Eq, int64(10)), &store.Update{}); err != nil || !slices.Equal(got.Matched, []oid.ID{id[4]}) || got.Modified != 0 {
		t.Errorf("empty update: %v %v", got, err)
	}
}

// testUpdateModified checks the modified count (MongoDB's modifiedCount):
// documents an update leaves as they were are matched, not modified.
func testUpdateModified(t *testing.T, s store.Store) {
	c, id := seed(t, s)
	ctx := t.Context()
	all := &query.Query{Sort: []query.Sort{{Path: "_id"}}}
	for _, tt := range []struct {
		name     string
		q        *query.Query
		u        *store.Update
		modified int64
	}{
		{"same value", cond("_id", query.Eq, id[0]), &store.Update{Set: map[string]any{"title": "alpha"}}, 0},
		{"same value twice", cond("_id", query.Eq, id[0]), &store.Update{Set: map[string]any{"title": "alpha2"}}, 1},
		{"then again", cond("_id", query.Eq, id[0]), &store.Update{Set: map[string]any{"title": "alpha2"}}, 0},
		{"some of them", all, &store.Update{Set: map[string]any{"n": int64(10)}}, 4},
		{"all the same now", all, &store.Update{Set: map[string]any{"n": int64(10)}}, 0},
		{"another number kind", cond("_id", query.Eq, id[1]), &store.Update{Set: map[string]any{"n": 10.0}}, 1},
		{"add zero", cond("_id", query.Eq, id[2]), &store.Update{Add: map[string]any{"n": int64(0)}}, 0},
		{"multiply by one", cond("_id", query.Eq, id[2]), &store.Update{Mul: map[string]any{"n": int64(1)}}, 0},
		{"unset missing", all, &store.Update{Unset: []string{"nothere"}}, 0},
		{"append present unique", cond("_id", query.Eq, id[0]), &store.Update{Append: map[string]store.Append{"tags": {Values: []any{"a"}, Unique: true}}}, 0},
		{"remove absent", cond("_id", query.Eq, id[0]), &store.Update{Remove: map[string][]any{"tags": {"nope"}}}, 0},
		{"remove present", cond("_id", query.Eq, id[0]), &store.Update{Remove: map[string][]any{"tags": {"a"}}}, 1},
	} {
		got, err := s.Update(ctx, c, tt.q, tt.u)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got.Modified != tt.modified || len(got.Matched) == 0 {
			t.Errorf("%s: modified %d of %d matched, want %d", tt.name, got.Modified, len(got.Matched), tt.modified)
		}
	}
}

func testUpdateLimit(t *testing.T, s store.Store) {
	c, id := seed(t, s)
	got, err := s.Update(t.Context(), c, &query.Query{Sort: []query.Sort{{Path: "n", Desc: true}}, Limit: 2}, &store.Update{Set: map[string]any{"top": true}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []oid.ID{id[4], id[2]}; !slices.Equal(got.Matched, want) {
		t.Errorf("updated %v, want %v", got, want)
	}
	if got := readIDs(t, s, c, cond("top", query.Eq, true)); !slices.Equal(got, []oid.ID{id[4], id[2]}) {
		t.Errorf("read back %v", got)
	}
}

func testDelete(t *testing.T, s store.Store) {
	c, id := seed(t, s)
	ctx := t.Context()
	got, err := s.Delete(ctx, c, cond("n", query.Gte, int64(3)), false)
	if err != nil || !slices.Equal(got, []oid.ID{id[4], id[2]}) {
		t.Fatalf("soft delete: %v %v", got, err)
	}
	if got := readIDs(t, s, c, nil); !slices.Equal(got, []oid.ID{id[3], id[1], id[0]}) {
		t.Errorf("after soft delete: %v", got)
	}
	if got, err := s.Update(ctx, c, cond("_id", query.Eq, id[4]), &store.Update{Set: map[string]any{"n": int64(0)}}); err != nil || len(got.Matched) != 0 {
		t.Errorf("update of soft-deleted: %v %v", got, err)
	}
	if got, err := s.Delete(ctx, c, cond("_id", query.Eq, id[4]), false); err != nil || len(got) != 0 {
		t.Errorf("soft delete of soft-deleted: %v %v", got, err)
	}
	// A hard delete purges: it removes soft-deleted documents too.
	if got, err := s.Delete(ctx, c, cond("_id", query.Eq, id[4]), true); err != nil || !slices.Equal(got, []oid.ID{id[4]}) {
		t.Errorf("purge of soft-deleted: %v %v", got, err)
	}
	if got, err := s.Delete(ctx, c, cond("_id", query.Eq, id[4]), true); err != nil || len(got) != 0 {
		t.Errorf("purge of purged: %v %v", got, err)
	}
	got, err = s.Delete(ctx, c, &query.Query{Sort: []query.Sort{{Path: "n"}}, Limit: 1}, true)
	if err != nil || !slices.Equal(got, []oid.ID{id[3]}) {
		t.Errorf("limited hard delete: %v %v", got, err)
	}
	got, err = s.Delete(ctx, c, nil, true)
	if err != nil || !slices.Equal(got, []oid.ID{id[2], id[1], id[0]}) {
		t.Errorf("hard delete all: %v %v", got, err)
	}
	if res := read(t, s, c, nil); res.Total != 0 || len(res.Docs) != 0 {
		t.Errorf("after delete: %v", res)
	}
	// A document inserted already deleted stays hidden and holds no
	// unique value.
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "hidden", "__deleted": true}); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, s, c, cond("title", query.Eq, "hidden")); len(got) != 0 {
		t.Errorf("document inserted deleted is visible: %v", got)
	}
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "hidden"}); err != nil {
		t.Errorf("insert over a document inserted deleted: %v", err)
	}
	if _, err := s.Delete(ctx, c, cond("title", query.Eq, "hidden"), true); err != nil {
		t.Fatal(err)
	}
	// Hard-deleted ids can be reused.
	if err := s.Insert(ctx, c, map[string]any{"_id": id[0], "title": "again"}); err != nil {
		t.Errorf("reinsert hard-deleted id: %v", err)
	}
}

func testTx(t *testing.T, s store.Store) {
	needs(t, s, store.FeatureTransactions)
	c, _ := seed(t, s)
	ctx := t.Context()
	boom := errors.New("boom")
	newID := oid.New()
	err := s.Tx(ctx, func(ctx context.Context) error {
		if err := s.Insert(ctx, c, map[string]any{"_id": newID, "title": "in tx"}); err != nil {
			return err
		}
		return s.Tx(ctx, func(ctx context.Context) error { // nested: joins
			if _, err := s.Update(ctx, c, cond("title", query.Eq, "alpha"), &store.Update{Set: map[string]any{"n": int64(100)}}); err != nil {
				return err
			}
			res, err := s.Read(ctx, c, cond("title", query.Eq, "in tx"))
			if err != nil {
				return err
			}
			if len(res.Docs) != 1 {
				t.Errorf("the transaction does not see its own insert")
			}
			return boom
		})
	})
	if !errors.Is(err, boom) {
		t.Fatalf("tx: %v", err)
	}
	if got := readIDs(t, s, c, cond("title", query.Eq, "in tx")); len(got) != 0 {
		t.Errorf("rolled back insert is visible")
	}
	if got := readIDs(t, s, c, cond("n", query.Eq, int64(100))); len(got) != 0 {
		t.Errorf("rolled back update is visible")
	}
	err = s.Tx(ctx, func(ctx context.Context) error {
		return s.Insert(ctx, c, map[string]any{"_id": newID, "title": "in tx"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, s, c, cond("title", query.Eq, "in tx")); !slices.Equal(got, []oid.ID{newID}) {
		t.Errorf("committed insert: %v", got)
	}
	// A panic rolls back and propagates.
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("panic swallowed")
			}
		}()
		_ = s.Tx(ctx, func(ctx context.Context) error {
			if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "panic"}); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	if got := readIDs(t, s, c, cond("title", query.Eq, "panic")); len(got) != 0 {
		t.Errorf("insert before panic is visible")
	}
}

func testGroup(t *testing.T, s store.Store) {
	needs(t, s, store.FeatureBucketAuto)
	c, id := seed(t, s)
	res := read(t, s, c, &query.Query{Limit: 1, Group: []query.Group{{By: "n", Count: 2}, {By: "ref", Count: 5}, {By: "title", Count: 2}}})
	want := map[string][]store.Bucket{
		// A missing or null value is null, the lowest (MongoDB's
		// $bucketAuto): the counts add up to the total.
		"n":     {{Min: nil, Max: int64(3), Count: 3}, {Min: int64(3), Max: int64(10), Count: 2}},
		"ref":   {{Min: nil, Max: id[5], Count: 3}, {Min: id[5], Max: id[6], Count: 1}, {Min: id[6], Max: id[6], Count: 1}},
		"title": {{Min: "alpha", Max: "epsilon", Count: 3}, {Min: "epsilon", Max: "gamma", Count: 2}},
	}
	if !reflect.DeepEqual(res.Groups, want) {
		t.Errorf("groups\ngot  %v\nwant %v", res.Groups, want)
	}
	// A LIST of ID buckets by whole lists; its bounds hold oid.IDs.
	res = read(t, s, c, &query.Query{Group: []query.Group{{By: "refs", Count: 10}}})
	var sum int64
	for _, b := range res.Groups["refs"] {
		sum += b.Count
		for _, v := range []any{b.Min, b.Max} {
			l, ok := v.([]any)
			if v != nil && !ok {
				t.Errorf("refs bucket bound %#v is not a list", v)
			}
			for _, e := range l {
				if _, ok := e.(oid.ID); !ok {
					t.Errorf("refs bucket bound %#v holds a %T", v, e)
				}
			}
		}
	}
	if sum != res.Total || len(res.Groups["refs"]) < 2 {
		t.Errorf("refs buckets %v, total %d", res.Groups["refs"], res.Total)
	}
	res = read(t, s, c, &query.Query{Filter: cond("n", query.Gt, int64(1)).Filter, Group: []query.Group{{By: "n", Count: 1}}})
	if want := []store.Bucket{{Min: int64(2), Max: int64(10), Count: 3}}; !reflect.DeepEqual(res.Groups["n"], want) {
		t.Errorf("filtered group %v, want %v", res.Groups["n"], want)
	}
	res = read(t, s, c, &query.Query{Filter: query.Or{}, Group: []query.Group{{By: "n", Count: 2}}})
	if want := map[string][]store.Bucket{"n": {}}; !reflect.DeepEqual(res.Groups, want) {
		t.Errorf("group of nothing %v", res.Groups)
	}
}

func testSearch(t *testing.T, s store.Store) {
	needs(t, s, store.FeatureText)
	c, id := seed(t, s)
	ctx := t.Context()
	sorted := func(ids []oid.ID) []oid.ID {
		sort.Slice(ids, func(i, j int) bool { return ids[i].Hex() < ids[j].Hex() })
		return ids
	}
	tests := []struct {
		search string
		want   []oid.ID
	}{
		{"apple", []oid.ID{id[0], id[2]}},
		{"APPLE", []oid.ID{id[0], id[2]}},
		{"pear banana", []oid.ID{id[1], id[2]}},
		{"تفاحة", []oid.ID{id[0]}},
		{"epsilon", []oid.ID{id[4]}},
		{"nothing", []oid.ID{}},
		// MongoDB $text syntax: a phrase must be present, "-" excludes;
		// anything else is words (no FTS syntax passes through).
		{`"red apple"`, []oid.ID{id[0]}},
		{`"apple" pear`, []oid.ID{id[0], id[2]}},
		{`"apple" "yellow"`, []oid.ID{id[2]}},
		{`apple -banana`, []oid.ID{id[0]}},
		{`apple pear -"green pear"`, []oid.ID{id[0], id[2]}},
		{`-apple`, []oid.ID{}},
		{`NEAR( pear* OR ^x`, []oid.ID{id[1]}},
	}
	for _, tt := range tests {
		got := readIDs(t, s, c, &query.Query{Search: tt.search})
		if !slices.Equal(sorted(got), tt.want) {
			t.Errorf("search %q: got %v, want %v", tt.search, got, tt.want)
		}
	}
	// Relevance first: "apple" twice beats once.
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "apple", "desc": map[string]any{"en_AE": "apple apple apple"}}); err != nil {
		t.Fatal(err)
	}
	res := read(t, s, c, &query.Query{Search: "apple", Limit: 1})
	if res.Total != 3 || len(res.Docs) != 1 || res.Docs[0]["title"] != "apple" {
		t.Errorf("relevance: total %d docs %v", res.Total, res.Docs)
	}
	// Sort overrides relevance; filters combine.
	got := readIDs(t, s, c, &query.Query{Search: "apple", Sort: []query.Sort{{Path: "n"}}, Filter: cond("n", query.Gte, int64(1)).Filter})
	if want := []oid.ID{id[0], id[2]}; !slices.Equal(got, want) {
		t.Errorf("sorted search: %v, want %v", got, want)
	}
	// The index follows updates and deletes.
	if _, err := s.Update(ctx, c, cond("_id", query.Eq, id[1]), &store.Update{Set: map[string]any{"desc.en_AE": "apple pie"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, c, cond("_id", query.Eq, id[0]), false); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, c, &query.Query{Search: "apple"}).Total; got != 3 {
		t.Errorf("after update and delete: total %d, want 3", got)
	}
	if got := readIDs(t, s, c, &query.Query{Search: "pear"}); len(got) != 0 {
		t.Errorf("stale search entry: %v", got)
	}
	// A purge (hard delete) by search reaches the soft-deleted document.
	got, err := s.Delete(ctx, c, &query.Query{Search: "apple", Filter: cond("n", query.Lte, int64(2)).Filter}, true)
	if err != nil || !slices.Contains(got, id[0]) {
		t.Errorf("purge by search: %v %v", got, err)
	}
}

func testJoin(t *testing.T, s store.Store) {
	needs(t, s, store.FeatureLookup)
	cat := &schema.Collection{Name: "st_cat", Attrs: map[string]*schema.Type{"title": {Kind: schema.Locale}, "rank": {Kind: schema.Int}}}
	c := Items()
	c.Extns = map[string]*schema.Extn{
		"ref":  {Module: "cat", Collection: "st_cat", Target: cat},
		"refs": {Module: "cat", Collection: "st_cat", Target: cat},
	}
	ctx := t.Context()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx, cat); err != nil {
		t.Fatal(err)
	}
	id := IDs(7)
	if err := s.Insert(ctx, c, seedDocs(t)...); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, cat,
		map[string]any{"_id": id[5], "title": map[string]any{"en_AE": "Fruit"}, "rank": int64(1)},
		map[string]any{"_id": id[6], "title": map[string]any{"en_AE": "Veg"}, "rank": int64(2)},
	); err != nil {
		t.Fatal(err)
	}
	jc := func(local string, list bool, p string, op query.Op, v any) query.Node {
		return &query.Cond{Path: p, Op: op, Value: v, Join: &query.Join{Local: local, Collection: "st_cat", IDList: list}}
	}
	tests := []struct {
		name string
		f    query.Node
		want []oid.ID
	}{
		{"eq", jc("ref", false, "title.en_AE", query.Eq, "Fruit"), []oid.ID{id[0]}},
		{"ne", jc("ref", false, "title.en_AE", query.Ne, "Fruit"), []oid.ID{id[4], id[3], id[2], id[1]}},
		{"gt", jc("ref", false, "rank", query.Gt, int64(1)), []oid.ID{id[1]}},
		{"id list", jc("refs", true, "rank", query.Eq, int64(2)), []oid.ID{id[0]}},
		{"id list nin", jc("refs", true, "rank", query.Nin, []any{int64(2)}), []oid.ID{id[4], id[3], id[2], id[1]}},
		{"two joins in or", query.Or{jc("ref", false, "rank", query.Eq, int64(2)), jc("refs", true, "title.en_AE", query.Regex, "^fr")}, []oid.ID{id[1], id[0]}},
		{"join and plain", query.And{jc("ref", false, "rank", query.Gte, int64(1)), cond("n", query.Eq, int64(2)).Filter}, []oid.ID{id[1]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &query.Query{Filter: tt.f}
			if got := readIDs(t, s, c, q); !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", describe(q), got, tt.want)
			}
		})
	}
	if _, err := s.Delete(ctx, cat, cond("_id", query.Eq, id[5]), false); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, s, c, &query.Query{Filter: tests[0].f}); len(got) != 0 {
		t.Errorf("soft-deleted reference still matches: %v", got)
	}
}

func testAccess(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := &schema.Collection{Name: "st_doc", Attrs: map[string]*schema.Type{"user": {Kind: schema.ID}, "acc": {Kind: schema.Access}}}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	id := IDs(10)
	u1, u2, g1, g2 := id[6], id[7], id[8], id[9]
	acc := func(anon bool, users, groups []any) map[string]any {
		return map[string]any{"anon": anon, "users": users, "groups": groups}
	}
	if err := s.Insert(ctx, c,
		map[string]any{"_id": id[0], "user": u1, "acc": acc(false, []any{}, []any{})},
		map[string]any{"_id": id[1], "user": u2, "acc": acc(true, []any{}, []any{})},
		map[string]any{"_id": id[2], "user": u2, "acc": acc(false, []any{u1}, []any{})},
		map[string]any{"_id": id[3], "user": u2, "acc": acc(false, []any{}, []any{g2})},
		map[string]any{"_id": id[4], "user": u2, "acc": acc(false, []any{u2}, []any{g1})},
	); err != nil {
		t.Fatal(err)
	}
	if got, want := readIDs(t, s, c, &query.Query{Filter: &query.Access{Path: "acc", User: u1, Groups: []oid.ID{g2}}}), []oid.ID{id[3], id[2], id[1], id[0]}; !slices.Equal(got, want) {
		t.Errorf("with groups: got %v, want %v", got, want)
	}
	if got, want := readIDs(t, s, c, &query.Query{Filter: &query.Access{Path: "acc", User: u1}}), []oid.ID{id[2], id[1], id[0]}; !slices.Equal(got, want) {
		t.Errorf("no groups: got %v, want %v", got, want)
	}
}

func testCancelled(t *testing.T, s store.Store) {
	c, _ := seed(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Read(ctx, c, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("read with a cancelled context: %v", err)
	}
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "late"}); !errors.Is(err, context.Canceled) {
		t.Errorf("insert with a cancelled context: %v", err)
	}
	if got := readIDs(t, s, c, cond("title", query.Eq, "late")); len(got) != 0 {
		t.Errorf("cancelled insert stored")
	}
	if _, err := s.Update(ctx, c, nil, &store.Update{Set: map[string]any{"n": int64(7)}}); !errors.Is(err, context.Canceled) {
		t.Errorf("update with a cancelled context: %v", err)
	}
	if _, err := s.Delete(ctx, c, nil, true); !errors.Is(err, context.Canceled) {
		t.Errorf("delete with a cancelled context: %v", err)
	}
	called := false
	if err := s.Tx(ctx, func(context.Context) error { called = true; return nil }); !errors.Is(err, context.Canceled) || called {
		t.Errorf("tx with a cancelled context: %v (fn called: %v)", err, called)
	}
	if res := read(t, s, c, nil); res.Total != 5 || len(readIDs(t, s, c, cond("n", query.Eq, int64(7)))) != 0 {
		t.Errorf("cancelled calls changed the store: total %d", res.Total)
	}
	// A context ending inside a transaction rolls it back.
	needs(t, s, store.FeatureTransactions)
	tctx, tcancel := context.WithCancel(t.Context())
	err := s.Tx(tctx, func(ctx context.Context) error {
		if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "in cancelled tx"}); err != nil {
			return err
		}
		tcancel()
		return s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "after cancel"})
	})
	if err == nil {
		t.Errorf("transaction whose context ended committed")
	}
	if got := readIDs(t, s, c, cond("title", query.In, []any{"in cancelled tx", "after cancel"})); len(got) != 0 {
		t.Errorf("cancelled transaction left %v", got)
	}
}
