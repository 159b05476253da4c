package limp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/limp-go/limp"
)

// BenchmarkWatchThroughRef measures re-checks through a reference
// (watch_join.go): posts referencing one cat, a watcher of
// {"cat.name": "news"} and one of {"title": "probe"}; each op renames the
// cat to "news" and back, so every post enters, then leaves. Reported:
// the time from the rename's reply to the watcher's last event, per
// referencing post, and the latency of a probe post's create event sent
// while the re-check runs against the same probe with no re-check
// running, in the same run ("feed held" = how long the collection's own
// changes wait: at most one page of the re-check). BENCHMARKS.md, "Live
// queries through references".
func BenchmarkWatchThroughRef(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("posts=%d", n), func(b *testing.B) {
			s := joinApp(b, "")
			ctx := context.Background()
			sys := s.App.SystemSession()
			inv := func(ep string, q []any, doc limp.M) string {
				r, err := s.App.Invoke(ctx, sys, ep, limp.NewQuery(q...), doc)
				if err != nil {
					b.Fatal(err)
				}
				if d, ok := r.Args["docs"].([]any); ok && len(d) > 0 {
					if m, ok := d[0].(limp.M); ok {
						return fmt.Sprint(m["_id"])
					}
					if m, ok := d[0].(map[string]any); ok {
						return fmt.Sprint(m["_id"])
					}
				}
				return ""
			}
			sec := inv("jsec/create", nil, limp.M{"name": "s", "open": true})
			cat := inv("jcat/create", nil, limp.M{"name": "misc", "section": sec})
			other := inv("jcat/create", nil, limp.M{"name": "other", "section": sec})
			for i := range n {
				inv("jpost/create", nil, limp.M{"title": fmt.Sprint("p", i), "status": "published", "cat": cat})
			}
			aw := dial(b, s.WS)
			signIn(b, aw, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
			aw.send("jpost/watch", []any{map[string]any{"cat.name": "news"}}, nil)
			must(b, aw.recv())
			pw := dial(b, s.WS)
			signIn(b, pw, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
			pw.send("jpost/watch", []any{map[string]any{"title": "probe"}}, nil)
			must(b, pw.recv())
			probe := func() time.Duration {
				inv("jpost/create", nil, limp.M{"title": "probe", "status": "published", "cat": other})
				t1 := time.Now()
				if e := must(b, pw.recv()); e.Args["oper"] != "create" {
					b.Fatalf("probe: %v", e.Args)
				}
				return time.Since(t1)
			}
			var per, idle, busy time.Duration
			b.ResetTimer()
			for range b.N {
				for _, name := range []string{"news", "misc"} {
					idle += probe()
					t0 := time.Now()
					inv("jcat/update", []any{limp.M{"_id": cat}}, limp.M{"name": name})
					busy += probe()
					for range n {
						if e := must(b, aw.recv()); e.Status != 200 {
							b.Fatalf("event: %v", e)
						}
					}
					per += time.Since(t0)
				}
			}
			ops := time.Duration(2 * b.N)
			b.ReportMetric(float64((per/ops).Microseconds())/float64(n), "µs/post-rechecked")
			b.ReportMetric(float64((per / ops).Milliseconds()), "ms/rename")
			b.ReportMetric(float64((idle / ops).Microseconds()), "µs-probe-idle")
			b.ReportMetric(float64((busy / ops).Microseconds()), "µs-probe-during-recheck")
		})
	}
}
