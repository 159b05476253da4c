package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
)

// BenchmarkCreateCheckpoint measures creates/s with 8 concurrent writers
// on a file, group commit on, with SQLite's automatic checkpoint inside
// the commit (ckpt=inline, the baseline) and with the store's
// checkpointer (ckpt=background), for both durabilities, in one run.
// Run with -cpu 1 to see the server of bench/run (pinned to one core).
func BenchmarkCreateCheckpoint(b *testing.B) {
	for _, durable := range []bool{false, true} {
		for _, inline := range []bool{true, false} {
			name := fmt.Sprintf("durable=%v/ckpt=%s", durable, map[bool]string{true: "inline", false: "background"}[inline])
			b.Run(name, func(b *testing.B) {
				ckptOff.Store(inline)
				s, err := Open(b.Context(), b.TempDir()+"/c.db", &Options{Durable: durable})
				ckptOff.Store(false)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				c := blogCollection()
				if err := s.Sync(b.Context(), c); err != nil {
					b.Fatal(err)
				}
				b0, i0 := s.com.batches.Load(), s.com.inserts.Load()
				b.SetParallelism(8)
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						id := oid.New()
						if err := s.Insert(b.Context(), c, map[string]any{"_id": id, "title": id.Hex() + " a title of some words", "status": "draft",
							"views": int64(1), "tags": []any{"a", "b"}, "created": "2026-11-30T01:00:00"}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
				if n := s.com.batches.Load() - b0; n > 0 {
					b.ReportMetric(float64(s.com.inserts.Load()-i0)/float64(n), "creates/commit")
				}
			})
		}
	}
}
