package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// BenchmarkBlog measures the store on examples/blog-like documents, with
// typed columns (layout=columns) and without (layout=old, the JSON text
// layout) in one run: read by _id, list 20 newest published + total
// (indexed), list 20 newest with views = 3 (10%, unindexed) + total,
// create. Sizes: $LIMP_BENCH_SIZES (default 10000).
func BenchmarkBlog(b *testing.B) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	statuses := []string{"published", "draft", "published", "archived"}
	doc := func(i int) map[string]any {
		return map[string]any{
			"_id": oid.NewAt(base.Add(time.Duration(i) * time.Second)), "title": fmt.Sprintf("Title %d", i),
			"status": statuses[i%len(statuses)], "created": base.Add(time.Duration(i*7919%100000) * time.Minute).Format("2006-01-02T15:04:05"),
			"views": int64(i % 10), "score": float64(i) / 3, "pinned": i%5 == 0, "cat": oid.NewAt(base),
			"tags": []any{"go", "db"}, "body": map[string]any{"lead": "محتوى محتوى محتوى محتوى محتوى محتوى محتوى", "words": int64(i)},
		}
	}
	for _, size := range benchSizes(b) {
		for _, off := range []bool{false, true} {
			columnsOff.Store(off)
			c := blogCollection()
			s := benchStore0(b, c, size, doc)
			name := fmt.Sprintf("n=%d/layout=columns/", size)
			if off {
				name = fmt.Sprintf("n=%d/layout=old/", size)
			}
			list := func(f query.Node) *query.Query {
				return &query.Query{Filter: f, Sort: []query.Sort{{Path: "created", Desc: true}}, Limit: 20}
			}
			for _, tt := range []struct {
				name string
				q    func(i int) *query.Query
			}{
				{"read_id", func(i int) *query.Query {
					return &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: doc(i * 7 % size)["_id"]}}
				}},
				{"list_published", func(int) *query.Query {
					return list(&query.Cond{Path: "status", Op: query.Eq, Value: "published"})
				}},
				{"list_views", func(int) *query.Query { return list(&query.Cond{Path: "views", Op: query.Eq, Value: int64(3)}) }},
			} {
				b.Run(name+tt.name, func(b *testing.B) {
					i := 0
					for b.Loop() {
						i++
						if _, err := s.Read(b.Context(), c, tt.q(i)); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			next := size
			b.Run(name+"create", func(b *testing.B) {
				for b.Loop() {
					next++
					i := next
					if err := s.Insert(b.Context(), c, doc(i)); err != nil {
						b.Fatal(err)
					}
				}
			})
			columnsOff.Store(false)
		}
	}
}

func benchStore0(b *testing.B, c *schema.Collection, n int, doc func(int) map[string]any) *Store {
	b.Helper()
	s, err := Open(b.Context(), ":memory:", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Sync(b.Context(), c); err != nil {
		b.Fatal(err)
	}
	docs := make([]map[string]any, n)
	for i := range docs {
		docs[i] = doc(i)
	}
	if err := s.Insert(b.Context(), c, docs...); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkPrepared measures reads by _id, lists and creates with the
// prepared-statement cache and without (prepared=off), in one run.
func BenchmarkPrepared(b *testing.B) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	doc := func(i int) map[string]any {
		return map[string]any{"_id": oid.NewAt(base.Add(time.Duration(i) * time.Second)), "title": fmt.Sprintf("Title %d", i),
			"status": "published", "created": base.Add(time.Duration(i) * time.Minute).Format("2006-01-02T15:04:05"), "views": int64(i % 10)}
	}
	c := blogCollection()
	s := benchStore0(b, c, 10000, doc)
	next := 10000
	for _, off := range []bool{true, false} {
		name := "prepared=on/"
		if off {
			name = "prepared=off/"
		}
		stmtsOff.Store(off)
		b.Run(name+"read_id", func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				q := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: doc(i * 7 % 10000)["_id"]}}
				if _, err := s.Read(b.Context(), c, q); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"list_published", func(b *testing.B) {
			q := &query.Query{Filter: &query.Cond{Path: "status", Op: query.Eq, Value: "published"}, Sort: []query.Sort{{Path: "created", Desc: true}}, Limit: 20}
			for b.Loop() {
				if _, err := s.Read(b.Context(), c, q); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"create", func(b *testing.B) {
			for b.Loop() {
				next++
				if err := s.Insert(b.Context(), c, doc(next)); err != nil {
					b.Fatal(err)
				}
			}
		})
		stmtsOff.Store(false)
	}
}
