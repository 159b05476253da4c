package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

func testCollection() *schema.Collection {
	str := &schema.Type{Kind: schema.Str}
	return &schema.Collection{
		Name:   "item",
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
			"loc":  {Kind: schema.Locale},
			"meta": {Kind: schema.Any},
		},
		Unique:  [][]string{{"title"}},
		Indexes: [][]schema.IndexKey{{{Path: "n"}}, {{Path: "tags"}}, {{Path: "refs"}}, {{Path: "items.by"}}, {{Path: "items.qty"}}},
		Search:  []string{"title", "loc"},
	}
}

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// ids returns n ascending (time-ordered) ids.
func testIDs(n int) []oid.ID {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]oid.ID, n)
	for i := range out {
		out[i] = oid.NewAt(base.Add(time.Duration(i) * time.Second))
	}
	return out
}

func seed(t *testing.T, s *Store, c *schema.Collection) []oid.ID {
	t.Helper()
	ctx := t.Context()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	id := testIDs(6)
	docs := []map[string]any{
		{"_id": id[0], "title": "alpha", "n": int64(1), "f": 1.5, "ok": true, "tags": []any{"a", "b"},
			"ref": id[5], "refs": []any{id[4], id[5]}, "loc": map[string]any{"en_AE": "Red apple", "ar_AE": "تفاحة"},
			"items": []any{map[string]any{"qty": int64(2), "name": "x", "by": id[5]}}},
		{"_id": id[1], "title": "beta", "n": int64(2), "f": 2.0, "ok": false, "tags": []any{"b", "c"},
			"loc": map[string]any{"en_AE": "Green pear"}, "items": []any{map[string]any{"qty": int64(5), "name": "y"}}},
		{"_id": id[2], "title": "gamma", "n": int64(3), "f": 3.25, "ok": true, "tags": []any{},
			"loc": map[string]any{"en_AE": "Yellow banana apple"}, "meta": "1"},
		{"_id": id[3], "title": "delta", "n": nil, "meta": int64(1)},
		{"_id": id[4], "title": "Epsilon", "n": int64(10), "f": int64(10), "meta": []any{int64(7), "x"}},
	}
	if err := s.Insert(ctx, c, docs...); err != nil {
		t.Fatal(err)
	}
	return id
}

func readIDs(t *testing.T, s *Store, c *schema.Collection, q *query.Query) []oid.ID {
	t.Helper()
	res, err := s.Read(t.Context(), c, q)
	if err != nil {
		t.Fatalf("read %+v: %v", q, err)
	}
	out := []oid.ID{}
	for _, d := range res.Docs {
		out = append(out, d["_id"].(oid.ID))
	}
	return out
}

