package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// BenchmarkWrongTyped measures what values of other types than declared
// cost (mixed.go), in one run on examples/blog-like documents:
// store=typed has every value of its declared type, store=mixed has 1% of
// the posts with views holding a boolean or a list. read_overhead is the
// per-read work of knowing the mixed attrs (compile with it against
// compile without), insert_check the per-document check of Insert,
// sync_scan Sync's scan of every document; list_published (an indexed
// condition on a conforming attr) and list_views (views = 3, unindexed)
// with the total, as BenchmarkBlog.
func BenchmarkWrongTyped(b *testing.B) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	statuses := []string{"published", "draft", "published", "archived"}
	doc := func(i int, mixed bool) map[string]any {
		d := map[string]any{
			"_id": oid.NewAt(base.Add(time.Duration(i) * time.Second)), "title": fmt.Sprintf("Title %d", i),
			"status": statuses[i%len(statuses)], "created": base.Add(time.Duration(i*7919%100000) * time.Minute).Format("2006-01-02T15:04:05"),
			"views": int64(i % 10), "score": float64(i) / 3, "pinned": i%5 == 0, "cat": oid.NewAt(base),
			"tags": []any{"go", "db"}, "body": map[string]any{"lead": "محتوى محتوى محتوى محتوى محتوى محتوى محتوى", "words": int64(i)},
		}
		if mixed && i%100 == 0 {
			d["views"] = []any{true, []any{int64(3)}}[i/100%2]
		}
		return d
	}
	list := func(f query.Node) *query.Query {
		return &query.Query{Filter: f, Sort: []query.Sort{{Path: "created", Desc: true}}, Limit: 20}
	}
	published := list(&query.Cond{Path: "status", Op: query.Eq, Value: "published"})
	views := list(&query.Cond{Path: "views", Op: query.Eq, Value: int64(3)})
	for _, size := range benchSizes(b) {
		for _, mixed := range []bool{false, true} {
			c := blogCollection()
			s := benchStore0(b, c, size, func(i int) map[string]any { return doc(i, mixed) })
			name := fmt.Sprintf("n=%d/store=typed/", size)
			if mixed {
				name = fmt.Sprintf("n=%d/store=mixed/", size)
			}
			if !mixed {
				b.Run(name+"read_overhead/without", func(b *testing.B) {
					for b.Loop() {
						if _, err := compile(c, published, false, nil); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run(name+"read_overhead/with", func(b *testing.B) {
					for b.Loop() {
						if _, err := compile(c, published, false, s.mixedFor(b.Context(), c, false)); err != nil {
							b.Fatal(err)
						}
					}
				})
				d := doc(1, false)
				b.Run(name+"insert_check", func(b *testing.B) {
					for b.Loop() {
						if len(mixedAttrs(c, d)) != 0 {
							b.Fatal("mixed")
						}
					}
				})
				b.Run(name+"sync_scan", func(b *testing.B) {
					for b.Loop() {
						if _, err := scanMixed(b.Context(), s.db, c); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			for _, tt := range []struct {
				name string
				q    *query.Query
			}{{"list_published", published}, {"list_views", views}} {
				b.Run(name+tt.name, func(b *testing.B) {
					for b.Loop() {
						if _, err := s.Read(b.Context(), c, tt.q); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
