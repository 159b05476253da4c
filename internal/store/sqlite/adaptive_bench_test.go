package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// BenchmarkAdaptive measures, in one run, on blog-like documents (views =
// i % 10, published in runs of 10, as bench/'s data) with examples/blog's
// anonymous read permission (status = "published" OR cat = X):
//   - list 20 newest with views = 3 + total (and views varying 0..9), the
//     side table read NOT INDEXED (adaptive=off) and through its adaptive
//     index (adaptive=on, built by the first reads);
//   - list 20 newest published + total (indexed) with its page and total
//     in one read transaction (readtx=on) and in two snapshots
//     (readtx=off): the cost of the snapshot;
//   - create, with and without the adaptive index (its write cost).
//
// Sizes: $LIMP_BENCH_SIZES (default 10000).
func BenchmarkAdaptive(b *testing.B) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cat := oid.NewAt(base.Add(-time.Hour))
	doc := func(i int) map[string]any {
		return map[string]any{
			"_id": oid.NewAt(base.Add(time.Duration(i) * time.Second)), "title": fmt.Sprintf("Title %d", i),
			"status": []string{"published", "draft"}[(i/10)%2], "created": base.Add(time.Duration(i*7919%100000) * time.Minute).Format("2006-01-02T15:04:05"),
			"views": int64(i % 10), "score": float64(i) / 3, "pinned": i%5 == 0, "cat": oid.NewAt(base),
			"tags": []any{"go", "db"}, "body": map[string]any{"lead": "محتوى محتوى محتوى محتوى محتوى محتوى محتوى", "words": int64(i)},
		}
	}
	perm := query.Or{&query.Cond{Path: "status", Op: query.Eq, Value: "published"}, &query.Cond{Path: "cat", Op: query.Eq, Value: cat}}
	list := func(f query.Node) *query.Query {
		return &query.Query{Filter: query.And{f, perm}, Sort: []query.Sort{{Path: "created", Desc: true}}, Limit: 20}
	}
	defer readTxOff.Store(false)
	for _, size := range benchSizes(b) {
		for _, mode := range []string{"off", "on"} {
			c := blogCollection()
			s := benchStore0(b, c, size, doc)
			if mode == "off" {
				s.adapt.max = 0
			}
			name := fmt.Sprintf("n=%d/adaptive=%s/", size, mode)
			// Past the thresholds: the index (adaptive=on) is there.
			for range s.adapt.scans {
				if _, err := s.Read(b.Context(), c, list(&query.Cond{Path: "views", Op: query.Eq, Value: int64(3)})); err != nil {
					b.Fatal(err)
				}
			}
			s.adapt.wg.Wait()
			for _, tt := range []struct {
				name string
				q    func(i int) *query.Query
			}{
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
			if mode == "on" {
				for _, off := range []bool{true, false} {
					b.Run(fmt.Sprintf("%slist_published/readtx=%v", name, !off), func(b *testing.B) {
						readTxOff.Store(off)
						defer readTxOff.Store(false)
						for b.Loop() {
							if _, err := s.Read(b.Context(), c, list(&query.Cond{Path: "status", Op: query.Eq, Value: "published"})); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
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

// BenchmarkReadTx measures the read transaction of a paged read on its
// own: a page of 5 + total over 200 documents (so that the statements
// cost little), on a file, with the page and total in one read
// transaction (readtx=on) and each in its own snapshot (readtx=off),
// alternated in one run.
func BenchmarkReadTx(b *testing.B) {
	c := blogCollection()
	s, err := Open(b.Context(), b.TempDir()+"/r.db", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(b.Context(), c); err != nil {
		b.Fatal(err)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var docs []map[string]any
	for i := range 200 {
		docs = append(docs, map[string]any{"_id": oid.NewAt(base.Add(time.Duration(i) * time.Second)), "title": fmt.Sprint(i), "status": "published", "views": int64(i % 10)})
	}
	if err := s.Insert(b.Context(), c, docs...); err != nil {
		b.Fatal(err)
	}
	q := &query.Query{Filter: &query.Cond{Path: "views", Op: query.Eq, Value: int64(3)}, Limit: 5}
	defer readTxOff.Store(false)
	for _, on := range []bool{true, false, true, false} {
		b.Run(fmt.Sprintf("readtx=%v", on), func(b *testing.B) {
			readTxOff.Store(!on)
			for b.Loop() {
				if _, err := s.Read(b.Context(), c, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
