package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// BenchmarkSidePlan measures lists of 20 newest + total on blog-like
// documents whose filter carries examples/blog's read permission for an
// anonymous caller (status = "published" OR cat = X, standing for user =
// $user), with the main table's plan (plan=main), the side-only plan
// without the mirrored indexes (plan=side_noidx) and with them
// (plan=side), and creates with and without the mirrored indexes, in one
// run. Sizes: $LIMP_BENCH_SIZES (default 10000).
func BenchmarkSidePlan(b *testing.B) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	statuses := []string{"published", "draft", "published", "archived"}
	cat := oid.NewAt(base.Add(-time.Hour))
	doc := func(i int) map[string]any {
		return map[string]any{
			"_id": oid.NewAt(base.Add(time.Duration(i) * time.Second)), "title": fmt.Sprintf("Title %d", i),
			"status": statuses[i%len(statuses)], "created": base.Add(time.Duration(i*7919%100000) * time.Minute).Format("2006-01-02T15:04:05"),
			"views": int64(i % 10), "score": float64(i) / 3, "pinned": i%5 == 0, "cat": oid.NewAt(base),
			"tags": []any{"go", "db"}, "body": map[string]any{"lead": "محتوى محتوى محتوى محتوى محتوى محتوى محتوى", "words": int64(i)},
		}
	}
	perm := query.Or{&query.Cond{Path: "status", Op: query.Eq, Value: "published"}, &query.Cond{Path: "cat", Op: query.Eq, Value: cat}}
	list := func(f query.Node) *query.Query {
		return &query.Query{Filter: query.And{f, perm}, Sort: []query.Sort{{Path: "created", Desc: true}}, Limit: 20}
	}
	defer sidePlanOff.Store(false)
	defer sideIndexesOff.Store(false)
	for _, size := range benchSizes(b) {
		for _, plan := range []string{"main", "side_noidx", "side"} {
			sidePlanOff.Store(plan == "main")
			sideIndexesOff.Store(plan == "side_noidx")
			c := blogCollection()
			s := benchStore0(b, c, size, doc)
			name := fmt.Sprintf("n=%d/plan=%s/", size, plan)
			for _, tt := range []struct {
				name string
				q    func(i int) *query.Query
			}{
				{"list_published", func(int) *query.Query {
					return list(&query.Cond{Path: "status", Op: query.Eq, Value: "published"})
				}},
				{"list_views", func(int) *query.Query { return list(&query.Cond{Path: "views", Op: query.Eq, Value: int64(3)}) }},
				{"list_views_varying", func(i int) *query.Query {
					return list(&query.Cond{Path: "views", Op: query.Eq, Value: int64(i % 10)})
				}},
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
					if err := s.Insert(b.Context(), c, doc(next)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
