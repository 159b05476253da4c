package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/limp-go/limp/internal/bsonorder"
	lmatch "github.com/limp-go/limp/internal/match"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// wrongTypeCollection declares scalars (one indexed, two in a mirrored
// compound index), a typed DICT and an indexed LIST (a multikey side
// table), for values of other types than declared.
func wrongTypeCollection() *schema.Collection {
	str := &schema.Type{Kind: schema.Str}
	return &schema.Collection{Name: "wt", Attrs: map[string]*schema.Type{
		"k": str, "n": {Kind: schema.Int}, "f": {Kind: schema.Float}, "s": str, "b": {Kind: schema.Bool},
		"d":    {Kind: schema.Dict, Fields: map[string]*schema.Type{"x": {Kind: schema.Int}, "y": str}},
		"tags": {Kind: schema.List, Items: []*schema.Type{str}},
	}, Indexes: [][]schema.IndexKey{{{Path: "n"}}, {{Path: "s"}, {Path: "f", Desc: true}}, {{Path: "tags"}}}}
}

// anyTyped is c with every attr ANY: the schema of an earlier app version
// under which documents of any shape were stored.
func anyTyped(c *schema.Collection) *schema.Collection {
	a := &schema.Collection{Name: c.Name, Attrs: map[string]*schema.Type{}}
	for k := range c.Attrs {
		a.Attrs[k] = &schema.Type{Kind: schema.Any}
	}
	return a
}

// wrongTypeStore stores documents whose declared paths hold values of
// every JSON type: some written under an ANY schema before the typed
// schema's Sync (found by its scan), some inserted after it, one made
// wrong-typed by an Update. It returns the documents as stored.
func wrongTypeStore(t *testing.T, path string) (*Store, *schema.Collection, []map[string]any) {
	t.Helper()
	ctx := t.Context()
	c := wrongTypeCollection()
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Sync(ctx, anyTyped(c)); err != nil {
		t.Fatal(err)
	}
	before := []map[string]any{
		{"k": "one", "n": int64(1), "f": 1.5, "s": "b", "b": true, "d": map[string]any{"x": int64(1), "y": "a"}, "tags": []any{"a"}},
		{"k": "two", "n": int64(2), "f": 2.0, "s": "c", "b": false, "d": map[string]any{"x": int64(2), "y": "b"}, "tags": []any{"b", "c"}},
		{"k": "true", "n": true, "f": "3", "s": "d", "d": []any{map[string]any{"x": int64(1)}, map[string]any{"x": int64(5)}}, "tags": "a"},
		{"k": "false", "n": false, "f": []any{int64(1), 2.5}, "s": "a", "d": "str", "tags": map[string]any{"a": "a"}},
		{"k": "list", "n": []any{int64(2), int64(5)}, "f": false, "d": map[string]any{"x": []any{int64(3), int64(4)}, "y": int64(7)}, "tags": []any{[]any{"a"}, int64(1)}},
		{"k": "nested", "n": []any{[]any{int64(1)}}, "d": []any{[]any{map[string]any{"x": int64(1)}}}, "tags": []any{}},
		{"k": "empty", "n": []any{}, "f": map[string]any{}, "d": map[string]any{}},
		{"k": "str", "n": "1", "f": "b", "d": map[string]any{"x": "1", "y": []any{"a", "b"}}},
		{"k": "null", "n": nil, "f": nil, "s": nil, "b": nil, "d": nil, "tags": nil},
		{"k": "missing"},
		{"k": "upd", "n": int64(0), "f": 0.0, "s": "", "b": false},
	}
	for _, d := range before {
		d["_id"] = oid.New()
	}
	if err := s.Insert(ctx, anyTyped(c), before...); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	// After the Sync: s gets values of other types only here.
	after := []map[string]any{
		{"k": "s-obj", "n": int64(3), "s": map[string]any{"x": "v"}, "b": true},
		{"k": "s-list", "n": int64(4), "s": []any{"a", "b"}, "f": 0.5},
		{"k": "s-num", "s": int64(1), "f": 1.0},
		{"k": "s-bool", "s": true, "f": int64(1)},
		{"k": "s-json", "s": `["a","b"]`, "n": int64(1)},
		{"k": "s-nested", "s": []any{[]any{"a"}, "z"}},
	}
	for _, d := range after {
		d["_id"] = oid.New()
	}
	if err := s.Insert(ctx, c, after...); err != nil {
		t.Fatal(err)
	}
	// b gets values of other types only by this update.
	if _, err := s.Update(ctx, c, &query.Query{Filter: &query.Cond{Path: "k", Op: query.Eq, Value: "upd"}},
		&store.Update{Set: map[string]any{"b": []any{true, int64(1)}}}); err != nil {
		t.Fatal(err)
	}
	all, err := s.Read(ctx, c, &query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Docs) != len(before)+len(after) {
		t.Fatalf("%d documents stored", len(all.Docs))
	}
	return s, c, all.Docs
}

