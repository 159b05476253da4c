package sqlite

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

func TestJoin(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	cat := &schema.Collection{Name: "cat", Attrs: map[string]*schema.Type{"title": {Kind: schema.Locale}, "rank": {Kind: schema.Int}}}
	c := testCollection()
	c.Extns = map[string]*schema.Extn{
		"ref":  {Module: "cat", Collection: "cat", Target: cat},
		"refs": {Module: "cat", Collection: "cat", Target: cat},
	}
	id := seed(t, s, c)
	if err := s.Sync(ctx, cat); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, cat,
		map[string]any{"_id": id[5], "title": map[string]any{"en_AE": "Fruit"}, "rank": int64(1)},
		map[string]any{"_id": id[4], "title": map[string]any{"en_AE": "Veg"}, "rank": int64(2)},
	); err != nil {
		t.Fatal(err)
	}
	jc := func(local string, list bool, p string, op query.Op, v any) *query.Query {
		return &query.Query{Filter: &query.Cond{Path: p, Op: op, Value: v, Join: &query.Join{Local: local, Collection: "cat", IDList: list}}}
	}
	tests := []struct {
		name string
		q    *query.Query
		want []oid.ID
	}{
		{"id eq", jc("ref", false, "title.en_AE", query.Eq, "Fruit"), []oid.ID{id[0]}},
		{"id ne", jc("ref", false, "title.en_AE", query.Ne, "Fruit"), []oid.ID{id[4], id[3], id[2], id[1]}},
		{"id list", jc("refs", true, "rank", query.Eq, int64(2)), []oid.ID{id[0]}},
		{"id list gt", jc("refs", true, "rank", query.Gt, int64(5)), []oid.ID{}},
		{"id list regex", jc("refs", true, "title.en_AE", query.Regex, "^v"), []oid.ID{id[0]}},
		{"in or", &query.Query{Filter: query.Or{
			&query.Cond{Path: "title", Op: query.Eq, Value: "beta"},
			&query.Cond{Path: "rank", Op: query.In, Value: []any{int64(1)}, Join: &query.Join{Local: "ref", Collection: "cat"}},
		}}, []oid.ID{id[1], id[0]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readIDs(t, s, c, tt.q); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// A soft-deleted referenced document no longer matches.
	if _, err := s.Delete(ctx, cat, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id[5]}}, false); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, s, c, tests[0].q); len(got) != 0 {
		t.Errorf("deleted reference matches: %v", got)
	}
}

func TestAccess(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	c := &schema.Collection{Name: "doc", Attrs: map[string]*schema.Type{"user": {Kind: schema.ID}, "acc": {Kind: schema.Access}}}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	id := testIDs(10)
	u1, u2, g1, g2 := id[6], id[7], id[8], id[9]
	acc := func(anon bool, users, groups []any) map[string]any {
		return map[string]any{"anon": anon, "users": users, "groups": groups}
	}
	if err := s.Insert(ctx, c,
		map[string]any{"_id": id[0], "user": u1, "acc": acc(false, []any{}, []any{})},
		map[string]any{"_id": id[1], "user": u2, "acc": acc(true, []any{}, []any{})},
		map[string]any{"_id": id[2], "user": u2, "acc": acc(false, []any{u1}, []any{})},
		map[string]any{"_id": id[3], "user": u2, "acc": acc(false, []any{}, []any{g2})},
		map[string]any{"_id": id[4], "user": u2, "acc": acc(false, []any{}, []any{})},
	); err != nil {
		t.Fatal(err)
	}
	got := readIDs(t, s, c, &query.Query{Filter: &query.Access{Path: "acc", User: u1, Groups: []oid.ID{g1, g2}}})
	if want := []oid.ID{id[3], id[2], id[1], id[0]}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	got = readIDs(t, s, c, &query.Query{Filter: &query.Access{Path: "acc", User: u1}})
	if want := []oid.ID{id[2], id[1], id[0]}; !slices.Equal(got, want) {
		t.Errorf("no groups: got %v, want %v", got, want)
	}
}

