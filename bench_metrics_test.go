package limp_test

import (
	"testing"

	"github.com/limp-go/limp"
)

// BenchmarkMetricsCall measures a custom method call (ping/echo, one at a
// time over the websocket) with metrics off (the baseline) and on
// (Config.MetricsPath): the cost of counting calls and observing their
// latency. Run with -count to interleave the two.
func BenchmarkMetricsCall(b *testing.B) {
	for _, tc := range []struct {
		name string
		path string
	}{{"off", ""}, {"on", "/metrics"}} {
		b.Run(tc.name, func(b *testing.B) {
			s := testApp(b, limp.Config{MetricsPath: tc.path})
			c := dial(b, s.WS)
			doc := map[string]any{"a": 1}
			b.ResetTimer()
			for range b.N {
				if r := c.call("ping/echo", nil, doc); r.Status != 200 {
					b.Fatalf("echo = %+v", r)
				}
			}
		})
	}
}