// wrongTypeFilters are conditions of every operator on the declared paths
// of wrongTypeCollection, with operands of every type.
func wrongTypeFilters() []query.Node {
	cnd := func(p string, op query.Op, v any) query.Node { return &query.Cond{Path: p, Op: op, Value: v} }
	operands := []any{int64(1), int64(0), int64(2), 2.5, true, false, "a", "1", "c", "", nil,
		[]any{int64(2), int64(5)}, []any{}, []any{"a", "b"}, map[string]any{"x": "v"}, []any{"a"}, []any{int64(1)}}
	var out []query.Node
	for _, p := range []string{"n", "f", "s", "b", "d.x", "d.y", "d", "tags"} {
		for _, v := range operands {
			out = append(out, cnd(p, query.Eq, v), cnd(p, query.Ne, v))
			switch v.(type) {
			case []any, map[string]any:
				continue
			}
			out = append(out, cnd(p, query.Gt, v), cnd(p, query.Gte, v), cnd(p, query.Lt, v), cnd(p, query.Lte, v))
		}
		out = append(out,
			cnd(p, query.In, []any{int64(0), int64(1)}), cnd(p, query.In, []any{true, "a"}), cnd(p, query.In, []any{nil, int64(2)}),
			cnd(p, query.In, []any{[]any{"a", "b"}, 2.5}), cnd(p, query.Nin, []any{int64(1), nil}), cnd(p, query.Nin, []any{"a", false}),
			&query.Cond{Path: p, Op: query.Bet, Value: int64(0), Value2: int64(2)},
			&query.Cond{Path: p, Op: query.Bet, Value: "a", Value2: "c"},
			cnd(p, query.All, []any{int64(2), int64(5)}), cnd(p, query.All, []any{"a", "b"}),
			cnd(p, query.Regex, "^a"), cnd(p, query.Regex, "1"))
	}
	// With a typed condition on a conforming path and through an OR.
	out = append(out,
		query.And{cnd("k", query.Ne, "one"), cnd("n", query.Eq, int64(1))},
		query.Or{cnd("s", query.Eq, "a"), cnd("n", query.Lt, int64(1))},
		query.And{cnd("s", query.Gte, "a"), cnd("f", query.Gt, int64(0))})
	return out
}

