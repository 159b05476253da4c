package sqlite

import (
	"reflect"
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// TestMigrateFirstSideLayout opens a database whose side table has the
// first layout (search attrs in it, no mirrored indexes: what Sync made
// before the side-only plan covered indexed paths), syncs it and checks
// that Sync rebuilt the side table in its transaction (columns, mirrored
// index, one row per document) and that reads through the side-only plan
// answer as over the documents themselves.
func TestMigrateFirstSideLayout(t *testing.T) {
	ctx := t.Context()
	path := copyOldLayout(t, t.TempDir())
	c := blogCollection()
	sideLayoutV1.Store(true)
	s, err := Open(ctx, path, nil)
	if err != nil {
		sideLayoutV1.Store(false)
		t.Fatal(err)
	}
	err = s.Sync(ctx, c)
	sideLayoutV1.Store(false)
	if err != nil {
		t.Fatal(err)
	}
	has := func(s *Store, sql string, args ...any) bool {
		var n int
		if err := s.db.QueryRowContext(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	const col = `SELECT count(*) FROM pragma_table_info('k_blog') WHERE name = ?`
	const idx = `SELECT count(*) FROM sqlite_master WHERE name = 'k_blog_i_status_created_desc'`
	if !has(s, col, "a:title") || has(s, idx) {
		t.Fatal("the first side layout was not made")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	colCache.Delete(c)

	s, err = Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	if has(s, col, "a:title") || !has(s, col, "a:status") || !has(s, idx) {
		t.Error("side table not rebuilt: search attr kept, indexed path or mirrored index missing")
	}
	if has(s, `SELECT (SELECT count(*) FROM c_blog) - (SELECT count(*) FROM k_blog)`) ||
		has(s, `SELECT count(*) FROM c_blog LEFT JOIN k_blog USING (rid) WHERE k_blog.rid IS NULL OR k_blog."a:status" IS NOT json_extract(c_blog.doc, '$.status')`) {
		t.Error("side table rows do not match the documents")
	}
	cond := func(p string, op query.Op, v any) *query.Cond { return &query.Cond{Path: p, Op: op, Value: v} }
	perm := query.Or{cond("status", query.Eq, "published"), cond("cat", query.Eq, oldLayoutDocs()["blog"][1]["cat"])}
	sides := 0
	for _, f := range []query.Node{
		query.And{cond("views", query.Eq, int64(3)), perm}, query.And{cond("status", query.Eq, "published"), perm},
		query.And{cond("views", query.Eq, nil), perm}, query.And{cond("status", query.In, []any{"draft", nil}), perm},
		query.Or{cond("status", query.Ne, "draft"), cond("pinned", query.Eq, true)}, query.And{cond("score", query.Gt, 1.5), perm},
	} {
		for _, sort := range [][]query.Sort{{{Path: "created", Desc: true}}, {{Path: "status"}, {Path: "views", Desc: true}}} {
			q := &query.Query{Filter: f, Sort: sort, Limit: 7}
			p, err := Compile(c, q)
			if err != nil {
				t.Fatal(err)
			}
			if p.Side != "" {
				sides++
			}
			a, err := s.Read(ctx, c, q)
			if err != nil {
				t.Fatalf("%+v: %v", f, err)
			}
			columnsOff.Store(true)
			b, err := s.Read(ctx, c, q)
			columnsOff.Store(false)
			if err != nil {
				t.Fatal(err)
			}
			if a.Total != b.Total || !reflect.DeepEqual(a.Docs, b.Docs) {
				t.Errorf("%+v %v: side table gives %d docs of %d, documents %d of %d", f, sort, len(a.Docs), a.Total, len(b.Docs), b.Total)
			}
		}
	}
	if sides == 0 {
		t.Error("no read took the side-only plan")
	}
	// Writes after the migration keep the side table in step.
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "new", "status": "published", "views": int64(3)}); err != nil {
		t.Fatal(err)
	}
	if has(s, `SELECT (SELECT count(*) FROM c_blog) - (SELECT count(*) FROM k_blog)`) {
		t.Error("insert after migration missed the side table")
	}
}
