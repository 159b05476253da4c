package sqlite

import (
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
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