// mongoSort orders docs as MongoDB's sort on path (then _id descending):
// an array sorts by its least element ascending and its greatest
// descending, an empty one before null, a missing value as null, across
// types in bsonorder's order.
func mongoSort(docs []map[string]any, path string, desc bool) {
	type keyed struct {
		empty bool
		v     any
	}
	key := func(d map[string]any) keyed {
		var best any
		found, empty := false, false
		for _, v := range lmatch.Values(d, path) {
			var cands []any
			switch x := v.(type) {
			case []any:
				if len(x) == 0 {
					empty = true
				}
				cands = x
			default:
				if lmatch.IsMissing(v) {
					v = nil
				}
				cands = []any{v}
			}
			for _, c := range cands {
				if !found || !desc && bsonorder.Compare(c, best) < 0 || desc && bsonorder.Compare(c, best) > 0 {
					best, found = c, true
				}
			}
		}
		return keyed{empty: empty && !found, v: best}
	}
	cmpKey := func(a, b keyed) int {
		switch {
		case a.empty && b.empty:
			return 0
		case a.empty:
			return -1
		case b.empty:
			return 1
		}
		return bsonorder.Compare(a.v, b.v)
	}
	slices.SortStableFunc(docs, func(a, b map[string]any) int {
		c := cmpKey(key(a), key(b))
		if desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		return -bsonorder.Compare(a["_id"], b["_id"])
	})
}

// wrongTypePlans runs fn under each plan: the side-only plan, the main
// table's plan (typed columns in the side table) and the documents alone.
func wrongTypePlans(fn func(plan string)) {
	defer columnsOff.Store(false)
	defer sidePlanOff.Store(false)
	for _, plan := range []string{"side", "main", "documents"} {
		sidePlanOff.Store(plan != "side")
		columnsOff.Store(plan == "documents")
		fn(plan)
	}
}

// checkWrongTyped compares the store's answer to q with MongoDB's
// (internal/match, mongoSort) over docs: the page, in order, and the
// total.
func checkWrongTyped(t *testing.T, ctx context.Context, s *Store, c *schema.Collection, docs []map[string]any, plan string, q *query.Query) {
	t.Helper()
	var want []map[string]any
	for _, d := range docs {
		if lmatch.Match(q.Filter, d, nil) {
			want = append(want, d)
		}
	}
	total := len(want)
	if len(q.Sort) == 1 {
		mongoSort(want, q.Sort[0].Path, q.Sort[0].Desc)
	} else {
		mongoSort(want, "_id", true)
	}
	want = want[min(int(q.Skip), len(want)):]
	if q.Limit > 0 {
		want = want[:min(int(q.Limit), len(want))]
	}
	res, err := s.Read(ctx, c, q)
	if err != nil {
		t.Fatalf("%s plan, %s: %v", plan, describeNode(q.Filter), err)
	}
	keys := func(ds []map[string]any) string {
		var out []string
		for _, d := range ds {
			out = append(out, d["k"].(string))
		}
		return strings.Join(out, " ")
	}
	if got, exp := keys(res.Docs), keys(want); got != exp || res.Total != int64(total) {
		t.Errorf("%s plan, %s, sort %v skip %d limit %d: store [%s] total %d, MongoDB / internal/match [%s] total %d",
			plan, describeNode(q.Filter), q.Sort, q.Skip, q.Limit, got, res.Total, exp, total)
	}
}

// TestWrongTypedScalars (issue 13): values of another type than declared
// at a declared path — what an attr whose type changed between app
// versions leaves in stored documents, or a migrated file — match every
// operator ($eq, $ne, ranges, $in, $nin, $bet, $all, $regex) and sort as
// on MongoDB and in internal/match (live queries), on the side-only plan,
// the main table's plan and over the documents alike: a boolean at an INT
// path never equals nor orders with a number, an object at a STR path
// never compares as its JSON text, a list at a scalar path matches element
// by element and as a whole, a DICT path holding a list of objects is
// crossed element by element.
func TestWrongTypedScalars(t *testing.T) {
	ctx := t.Context()
	s, c, docs := wrongTypeStore(t, ":memory:")
	wrongTypePlans(func(plan string) {
		for _, f := range wrongTypeFilters() {
			checkWrongTyped(t, ctx, s, c, docs, plan, &query.Query{Filter: f})
			checkWrongTyped(t, ctx, s, c, docs, plan, &query.Query{Filter: f, Sort: []query.Sort{{Path: "k"}}, Skip: 1, Limit: 4})
		}
		for _, p := range []string{"n", "f", "s", "b", "d.x", "d.y", "tags", "k"} {
			for _, desc := range []bool{false, true} {
				sort := []query.Sort{{Path: p, Desc: desc}}
				checkWrongTyped(t, ctx, s, c, docs, plan, &query.Query{Sort: sort})
				checkWrongTyped(t, ctx, s, c, docs, plan, &query.Query{Filter: &query.Cond{Path: "k", Op: query.Ne, Value: "x"}, Sort: sort, Skip: 2, Limit: 5})
			}
		}
	})
}

