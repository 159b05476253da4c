package sqlite

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// sidePlanCollection is blogCollection with a unique path the side table
// holds (score), for the plan choice.
func sidePlanCollection() *schema.Collection {
	c := blogCollection()
	c.Unique = append(c.Unique, []string{"score"})
	return c
}

// TestSidePlanGolden pins the plan chosen (the page's SELECT and the
// count) for reads carrying examples/blog's read permission of an
// anonymous caller (status = "published" OR cat = X): on k alone, with
// its mirrored index when a top-level conjunct names its leading path;
// the main table's plan for a unique path's equality.
func TestSidePlanGolden(t *testing.T) {
	c := sidePlanCollection()
	cat := oid.MustParse("65920080fae70221dce01bbd")
	cnd := func(p string, op query.Op, v any) *query.Cond { return &query.Cond{Path: p, Op: op, Value: v} }
	perm := query.Or{cnd("status", query.Eq, "published"), cnd("cat", query.Eq, cat)}
	newest := []query.Sort{{Path: "created", Desc: true}}
	tests := []struct {
		name string
		q    *query.Query
	}{
		{"perm_unindexed", &query.Query{Filter: query.And{cnd("views", query.Eq, int64(3)), perm}, Sort: newest, Limit: 20}},
		{"perm_indexed", &query.Query{Filter: query.And{cnd("status", query.Eq, "published"), perm}, Sort: newest, Limit: 20}},
		{"perm_in_range", &query.Query{Filter: query.And{cnd("status", query.In, []any{"published", "draft"}),
			&query.Cond{Path: "views", Op: query.Bet, Value: int64(2), Value2: int64(5)}, perm}, Sort: newest, Skip: 20, Limit: 20}},
		{"perm_unique", &query.Query{Filter: query.And{cnd("score", query.Eq, 1.5), perm}, Sort: newest, Limit: 20}},
		{"perm_list", &query.Query{Filter: query.And{cnd("tags", query.Eq, "go"), perm}, Sort: newest, Limit: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(c, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, f := range []func() (string, []any){func() (string, []any) { return p.Select("id, doc") }, p.Count} {
				sql, args := f()
				js, err := jsonv.Marshal(args)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "%s\n%s\n", sql, js)
			}
			golden(t, "sideplan_"+tt.name, []byte(b.String()))
		})
	}
}

// TestSidePlanResults checks that the side-only plan, with and without
// the mirrored indexes, returns what the main table's plan returns (page
// and total) for permission-carrying reads over indexed and unindexed
// declared scalars, on documents holding every kind of value a declared
// scalar may meet (missing, null, the declared type, other types) and
// soft-deleted ones.
func TestSidePlanResults(t *testing.T) {
	defer sidePlanOff.Store(false)
	defer sideIndexesOff.Store(false)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cat := oid.NewAt(base)
	odd := []any{nil, "x", int64(7), true, 2.5, []any{"published"}, map[string]any{"a": int64(1)}}
	doc := func(i int) map[string]any {
		d := map[string]any{
			"_id": oid.NewAt(base.Add(time.Duration(i) * time.Second)), "title": fmt.Sprintf("T%d", i),
			"status": []string{"published", "draft", "published", "archived"}[i%4], "views": int64(i % 10),
			"created": base.Add(time.Duration(i*7919%1000) * time.Minute).Format("2006-01-02T15:04:05"),
			"score":   float64(i) / 4,
		}
		if i%3 == 0 {
			d["cat"] = cat
		}
		switch i % 13 {
		case 1:
			delete(d, "status")
		case 2:
			d["created"] = nil
		case 3:
			d["views"] = odd[i%len(odd)]
		case 4:
			d["status"] = odd[i%len(odd)]
		case 5:
			delete(d, "created")
		}
		return d
	}
	cnd := func(p string, op query.Op, v any) *query.Cond { return &query.Cond{Path: p, Op: op, Value: v} }
	perm := query.Or{cnd("status", query.Eq, "published"), cnd("cat", query.Eq, cat)}
	var queries []*query.Query
	// The main plan is kept for a unique path's range (6), and without
	// the mirrored indexes for a top-level condition on the leading
	// path of the (status, created) index (1; 2 has null in its $in).
	mainOnly, mainNoIdx := map[*query.Query]bool{}, map[*query.Query]bool{}
	for fi, f := range []query.Node{
		query.And{cnd("views", query.Eq, int64(3)), perm},
		query.And{cnd("status", query.Eq, "published"), perm},
		query.And{cnd("status", query.In, []any{"published", nil, "draft"}), perm},
		query.And{cnd("views", query.Gte, int64(5)), cnd("status", query.Ne, "draft"), perm},
		query.And{&query.Cond{Path: "created", Op: query.Bet, Value: "2025-01-01T02", Value2: "2025-01-01T09"}, perm},
		query.Or{cnd("views", query.Nin, []any{int64(1), int64(2)}), cnd("created", query.Eq, nil)},
		query.And{cnd("score", query.Lt, 40.0), perm},
	} {
		for _, s := range [][]query.Sort{
			{{Path: "created", Desc: true}},
			{{Path: "status"}, {Path: "created", Desc: true}},
			{{Path: "views"}, {Path: "_id", Desc: true}},
			{{Path: "status", Desc: true}, {Path: "views"}},
		} {
			for _, skip := range []int64{0, 7, 500} { // 500: an empty page, its total from Count
				q := &query.Query{Filter: f, Sort: s, Skip: skip, Limit: 20}
				queries = append(queries, q)
				mainOnly[q] = fi == 6
				mainNoIdx[q] = fi == 6 || fi == 1
			}
		}
	}
	type result struct {
		ids   string
		count int64
	}
	run := func(mode string) []result {
		sidePlanOff.Store(mode == "main")
		sideIndexesOff.Store(mode == "side_noidx")
		c := sidePlanCollection()
		s, err := Open(t.Context(), ":memory:", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Sync(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		for i := range 400 {
			if err := s.Insert(t.Context(), c, doc(i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Delete(t.Context(), c, &query.Query{Filter: cnd("views", query.Eq, int64(9))}, false); err != nil {
			t.Fatal(err)
		}
		var out []result
		for _, q := range queries {
			p, err := Compile(c, q)
			if err != nil {
				t.Fatal(err)
			}
			wantSide := mode == "side" && !mainOnly[q] || mode == "side_noidx" && !mainNoIdx[q]
			if side := p.Side != ""; side != wantSide {
				t.Errorf("%s: side-only plan %v for %v", mode, side, q.Filter)
			}
			res, err := s.Read(t.Context(), c, q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range res.Docs {
				ids = append(ids, d["title"].(string)) // _ids differ between the stores
			}
			out = append(out, result{strings.Join(ids, ","), res.Total})
		}
		return out
	}
	want, side, noidx := run("main"), run("side"), run("side_noidx")
	for i, q := range queries {
		if want[i].count == 0 || want[i].ids == "" && q.Skip < 500 {
			t.Errorf("query %d %v: nothing matched, a weak case", i, q.Filter)
		}
		if side[i] != want[i] {
			t.Errorf("query %d %v %v skip %d: side-only plan %+v, main plan %+v", i, q.Filter, q.Sort, q.Skip, side[i], want[i])
		}
		if noidx[i] != want[i] {
			t.Errorf("query %d %v %v skip %d: side-only plan without indexes %+v, main plan %+v", i, q.Filter, q.Sort, q.Skip, noidx[i], want[i])
		}
	}
}
