package sqlite

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// TestSideSearchGroup: reads mixing $search, $group, a search attr and
// declared scalars (the side table's columns in the main plan, the
// side-only plan for $group's page and total) answer as over the
// documents alone: page, total and buckets.
func TestSideSearchGroup(t *testing.T) {
	defer columnsOff.Store(false)
	ctx := t.Context()
	c := blogCollection()
	s, err := Open(ctx, ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	words := []string{"alpha", "beta", "gamma"}
	for i := range 120 {
		d := map[string]any{"_id": oid.New(), "title": fmt.Sprintf("%s post %d", words[i%3], i), "status": []string{"draft", "published"}[i%2],
			"views": int64(i % 7), "score": float64(i%5) / 2, "pinned": i%4 == 0, "body": map[string]any{"words": int64(i % 11)}}
		if i%9 == 0 {
			d["views"] = nil
		}
		if err := s.Insert(ctx, c, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, c, &query.Query{Filter: &query.Cond{Path: "views", Op: query.Eq, Value: int64(6)}, Limit: 5}, false); err != nil {
		t.Fatal(err)
	}
	cnd := func(p string, op query.Op, v any) *query.Cond { return &query.Cond{Path: p, Op: op, Value: v} }
	for i, q := range []*query.Query{
		{Search: "alpha", Filter: cnd("views", query.Nin, []any{int64(1), nil}), Limit: 5, Skip: 3},
		{Search: "beta", Filter: query.Or{cnd("pinned", query.Eq, true), cnd("body.words", query.Gt, int64(5))}, Sort: []query.Sort{{Path: "views"}}, Limit: 4},
		{Filter: query.And{cnd("views", query.Gte, int64(2)), cnd("status", query.Eq, "published")}, Sort: []query.Sort{{Path: "score", Desc: true}}, Limit: 6,
			Group: []query.Group{{By: "views", Count: 3}, {By: "body.words", Count: 4}}},
		{Filter: query.And{cnd("title", query.Regex, "^gamma"), cnd("views", query.Ne, nil)}, Sort: []query.Sort{{Path: "views"}}, Limit: 3, Skip: 2,
			Group: []query.Group{{By: "score", Count: 2}}},
		{Filter: cnd("views", query.Eq, nil), Limit: 2, Group: []query.Group{{By: "pinned", Count: 2}}},
	} {
		p, err := Compile(c, q)
		if err != nil {
			t.Fatal(err)
		}
		if side := p.Side != ""; side != (i == 2 || i == 4) {
			t.Errorf("query %d: side-only plan %v", i, side)
		}
		got, err := s.Read(ctx, c, q)
		if err != nil {
			t.Fatal(err)
		}
		columnsOff.Store(true)
		want, err := s.Read(ctx, c, q)
		columnsOff.Store(false)
		if err != nil {
			t.Fatal(err)
		}
		if want.Total == 0 || len(want.Docs) == 0 {
			t.Errorf("query %d: nothing matched, a weak case", i)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("query %d: with the side table %d docs of %d, groups %v; documents alone %d of %d, groups %v",
				i, len(got.Docs), got.Total, got.Groups, len(want.Docs), want.Total, want.Groups)
		}
	}
}