// TestWrongTypedGroup: `$group` on a path holding values of other types
// than declared buckets them by MongoDB's order, each value of its own
// type (a boolean stays a boolean, above every number and string), on
// every plan.
func TestWrongTypedGroup(t *testing.T) {
	ctx := t.Context()
	s, c, docs := wrongTypeStore(t, ":memory:")
	wrongTypePlans(func(plan string) {
		res, err := s.Read(ctx, c, &query.Query{Group: []query.Group{{By: "n", Count: 20}}})
		if err != nil {
			t.Fatal(err)
		}
		bs := res.Groups["n"]
		var n int64
		for i, b := range bs {
			n += b.Count
			if i > 0 && bsonorder.Compare(bs[i-1].Min, b.Min) >= 0 {
				t.Errorf("%s plan: bucket %d starts at %#v, not above %#v", plan, i, b.Min, bs[i-1].Min)
			}
		}
		if n != int64(len(docs)) {
			t.Errorf("%s plan: buckets hold %d documents, want %d", plan, n, len(docs))
		}
		if len(bs) == 0 || bs[len(bs)-1].Min != true {
			t.Errorf("%s plan: the last bucket does not start at true (a boolean, above every other type): %v", plan, bs)
		}
	})
}

// TestWrongTypedScan: a store that did not Sync the collection (another
// process's Sync, an older file read as is) finds its values of other
// types on its first read; one that Syncs with the same declared types
// finds them in limp_meta (those written after the first Sync, by Insert
// and Update, included) without a scan.
func TestWrongTypedScan(t *testing.T) {
	ctx := t.Context()
	file := filepath.Join(t.TempDir(), "wt.db")
	_, c, docs := wrongTypeStore(t, file)
	for _, sync := range []bool{false, true} {
		s, err := Open(ctx, file, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if sync {
			if err := s.Sync(ctx, c); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM limp_meta WHERE key IN ('mixed:wt/s', 'mixed:wt/b', 'mixed:wt/n')").Scan(&n); err != nil || n != 3 {
				t.Errorf("limp_meta holds %d of the mixed attrs s, b, n (%v)", n, err)
			}
		}
		for _, f := range []query.Node{
			&query.Cond{Path: "n", Op: query.Eq, Value: int64(1)},
			&query.Cond{Path: "s", Op: query.Gt, Value: "c"},
			&query.Cond{Path: "s", Op: query.Eq, Value: "a"},
			&query.Cond{Path: "b", Op: query.Eq, Value: int64(1)},
			&query.Cond{Path: "b", Op: query.Eq, Value: true},
			&query.Cond{Path: "d.x", Op: query.Eq, Value: int64(5)},
		} {
			checkWrongTyped(t, ctx, s, c, docs, fmt.Sprint("sync ", sync), &query.Query{Filter: f, Sort: []query.Sort{{Path: "k"}}, Limit: 10})
		}
	}
}

