package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// TestGroupCommit runs concurrent inserts, a quarter of them duplicates
// of another's title: each duplicate alone fails (with a DuplicateError),
// every other insert is stored, and a cancelled caller's insert is not.
func TestGroupCommit(t *testing.T) {
	for _, file := range []bool{false, true} {
		t.Run(fmt.Sprint("file=", file), func(t *testing.T) {
			ctx := t.Context()
			path := ":memory:"
			if file {
				path = t.TempDir() + "/g.db"
			}
			s, err := Open(ctx, path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c := blogCollection()
			if err := s.Sync(ctx, c); err != nil {
				t.Fatal(err)
			}
			const writers, each = 8, 40
			var mu sync.Mutex
			okIDs := map[oid.ID]bool{}
			dups := 0
			var wg sync.WaitGroup
			for g := range writers {
				wg.Go(func() {
					for n := range each {
						title := fmt.Sprintf("g%d-%d", g, n)
						if n%4 == 3 {
							title = fmt.Sprintf("g%d-%d", g, n-1) // a duplicate
						}
						id := oid.New()
						err := s.Insert(ctx, c, map[string]any{"_id": id, "title": title, "views": int64(n)})
						var dup *store.DuplicateError
						mu.Lock()
						switch {
						case err == nil:
							okIDs[id] = true
						case errors.As(err, &dup):
							dups++
						default:
							t.Error(err)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if want := writers * each / 4; dups != want || len(okIDs) != writers*each-want {
				t.Errorf("%d stored, %d duplicates; want %d, %d", len(okIDs), dups, writers*each-want, want)
			}
			res, err := s.Read(ctx, c, &query.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Docs) != len(okIDs) {
				t.Errorf("%d documents, %d acknowledged", len(res.Docs), len(okIDs))
			}
			for _, d := range res.Docs {
				if !okIDs[d["_id"].(oid.ID)] {
					t.Errorf("unacknowledged document %v stored", d["_id"])
				}
			}
			// A caller whose context ended writes nothing.
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.Insert(cctx, c, map[string]any{"_id": oid.New(), "title": "cancelled"}); err == nil {
				t.Error("insert with a cancelled context succeeded")
			}
			time.Sleep(10 * time.Millisecond)
			if r, err := s.Read(ctx, c, &query.Query{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "cancelled"}}); err != nil || r.Total != 0 {
				t.Errorf("cancelled insert: %v, %v", r, err)
			}
		})
	}
}

// BenchmarkCreateConcurrent measures creates/s with 8 concurrent writers
// on a file, with group commit and without (group=off), with the default
// durability and with Options.Durable, in one run.
func BenchmarkCreateConcurrent(b *testing.B) {
	for _, durable := range []bool{false, true} {
		for _, off := range []bool{true, false} {
			name := fmt.Sprintf("durable=%v/group=%v", durable, map[bool]string{true: "off", false: "on"}[off])
			b.Run(name, func(b *testing.B) {
				s, err := Open(b.Context(), b.TempDir()+"/c.db", &Options{Durable: durable})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				c := blogCollection()
				if err := s.Sync(b.Context(), c); err != nil {
					b.Fatal(err)
				}
				groupOff.Store(off)
				defer func() { groupOff.Store(false) }()
				b.SetParallelism(4) // 8 writers on 2 cores
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						id := oid.New()
						if err := s.Insert(b.Context(), c, map[string]any{"_id": id, "title": id.Hex(), "status": "draft", "views": int64(1)}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
			})
		}
	}
}
