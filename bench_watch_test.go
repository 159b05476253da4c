package limp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/limp-go/limp"
)

// BenchmarkWatchFanout measures one create with 1,000 anonymous watchers
// of the collection (20 connections × 50 watches, half of them watching
// drafts that never match): the time from sending the create to the last
// watcher's event, against a plain create with no watcher in the same
// run (BENCHMARKS.md, "Live queries").
func BenchmarkWatchFanout(b *testing.B) {
	for _, watchers := range []int{0, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", watchers), func(b *testing.B) {
			s := watchApp(b)
			writer := dial(b, s.WS)
			const perConn = 50
			var conns []*wsClient
			matching := 0
			for i := 0; i < watchers; i += perConn {
				w := dial(b, s.WS)
				for j := range perConn {
					var q any
					if j%2 == 1 {
						// never matches: a draft query under the published
						// query_mod.
						q = []any{map[string]any{"status": "draft"}}
					} else {
						matching++
					}
					w.send("note/watch", q, nil)
					if r := w.recv(); r.Status != 200 {
						b.Fatalf("watch: %v", r)
					}
				}
				conns = append(conns, w)
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				r := writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "t"},
					"permalink": fmt.Sprintf("p%d", i), "status": "published"})
				if r.Status != 200 {
					b.Fatalf("create: %v", r)
				}
				for _, w := range conns {
					for range perConn / 2 {
						if e := w.recv(); e.Args["oper"] != "create" {
							b.Fatalf("event: %v", e)
						}
					}
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/write-delivered")
			b.ReportMetric(float64(matching), "matching-watchers")
			if watchers > 0 && limp.WatchCount(s.App) != watchers {
				b.Fatalf("watches = %d", limp.WatchCount(s.App))
			}
		})
	}
}