// TestMixedAttrs pins which values conform to their declared types, in
// Go (the writes' check) and in SQL (Sync's scan) alike.
func TestMixedAttrs(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	c := wrongTypeCollection()
	c.Attrs["loc"] = &schema.Type{Kind: schema.Locale}
	c.Attrs["u"] = &schema.Type{Kind: schema.Union, Items: []*schema.Type{{Kind: schema.Int}, {Kind: schema.Str}}}
	c.Attrs["ref"] = &schema.Type{Kind: schema.ID}
	c.Attrs["any"] = &schema.Type{Kind: schema.Any}
	c.Attrs["at"] = &schema.Type{Kind: schema.Geo}
	c.Attrs["file"] = &schema.Type{Kind: schema.File}
	c.Attrs["kv"] = &schema.Type{Kind: schema.Dict, Val: &schema.Type{Kind: schema.Int}}
	c.Attrs["items"] = &schema.Type{Kind: schema.List, Items: []*schema.Type{{Kind: schema.Dict, Fields: map[string]*schema.Type{
		"qty": {Kind: schema.Int}, "tags": {Kind: schema.List, Items: []*schema.Type{{Kind: schema.Str}}}}}}}
	for i, tt := range []struct {
		doc  map[string]any
		want string
	}{
		{map[string]any{"n": int64(1), "f": int64(2), "s": "x", "b": true, "d": map[string]any{"x": 1.5, "y": nil, "z": []any{}},
			"tags": []any{"a", nil}, "loc": map[string]any{"en": "x"}, "u": "x", "ref": oid.New(), "any": []any{true},
			"at": map[string]any{"type": "Point", "coordinates": []any{1.5, int64(2)}}, "file": map[string]any{"name": "a", "size": int64(3)},
			"kv": map[string]any{"a": int64(1)}, "items": []any{map[string]any{"qty": int64(1), "tags": []any{"a"}}, nil}}, ""},
		{map[string]any{"n": nil, "s": nil, "d": nil, "tags": nil, "loc": nil, "at": nil, "items": []any{}}, ""},
		{map[string]any{"n": true, "f": "1", "s": map[string]any{}, "b": int64(1)}, "b f n s"},
		{map[string]any{"n": []any{int64(1)}, "s": []any{"a"}, "u": []any{int64(1)}, "ref": int64(1)}, "n ref s u"},
		{map[string]any{"d": []any{map[string]any{"x": int64(1)}}, "tags": "a", "loc": "x", "kv": []any{}}, "d kv loc tags"},
		{map[string]any{"d": map[string]any{"x": "1"}, "tags": []any{[]any{"a"}}, "loc": map[string]any{"en": int64(1)}}, "d loc tags"},
		{map[string]any{"at": map[string]any{"coordinates": []any{"1", int64(2)}}, "file": map[string]any{"size": "3"}, "kv": map[string]any{"a": true}}, "at file kv"},
		{map[string]any{"items": []any{map[string]any{"qty": true}}}, "items"},
		{map[string]any{"items": []any{map[string]any{"tags": []any{int64(1)}}}}, "items"},
		{map[string]any{"items": []any{"x"}}, "items"},
		{map[string]any{"items": map[string]any{"qty": int64(1)}}, "items"},
	} {
		got := mixedAttrs(c, tt.doc)
		slices.Sort(got)
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%v: mixed [%s], want [%s]", tt.doc, strings.Join(got, " "), tt.want)
		}
		c.Name = fmt.Sprint("mx", i)
		tt.doc["_id"] = oid.New()
		if err := s.Sync(ctx, anyTyped(c)); err != nil {
			t.Fatal(err)
		}
		if err := s.Insert(ctx, anyTyped(c), tt.doc); err != nil {
			t.Fatal(err)
		}
		scanned, err := scanMixed(ctx, s.db, c)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(scanned, " ") != tt.want {
			t.Errorf("%v: Sync's scan finds [%s], want [%s]", tt.doc, strings.Join(scanned, " "), tt.want)
		}
	}
}

