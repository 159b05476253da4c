package sqlite

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// copyOldLayout copies oldLayoutFile to a new file in dir.
func copyOldLayout(t testing.TB, dir string) string {
	t.Helper()
	src, err := os.Open(oldLayoutFile)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(dir, "old.db")
	dst, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMigrateOldLayout opens a database of the JSON text layout
// (testdata/oldlayout.db), syncs it (creating the typed columns) and
// checks every document, the indexes, the unique constraint, and that
// every query answers as over the documents themselves.
func TestMigrateOldLayout(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, copyOldLayout(t, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := blogCollection()
	var before int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name = 'k_blog'").Scan(&before); err != nil || before != 0 {
		t.Fatalf("old layout file already has typed columns (%d, %v)", before, err)
	}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	var rows, krows int
	if err := s.db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM c_blog), (SELECT count(*) FROM k_blog)").Scan(&rows, &krows); err != nil {
		t.Fatal(err)
	}
	want := oldLayoutDocs()["blog"]
	if rows != len(want) || krows != rows {
		t.Fatalf("%d rows, %d typed rows, want %d", rows, krows, len(want))
	}
	// Every live document, whole.
	res, err := s.Read(ctx, c, &query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[oid.ID]map[string]any{}
	for _, d := range res.Docs {
		got[d["_id"].(oid.ID)] = d
	}
	live := 0
	for _, w := range want {
		if w["__deleted"] == true {
			if _, ok := got[w["_id"].(oid.ID)]; ok {
				t.Errorf("soft-deleted %v is visible", w["_id"])
			}
			continue
		}
		live++
		if g := got[w["_id"].(oid.ID)]; !reflect.DeepEqual(g, w) {
			t.Errorf("document %v:\n got %#v\nwant %#v", w["_id"], g, w)
		}
	}
	if len(got) != live {
		t.Errorf("%d live documents, want %d", len(got), live)
	}
	// Indexes.
	for _, name := range []string{"limp_blog_u_title", "limp_blog_i_status_created_desc", "x_blog.tags", "k_blog_ins", "k_blog_upd", "k_blog_del"} {
		var n int
		if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name = ?", name).Scan(&n); err != nil || n != 1 {
			t.Errorf("%s: %d (%v)", name, n, err)
		}
	}
	// Queries on typed columns answer as json_extract over the documents.
	cond := func(p string, op query.Op, v any) query.Node { return &query.Cond{Path: p, Op: op, Value: v} }
	for _, f := range []query.Node{
		cond("views", query.Eq, int64(3)), cond("views", query.Eq, nil), cond("views", query.Eq, "3"),
		cond("views", query.Ne, int64(3)), cond("views", query.In, []any{int64(1), "3", nil}), cond("views", query.Gte, int64(4)),
		cond("score", query.Gt, 5.5), cond("score", query.Eq, int64(1)), cond("pinned", query.Eq, true), cond("pinned", query.Ne, false),
		cond("cat", query.Eq, oldLayoutDocs()["blog"][1]["cat"]), cond("body.lead", query.Eq, nil),
		cond("body.words", query.Lt, int64(200)), cond("body.lead", query.Regex, "^lead é 1"),
		query.Or{cond("views", query.Eq, int64(2)), cond("status", query.Eq, "draft")},
	} {
		q := &query.Query{Filter: f, Sort: []query.Sort{{Path: "created", Desc: true}}, Limit: 7}
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
			t.Errorf("%+v: typed columns give %d docs of %d, documents %d of %d", f, len(a.Docs), a.Total, len(b.Docs), b.Total)
		}
	}
	// The unique index: a live title is refused, a soft-deleted one not.
	var dup *store.DuplicateError
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "post 00"}); !errors.As(err, &dup) {
		t.Errorf("duplicate title: %v", err)
	}
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "post 06", "views": int64(3)}); err != nil {
		t.Errorf("title of a soft-deleted document: %v", err)
	}
	// Writes keep the typed columns in step.
	n, err := s.Read(ctx, c, &query.Query{Filter: cond("views", query.Eq, int64(3))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, c, &query.Query{Filter: cond("title", query.Eq, "post 06")}, &store.Update{Set: map[string]any{"views": int64(4)}}); err != nil {
		t.Fatal(err)
	}
	m, err := s.Read(ctx, c, &query.Query{Filter: cond("views", query.Eq, int64(3))})
	if err != nil {
		t.Fatal(err)
	}
	if m.Total != n.Total-1 {
		t.Errorf("after update: %d with views 3, want %d", m.Total, n.Total-1)
	}
	// A second Sync keeps everything.
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM c_blog), (SELECT count(*) FROM k_blog)").Scan(&rows, &krows); err != nil || krows != rows || rows != len(want)+1 {
		t.Errorf("after second sync: %d rows, %d typed (%v)", rows, krows, err)
	}
}