func TestReadFilters(t *testing.T) {
	s := openTest(t)
	c := testCollection()
	id := seed(t, s, c)
	cond := func(p string, op query.Op, v any) *query.Query {
		return &query.Query{Filter: &query.Cond{Path: p, Op: op, Value: v}}
	}
	tests := []struct {
		name string
		q    *query.Query
		want []oid.ID // in default order (newest first)
	}{
		{"all", &query.Query{}, []oid.ID{id[4], id[3], id[2], id[1], id[0]}},
		{"eq str", cond("title", query.Eq, "beta"), []oid.ID{id[1]}},
		{"eq int", cond("n", query.Eq, int64(2)), []oid.ID{id[1]}},
		{"eq int float", cond("f", query.Eq, int64(2)), []oid.ID{id[1]}},
		{"eq float int", cond("f", query.Eq, 10.0), []oid.ID{id[4]}},
		{"eq bool true", cond("ok", query.Eq, true), []oid.ID{id[2], id[0]}},
		{"eq bool false", cond("ok", query.Eq, false), []oid.ID{id[1]}},
		{"eq nil", cond("n", query.Eq, nil), []oid.ID{id[3]}},
		{"eq nil missing", cond("ok", query.Eq, nil), []oid.ID{id[4], id[3]}},
		{"eq id", cond("_id", query.Eq, id[2]), []oid.ID{id[2]}},
		{"eq ref", cond("ref", query.Eq, id[5]), []oid.ID{id[0]}},
		{"number not string", cond("meta", query.Eq, int64(1)), []oid.ID{id[3]}},
		{"string not number", cond("meta", query.Eq, "1"), []oid.ID{id[2]}},
		{"any array element", cond("meta", query.Eq, int64(7)), []oid.ID{id[4]}},
		{"ne", cond("title", query.Ne, "beta"), []oid.ID{id[4], id[3], id[2], id[0]}},
		{"ne missing", cond("ok", query.Ne, true), []oid.ID{id[4], id[3], id[1]}},
		{"gt", cond("n", query.Gt, int64(2)), []oid.ID{id[4], id[2]}},
		{"gte", cond("n", query.Gte, int64(2)), []oid.ID{id[4], id[2], id[1]}},
		{"lt", cond("n", query.Lt, int64(2)), []oid.ID{id[0]}},
		{"lte float", cond("f", query.Lte, 2.0), []oid.ID{id[1], id[0]}},
		{"gt str", cond("title", query.Gt, "beta"), []oid.ID{id[3], id[2]}},
		{"in", cond("n", query.In, []any{int64(1), int64(3), "2"}), []oid.ID{id[2], id[0]}},
		{"in nil", cond("n", query.In, []any{nil, int64(10)}), []oid.ID{id[4], id[3]}},
		{"in strs", cond("title", query.In, []any{"alpha", "beta"}), []oid.ID{id[1], id[0]}},
		{"in empty", cond("title", query.In, []any{}), []oid.ID{}},
		{"nin", cond("n", query.Nin, []any{int64(1), int64(3)}), []oid.ID{id[4], id[3], id[1]}},
		{"and", &query.Query{Filter: query.And{
			&query.Cond{Path: "n", Op: query.Gte, Value: int64(1)},
			&query.Cond{Path: "ok", Op: query.Eq, Value: true},
		}}, []oid.ID{id[2], id[0]}},
		{"empty and", &query.Query{Filter: query.And{}}, []oid.ID{id[4], id[3], id[2], id[1], id[0]}},
		// list semantics
		{"list eq", cond("tags", query.Eq, "b"), []oid.ID{id[1], id[0]}},
		{"list ne", cond("tags", query.Ne, "b"), []oid.ID{id[4], id[3], id[2]}},
		{"list in", cond("tags", query.In, []any{"a", "c"}), []oid.ID{id[1], id[0]}},
		{"list nin", cond("tags", query.Nin, []any{"a", "c"}), []oid.ID{id[4], id[3], id[2]}},
		{"list all", cond("tags", query.All, []any{"b", "c"}), []oid.ID{id[1]}},
		{"list all empty", cond("tags", query.All, []any{}), []oid.ID{}},
		{"list whole", cond("tags", query.Eq, []any{"a", "b"}), []oid.ID{id[0]}},
		{"list eq nil", cond("tags", query.Eq, nil), []oid.ID{id[4], id[3]}},
		{"id list", cond("refs", query.Eq, id[4]), []oid.ID{id[0]}},
		{"list of dict field", cond("items.qty", query.Gt, int64(3)), []oid.ID{id[1]}},
		{"list of dict index", cond("items.0.name", query.Eq, "x"), []oid.ID{id[0]}},
		{"list of dict id", cond("items.by", query.Eq, id[5]), []oid.ID{id[0]}},
		{"locale", cond("loc.en_AE", query.Eq, "Green pear"), []oid.ID{id[1]}},
		{"or", &query.Query{Filter: query.Or{
			&query.Cond{Path: "title", Op: query.Eq, Value: "alpha"},
			&query.Cond{Path: "n", Op: query.Eq, Value: int64(10)},
		}}, []oid.ID{id[4], id[0]}},
		{"empty or", &query.Query{Filter: query.Or{}}, []oid.ID{}},
		{"bet", &query.Query{Filter: &query.Cond{Path: "n", Op: query.Bet, Value: int64(2), Value2: int64(3)}}, []oid.ID{id[2], id[1]}},
		{"regex", cond("title", query.Regex, "^(al|EP)"), []oid.ID{id[4], id[0]}},
		{"regex list", cond("tags", query.Regex, "C"), []oid.ID{id[1]}},
		{"search", &query.Query{Search: "apple"}, nil}, // order by relevance, checked below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readIDs(t, s, c, tt.q)
			if tt.want == nil {
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	got := readIDs(t, s, c, &query.Query{Search: "APPLE"})
	slices.SortFunc(got, func(a, b oid.ID) int { return slices.Compare(a[:], b[:]) })
	if want := []oid.ID{id[0], id[2]}; !slices.Equal(got, want) {
		t.Errorf("search: got %v, want %v", got, want)
	}
	if got := readIDs(t, s, c, &query.Query{Search: `"or" * NEAR(`}); len(got) != 0 {
		t.Errorf("search syntax: got %v", got)
	}
}

func TestReadPageSortAttrs(t *testing.T) {
	s := openTest(t)
	c := testCollection()
	id := seed(t, s, c)
	ctx := t.Context()
	res, err := s.Read(ctx, c, &query.Query{Sort: []query.Sort{{Path: "n"}}, Skip: 1, Limit: 2, Attrs: []string{"title", "loc.en_AE"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 5 {
		t.Errorf("total %d, want 5", res.Total)
	}
	want := []map[string]any{
		{"_id": id[0], "title": "alpha", "loc": map[string]any{"en_AE": "Red apple"}},
		{"_id": id[1], "title": "beta", "loc": map[string]any{"en_AE": "Green pear"}},
	}
	if !reflect.DeepEqual(res.Docs, want) {
		t.Errorf("docs %v, want %v", res.Docs, want)
	}
	// Sort desc: nulls last.
	got := readIDs(t, s, c, &query.Query{Sort: []query.Sort{{Path: "n", Desc: true}}})
	if want := []oid.ID{id[4], id[2], id[1], id[0], id[3]}; !slices.Equal(got, want) {
		t.Errorf("sort desc: got %v, want %v", got, want)
	}
	// Full documents: ids back as oid.ID.
	res, err = s.Read(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id[0]}})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Docs[0]
	if d["ref"] != id[5] || !reflect.DeepEqual(d["refs"], []any{id[4], id[5]}) ||
		d["items"].([]any)[0].(map[string]any)["by"] != id[5] || d["n"] != int64(1) || d["f"] != 1.5 {
		t.Errorf("doc %v", d)
	}
	if _, ok := d[deletedField]; ok {
		t.Errorf("doc has %s", deletedField)
	}
}

func TestInsertDuplicate(t *testing.T) {
	s := openTest(t)
	c := testCollection()
	id := seed(t, s, c)
	ctx := t.Context()
	err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "zeta"}, map[string]any{"_id": oid.New(), "title": "alpha"})
	var dup *store.DuplicateError
	if !errors.As(err, &dup) || !slices.Equal(dup.Attrs, []string{"title"}) {
		t.Fatalf("err %v, want duplicate title", err)
	}
	if got := readIDs(t, s, c, &query.Query{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "zeta"}}); len(got) != 0 {
		t.Errorf("partial insert kept %v", got)
	}
	err = s.Insert(ctx, c, map[string]any{"_id": id[0], "title": "eta"})
	if !errors.As(err, &dup) || !slices.Equal(dup.Attrs, []string{"_id"}) {
		t.Fatalf("err %v, want duplicate _id", err)
	}
	// Soft-deleted documents release their unique values.
	if _, err := s.Delete(ctx, c, &query.Query{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "alpha"}}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "alpha"}); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateDelete(t *testing.T) {
	s := openTest(t)
	c := testCollection()
	id := seed(t, s, c)
	ctx := t.Context()
	byID := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id[0]}}
	got, err := s.Update(ctx, c, byID, &store.Update{
		Set:    map[string]any{"title": "alpha2", "loc.fr_FR": "pomme", "ref": id[1]},
		Unset:  []string{"ok"},
		Add:    map[string]any{"n": int64(2), "f": int64(1)},
		Mul:    map[string]any{"missing": int64(3)},
		Append: map[string]store.Append{"tags": {Values: []any{"b", "z"}, Unique: true}, "refs": {Values: []any{id[4]}}},
		Remove: map[string][]any{"refs": {id[5]}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Matched, []oid.ID{id[0]}) || got.Modified != 1 {
		t.Errorf("updated %v", got)
	}
	res, err := s.Read(ctx, c, byID)
	if err != nil {
		t.Fatal(err)
	}
	d := res.Docs[0]
	want := map[string]any{
		"_id": id[0], "title": "alpha2", "n": int64(3), "f": 2.5, "missing": int64(0), "tags": []any{"a", "b", "z"},
		"ref": id[1], "refs": []any{id[4], id[4]}, "loc": map[string]any{"en_AE": "Red apple", "ar_AE": "تفاحة", "fr_FR": "pomme"},
		"items": []any{map[string]any{"qty": int64(2), "name": "x", "by": id[5]}},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("doc\n%v\nwant\n%v", d, want)
	}
	if got := readIDs(t, s, c, &query.Query{Search: "pomme"}); !slices.Equal(got, []oid.ID{id[0]}) {
		t.Errorf("search after update: %v", got)
	}
	// A unique violation changes nothing.
	_, err = s.Update(ctx, c, &query.Query{}, &store.Update{Set: map[string]any{"title": "same"}})
	var dup *store.DuplicateError
	if !errors.As(err, &dup) {
		t.Fatalf("err %v, want duplicate", err)
	}
	if got := readIDs(t, s, c, &query.Query{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "same"}}); len(got) != 0 {
		t.Errorf("partial update: %v", got)
	}
	// Limit and sort.
	upd, err := s.Update(ctx, c, &query.Query{Sort: []query.Sort{{Path: "n"}}, Limit: 1}, &store.Update{Set: map[string]any{"first": true}})
	if err != nil || !slices.Equal(upd.Matched, []oid.ID{id[3]}) {
		t.Errorf("limited update: %v %v", upd, err)
	}
	// Soft delete hides; hard delete removes, soft-deleted ones too.
	del, err := s.Delete(ctx, c, &query.Query{Filter: &query.Cond{Path: "n", Op: query.Gte, Value: int64(3)}}, false)
	if err != nil || !slices.Equal(del, []oid.ID{id[4], id[2], id[0]}) {
		t.Fatalf("soft delete: %v %v", del, err)
	}
	if got := readIDs(t, s, c, &query.Query{}); !slices.Equal(got, []oid.ID{id[3], id[1]}) {
		t.Errorf("after soft delete: %v", got)
	}
	if got := readIDs(t, s, c, &query.Query{Search: "apple"}); len(got) != 0 {
		t.Errorf("search after delete: %v", got)
	}
	del, err = s.Delete(ctx, c, &query.Query{}, true)
	if err != nil || len(del) != 5 {
		t.Fatalf("hard delete: %v %v", del, err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM "c_item"`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows left %d (%v), want none", n, err)
	}
}

func TestTx(t *testing.T) {
	s := openTest(t)
	c := testCollection()
	seed(t, s, c)
	ctx := t.Context()
	boom := errors.New("boom")
	err := s.Tx(ctx, func(ctx context.Context) error {
		if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "in tx"}); err != nil {
			return err
		}
		return s.Tx(ctx, func(ctx context.Context) error {
			res, err := s.Read(ctx, c, &query.Query{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "in tx"}})
			if err != nil {
				return err
			}
			if len(res.Docs) != 1 {
				t.Errorf("tx read sees %d docs", len(res.Docs))
			}
			return boom
		})
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if got := readIDs(t, s, c, &query.Query{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "in tx"}}); len(got) != 0 {
		t.Errorf("rolled back insert visible: %v", got)
	}
}

func TestFileAndPrivateMemory(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub", "dir", "data.db")
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := testCollection()
	id := seed(t, s, c)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, c, nil); !errors.Is(err, store.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	s, err = Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, s, c, &query.Query{Limit: 1}); !slices.Equal(got, []oid.ID{id[4]}) {
		t.Errorf("reopened: %v", got)
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q %v", mode, err)
	}
	// Two in-memory stores are separate databases.
	a, b := openTest(t), openTest(t)
	if err := a.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := a.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "only a"}); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, b, c, nil); len(got) != 0 {
		t.Errorf("b sees a's docs: %v", got)
	}
}

// TestOptions checks that Options reach every pooled connection.
func TestOptions(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name      string
		o         *Options
		sync, bus int
	}{
		{"default", nil, 1, 10000},
		{"durable", &Options{Durable: true, BusyTimeout: 1500 * time.Millisecond}, 2, 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, filepath.Join(t.TempDir(), "data.db"), tt.o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// Hold two connections so the pool opens a second one.
			c1, err := s.db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c1.Close()
			c2, err := s.db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			for _, c := range []*sql.Conn{c1, c2} {
				var syn, busy int
				if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syn); err != nil {
					t.Fatal(err)
				}
				if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
					t.Fatal(err)
				}
				if syn != tt.sync || busy != tt.bus {
					t.Errorf("synchronous %d busy_timeout %d, want %d %d", syn, busy, tt.sync, tt.bus)
				}
			}
		})
	}
}

func TestExplain(t *testing.T) {
	s := openTest(t)
	c := testCollection()
	p, err := s.Explain(c, &query.Query{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "x"}, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	want := `SELECT id, doc FROM "c_item" WHERE "c_item".deleted = 0 AND (json_extract(doc, '$.title') = ?) ORDER BY id DESC LIMIT ?`
	if p.SQL != want || !reflect.DeepEqual(p.Args, []any{"x", int64(5)}) {
		t.Errorf("plan\n%s %v\nwant\n%s", p.SQL, p.Args, want)
	}
}

// TestStableRowids checks that the full-text index still finds the right
// documents after VACUUM (which renumbers implicit rowids), and that Sync
// migrates a table of the first layout (id TEXT PRIMARY KEY).
func TestStableRowids(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "data.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := testCollection()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	words := []string{"red", "green", "blue", "pink"}
	ids := make([]oid.ID, 40)
	for i := range ids {
		ids[i] = oid.New()
		if err := s.Insert(ctx, c, map[string]any{"_id": ids[i], "title": fmt.Sprint("t", i), "loc": map[string]any{"en_AE": words[i%4]}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, c, &query.Query{Filter: &query.Cond{Path: "n", Op: query.Eq, Value: nil}, Limit: 15, Sort: []query.Sort{{Path: "_id"}}}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "VACUUM"); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		res, err := s.Read(ctx, c, &query.Query{Search: "green"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Docs) != 6 {
			t.Errorf("%s: %d docs found, want 6", when, len(res.Docs))
		}
		for _, d := range res.Docs {
			if d["loc"].(map[string]any)["en_AE"] != "green" {
				t.Errorf("%s: search found %v", when, d)
			}
		}
	}
	check("after vacuum")

	// The first layout: documents and search entries keyed by implicit
	// rowids.
	old := &schema.Collection{Name: "old", Attrs: c.Attrs, Unique: c.Unique, Search: c.Search}
	for _, st := range []string{
		`CREATE TABLE "c_old" (id TEXT PRIMARY KEY, doc TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)`,
		`INSERT INTO "c_old" (id, doc) VALUES ('65920080fae70221dce01bbd', '{"title":"a","loc":{"en_AE":"green"}}')`,
		`INSERT INTO "c_old" (id, doc, deleted) VALUES ('65920081fae70221dce01bbd', '{"title":"a"}', 1)`,
		`CREATE UNIQUE INDEX "limp_old_u_title" ON "c_old" (json_extract(doc, '$.title')) WHERE deleted = 0`,
		`CREATE VIRTUAL TABLE "f_old" USING fts5(content)`,
		`INSERT INTO "f_old" (rowid, content) VALUES (7, 'green')`,
		`INSERT INTO limp_meta (key, value) VALUES ('search:old', 'title,loc')`,
	} {
		if _, err := s.db.ExecContext(ctx, st); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
	for range 2 { // idempotent
		if err := s.Sync(ctx, old); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Read(ctx, old, &query.Query{Search: "green"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Docs) != 1 || res.Docs[0]["_id"] != oid.MustParse("65920080fae70221dce01bbd") {
		t.Errorf("migrated search: %v", res.Docs)
	}
	var dup *store.DuplicateError
	if err := s.Insert(ctx, old, map[string]any{"_id": oid.New(), "title": "a"}); !errors.As(err, &dup) {
		t.Errorf("migrated unique index: %v", err)
	}
	if got := readIDs(t, s, old, nil); len(got) != 1 {
		t.Errorf("migrated documents: %v", got)
	}
}