// TestWrongTypedKeepsIndexes: the blog's list queries keep their index
// plans (EXPLAIN QUERY PLAN) when another attr of the collection holds
// values of another type; a condition on that attr reads it through
// limp_cond.
func TestWrongTypedKeepsIndexes(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	c := blogCollection()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		d := map[string]any{"_id": oid.New(), "title": fmt.Sprint("t", i), "status": []string{"published", "draft"}[i%2],
			"created": fmt.Sprintf("2025-01-%02d", i%28+1), "views": int64(i % 10)}
		if i == 7 {
			d["views"] = []any{int64(3), true} // views holds other types
		}
		if err := s.Insert(ctx, c, d); err != nil {
			t.Fatal(err)
		}
	}
	explain := func(q *query.Query) string {
		t.Helper()
		p, err := compile(c, q, false, s.mixedFor(ctx, c, false))
		if err != nil {
			t.Fatal(err)
		}
		stmt, args := p.Select("id, doc")
		rows, err := s.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+stmt, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var a, b, c int
			var d string
			if err := rows.Scan(&a, &b, &c, &d); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, d)
		}
		return stmt + "\n" + strings.Join(plan, "\n")
	}
	list := func(f query.Node) *query.Query {
		return &query.Query{Filter: f, Sort: []query.Sort{{Path: "created", Desc: true}}, Limit: 20}
	}
	published := &query.Cond{Path: "status", Op: query.Eq, Value: "published"}
	perm := query.Or{published, &query.Cond{Path: "cat", Op: query.Eq, Value: oid.New()}}
	defer sidePlanOff.Store(false)
	for _, tt := range []struct {
		name      string
		main      bool
		q         *query.Query
		want, not []string
	}{
		{"list_published side", false, list(published), []string{`INDEX k_blog_i_status_created_desc (a:status=?)`}, []string{"limp_cond", "TEMP B-TREE", "SCAN k_blog"}},
		{"list_published main", true, list(published), []string{`USING INDEX limp_blog_i_status_created_desc (<expr>=?)`}, []string{"limp_cond", "SCAN c_blog", "TEMP B-TREE FOR ORDER BY"}},
		{"list_published perm side", false, list(query.And{published, perm}), []string{`INDEX k_blog_i_status_created_desc`}, []string{"limp_cond", "SCAN k_blog"}},
		{"title unique", true, &query.Query{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "t1"}}, []string{"USING INDEX limp_blog_u_title"}, []string{"limp_cond"}},
		{"list_views", false, list(&query.Cond{Path: "views", Op: query.Eq, Value: int64(3)}), []string{"limp_cond", `FROM "k_blog"`, "SCAN k_blog"}, nil},
	} {
		sidePlanOff.Store(tt.main)
		got := explain(tt.q)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: no %q in\n%s", tt.name, w, got)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(got, w) {
				t.Errorf("%s: %q in\n%s", tt.name, w, got)
			}
		}
	}
	sidePlanOff.Store(false)
	res, err := s.Read(ctx, c, list(&query.Cond{Path: "views", Op: query.Eq, Value: true}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Docs) != 1 || res.Docs[0]["title"] != "t7" {
		t.Errorf("views = true: %v", docIDs(res.Docs))
	}
}