func TestGroup(t *testing.T) {
	s := openTest(t)
	c := testCollection()
	id := seed(t, s, c)
	res, err := s.Read(t.Context(), c, &query.Query{Limit: 1, Group: []query.Group{{By: "n", Count: 2}, {By: "ref", Count: 3}, {By: "title", Count: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]store.Bucket{
		"n":     {{Min: nil, Max: int64(3), Count: 3}, {Min: int64(3), Max: int64(10), Count: 2}},
		"ref":   {{Min: nil, Max: id[5], Count: 4}, {Min: id[5], Max: id[5], Count: 1}},
		"title": {{Min: "Epsilon", Max: "alpha", Count: 1}, {Min: "alpha", Max: "beta", Count: 1}, {Min: "beta", Max: "delta", Count: 1}, {Min: "delta", Max: "gamma", Count: 1}, {Min: "gamma", Max: "gamma", Count: 1}},
	}
	if !reflect.DeepEqual(res.Groups, want) {
		t.Errorf("groups %v, want %v", res.Groups, want)
	}
	res, err = s.Read(t.Context(), c, &query.Query{Filter: query.Or{}, Group: []query.Group{{By: "n", Count: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Groups, map[string][]store.Bucket{"n": {}}) {
		t.Errorf("no match groups %v", res.Groups)
	}
}

func TestGeoNear(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	c := &schema.Collection{Name: "place", Attrs: map[string]*schema.Type{"at": {Kind: schema.Geo}}}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	id := testIDs(3)
	pt := func(lng, lat float64) map[string]any {
		return map[string]any{"type": "Point", "coordinates": []any{lng, lat}}
	}
	if err := s.Insert(ctx, c,
		map[string]any{"_id": id[0], "at": pt(55.27, 25.20)}, // Dubai
		map[string]any{"_id": id[1], "at": pt(54.37, 24.45)}, // Abu Dhabi, ~125 km
		map[string]any{"_id": id[2], "at": pt(55.28, 25.21)}, // ~1.5 km
	); err != nil {
		t.Fatal(err)
	}
	got := readIDs(t, s, c, &query.Query{GeoNear: &query.GeoNear{Attr: "at", Lng: 55.27, Lat: 25.20, MaxDistance: 10000}})
	if want := []oid.ID{id[0], id[2]}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestErrors(t *testing.T) {
	s := openTest(t)
	c := testCollection()
	seed(t, s, c)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Read(ctx, c, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: %v", err)
	}
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled insert: %v", err)
	}
	bad := []*query.Query{
		{Filter: &query.Cond{Path: "title", Op: query.Regex, Value: strings.Repeat("a", maxRegex+1)}},
		{Filter: &query.Cond{Path: "title", Op: query.Regex, Value: "("}},
		{Filter: &query.Cond{Path: "ti'tle", Op: query.Eq, Value: "x"}},
		{Filter: &query.Cond{Path: "a..b", Op: query.Eq, Value: "x"}},
		{Sort: []query.Sort{{Path: `x"y`}}},
		{Group: []query.Group{{By: "n", Count: 0}}},
	}
	for _, q := range bad {
		if _, err := s.Read(t.Context(), c, q); err == nil {
			t.Errorf("read %+v: no error", q)
		}
	}
	// Values that look like SQL or JSON paths are just values.
	got := readIDs(t, s, c, &query.Query{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "' OR 1=1 --"}})
	if len(got) != 0 {
		t.Errorf("injection matched %v", got)
	}
}

func TestConcurrent(t *testing.T) {
	for _, path := range []string{":memory:", t.TempDir() + "/db.sqlite"} {
		s, err := Open(t.Context(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := testCollection()
		c.Unique = nil
		if err := s.Sync(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for w := range 4 {
			wg.Go(func() {
				for i := range 10 {
					if err := s.Insert(t.Context(), c, map[string]any{"_id": oid.New(), "title": "t", "n": int64(w*100 + i)}); err != nil {
						errs <- err
					}
					if _, err := s.Update(t.Context(), c, &query.Query{Limit: 1}, &store.Update{Add: map[string]any{"n": int64(1)}}); err != nil {
						errs <- err
					}
					if _, err := s.Read(t.Context(), c, &query.Query{Filter: &query.Cond{Path: "n", Op: query.Gt, Value: int64(5)}, Limit: 3}); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%s: %v", path, err)
		}
		res, err := s.Read(t.Context(), c, nil)
		if err != nil || res.Total != 40 {
			t.Errorf("%s: total %v %v", path, res, err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestIndexUsed checks that equality and range conditions on indexed
// attrs use the expression indexes.
func TestIndexUsed(t *testing.T) {
	s := openTest(t)
	c := testCollection()
	seed(t, s, c)
	for _, tt := range []struct {
		q    *query.Query
		want string
	}{
		{&query.Query{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "beta"}}, "USING INDEX limp_item_"},
		{&query.Query{Filter: &query.Cond{Path: "n", Op: query.Gt, Value: int64(1)}}, "USING INDEX limp_item_"},
		{&query.Query{Filter: &query.Cond{Path: "n", Op: query.In, Value: []any{int64(1), int64(2)}}}, "USING INDEX limp_item_"},
		{&query.Query{Filter: &query.Cond{Path: "tags", Op: query.Eq, Value: "b"}}, "SEARCH x_item.tags USING PRIMARY KEY (v=?)"},
		{&query.Query{Filter: &query.Cond{Path: "refs", Op: query.In, Value: []any{oid.New(), oid.New()}}}, "SEARCH x_item.refs USING PRIMARY KEY (v=?)"},
		{&query.Query{Filter: &query.Cond{Path: "items.by", Op: query.Eq, Value: oid.New()}}, "SEARCH x_item.items.by USING PRIMARY KEY (v=?)"},
	} {
		q := tt.q
		p, err := Compile(c, q)
		if err != nil {
			t.Fatal(err)
		}
		stmt, args := p.Select("id, doc")
		rows, err := s.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+stmt, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var a, b, c int
			var d string
			if err := rows.Scan(&a, &b, &c, &d); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, d)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "\n"), tt.want) {
			t.Errorf("%s\nplan: %v", stmt, plan)
		}
	}
}

// TestMultikey checks the side table of a plain index on a LIST: it
// follows inserts, updates, soft and hard deletes and transactions rolled
// back, is filled when declared on existing documents and dropped when no
// longer declared, and answers like the unindexed path.
func TestMultikey(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	c := testCollection()
	plain := testCollection()
	plain.Indexes = nil
	if err := s.Sync(ctx, plain); err != nil {
		t.Fatal(err)
	}
	id := []oid.ID{oid.New(), oid.New(), oid.New(), oid.New()}
	by := oid.New()
	if err := s.Insert(ctx, plain,
		map[string]any{"_id": id[0], "title": "a", "tags": []any{"x", "y", "x"}, "items": []any{
			map[string]any{"by": by, "qty": int64(2)}, map[string]any{"qty": 2.0}, "x"}},
		map[string]any{"_id": id[1], "title": "b", "tags": []any{"y", int64(1), true, nil, []any{"x"}}, "items": []any{
			map[string]any{"by": nil, "qty": []any{int64(3)}}}},
	); err != nil {
		t.Fatal(err)
	}
	sync := func(c *schema.Collection) {
		t.Helper()
		for range 2 { // idempotent
			if err := s.Sync(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	sync(c) // fills the side table from stored documents
	if err := s.Insert(ctx, c, map[string]any{"_id": id[2], "title": "c", "tags": []any{"z", 1.0}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, c, map[string]any{"_id": id[3], "title": "d", "tags": []any{"x"}, "__deleted": true}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for _, tt := range []struct {
			path string
			op   query.Op
			v    any
		}{
			{"items.by", query.Eq, by}, {"items.by", query.Eq, nil}, {"items.by", query.Ne, by}, {"items.qty", query.Eq, int64(2)},
			{"items.qty", query.In, []any{int64(3), 2.5}}, {"items.qty", query.Nin, []any{int64(2)}},
			{"tags", query.Eq, "x"}, {"tags", query.Eq, "y"}, {"tags", query.Eq, int64(1)}, {"tags", query.Eq, 1.0},
			{"tags", query.Eq, "1"}, {"tags", query.Eq, true}, {"tags", query.Eq, nil}, {"tags", query.Eq, []any{"x"}},
			{"tags", query.In, []any{"z", "x"}}, {"tags", query.Ne, "y"}, {"tags", query.Nin, []any{"x", int64(1)}},
			{"tags", query.All, []any{"x", "y"}},
		} {
			q := &query.Query{Filter: &query.Cond{Path: tt.path, Op: tt.op, Value: tt.v}}
			got := readIDs(t, s, c, q)
			want := readIDs(t, s, plain, q)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s %s %v: got %v, want %v", when, tt.path, tt.op, tt.v, got, want)
			}
		}
	}
	check("after insert")
	if _, err := s.Update(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id[0]}},
		&store.Update{Set: map[string]any{"tags": []any{"w"}}}); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, s, c, &query.Query{Filter: &query.Cond{Path: "tags", Op: query.Eq, Value: "w"}}); !slices.Equal(got, []oid.ID{id[0]}) {
		t.Errorf("after update: %v", got)
	}
	check("after update")
	boom := errors.New("boom")
	err := s.Tx(ctx, func(ctx context.Context) error {
		if _, err := s.Update(ctx, c, &query.Query{}, &store.Update{Set: map[string]any{"tags": []any{"v"}}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	check("after rollback")
	if _, err := s.Delete(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id[1]}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id[2]}}, true); err != nil {
		t.Fatal(err)
	}
	check("after delete")
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM "x_item.tags"`).Scan(&n); err != nil || n != 1 {
		t.Errorf("side table holds %d rows (%v), want 1 (w)", n, err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM "x_item.items.qty"`).Scan(&n); err != nil || n != 1 {
		t.Errorf("items.qty side table holds %d rows (%v), want 1 (2, once)", n, err)
	}
	sync(plain) // no longer declared: dropped
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name LIKE 'x_item.%' OR name LIKE 'limp_x_item.%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d side tables, indexes and triggers left (%v)", n, err)
	}
	if err := s.Insert(ctx, plain, map[string]any{"_id": oid.New(), "title": "e", "tags": []any{"w"}}); err != nil {
		t.Fatal(err)
	}
	sync(c) // declared again: refilled
	if got := readIDs(t, s, c, &query.Query{Filter: &query.Cond{Path: "tags", Op: query.Eq, Value: "w"}}); len(got) != 2 {
		t.Errorf("after re-declaring: %v", got)
	}
}