// TestWrongTypedJoin: conditions through references (and the referenced
// module's permission filter) where the reference or the referenced
// attrs hold values of other types than declared answer as
// internal/match.
func TestWrongTypedJoin(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	str := &schema.Type{Kind: schema.Str}
	cat := &schema.Collection{Name: "wtcat", Attrs: map[string]*schema.Type{"title": str, "rank": {Kind: schema.Int}}}
	c := &schema.Collection{Name: "wtpost", Attrs: map[string]*schema.Type{"k": str, "ref": {Kind: schema.ID},
		"refs": {Kind: schema.List, Items: []*schema.Type{{Kind: schema.ID}}}},
		Extns: map[string]*schema.Extn{"ref": {Collection: "wtcat", Target: cat}, "refs": {Collection: "wtcat", Target: cat}}}
	ids := []oid.ID{oid.New(), oid.New(), oid.New()}
	cats := []map[string]any{
		{"_id": ids[0], "title": "a", "rank": int64(1)},
		{"_id": ids[1], "title": []any{"a", "b"}, "rank": true},
		{"_id": ids[2], "title": map[string]any{"x": int64(1)}, "rank": []any{int64(1), int64(2)}},
	}
	posts := []map[string]any{
		{"k": "one", "ref": ids[0]}, {"k": "two", "ref": ids[1]}, {"k": "list", "ref": []any{ids[0].Hex(), ids[2].Hex()}},
		{"k": "obj", "ref": map[string]any{"x": ids[0].Hex()}}, {"k": "refs", "refs": []any{ids[1]}}, {"k": "num", "ref": int64(5)},
		{"k": "none"},
	}
	for _, p := range posts {
		p["_id"] = oid.New()
	}
	for _, x := range []struct {
		c    *schema.Collection
		docs []map[string]any
	}{{cat, cats}, {c, posts}} {
		if err := s.Sync(ctx, anyTyped(x.c)); err != nil {
			t.Fatal(err)
		}
		if err := s.Insert(ctx, anyTyped(x.c), x.docs...); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(ctx, x.c); err != nil {
			t.Fatal(err)
		}
	}
	stored := func(c *schema.Collection) []map[string]any {
		res, err := s.Read(ctx, c, &query.Query{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Docs
	}
	byID := map[oid.ID]map[string]any{}
	for _, d := range stored(cat) {
		byID[d["_id"].(oid.ID)] = d
	}
	resolve := func(_ string, id oid.ID) map[string]any { return byID[id] }
	docs := stored(c)
	perm := &query.Cond{Path: "rank", Op: query.Ne, Value: true}
	var n int
	for _, local := range []string{"ref", "refs"} {
		for _, f := range []*query.Cond{
			{Path: "title", Op: query.Eq, Value: "a"}, {Path: "title", Op: query.Gt, Value: "a"}, {Path: "title", Op: query.Ne, Value: "b"},
			{Path: "rank", Op: query.Eq, Value: int64(1)}, {Path: "rank", Op: query.Lt, Value: int64(2)}, {Path: "rank", Op: query.Eq, Value: true},
			{Path: "title", Op: query.Eq, Value: map[string]any{"x": int64(1)}},
		} {
			for _, filter := range []query.Node{nil, perm} {
				cond := *f
				cond.Join = &query.Join{Local: local, Collection: "wtcat", IDList: local == "refs", Filter: filter}
				var want []string
				for _, d := range docs {
					if lmatch.Match(&cond, d, resolve) {
						want = append(want, d["k"].(string))
					}
				}
				res, err := s.Read(ctx, c, &query.Query{Filter: &cond})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, d := range res.Docs {
					got = append(got, d["k"].(string))
				}
				slices.Sort(got)
				slices.Sort(want)
				n += len(want)
				if !slices.Equal(got, want) {
					t.Errorf("%s through %s (filter %v): store %v, internal/match %v", describeNode(f), local, filter != nil, got, want)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no condition matched any document")
	}
}

// TestWrongTypedConcurrent: reads running while documents with values of
// other types are inserted (the attr becoming mixed in the meantime)
// never answer with a typed comparison on them: n = 1 never returns a
// boolean, n < 2 never a boolean nor a list.
func TestWrongTypedConcurrent(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	c := wrongTypeCollection()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "k": fmt.Sprint(i), "n": int64(i % 4)}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 30 {
			v := []any{true, []any{true, int64(9)}, false}[i%3]
			if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "k": fmt.Sprint("w", i), "n": v}); err != nil {
				errs <- err
				return
			}
		}
	}()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 60 {
				for _, f := range []*query.Cond{{Path: "n", Op: query.Eq, Value: int64(1)}, {Path: "n", Op: query.Lt, Value: int64(2)}} {
					res, err := s.Read(ctx, c, &query.Query{Filter: f, Sort: []query.Sort{{Path: "k"}}, Limit: 100})
					if err != nil {
						errs <- err
						return
					}
					for _, d := range res.Docs {
						if _, ok := d["n"].(int64); !ok {
							errs <- fmt.Errorf("%s: matched %v", describeNode(f), d)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
