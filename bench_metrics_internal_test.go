package limp

import (
	"testing"
	"time"
)

// BenchmarkObserveCall measures the metrics hook alone, per call: off (a
// nil check) and on (a counter and a histogram by endpoint).
func BenchmarkObserveCall(b *testing.B) {
	b.Run("off", func(b *testing.B) {
		a := New(Config{Name: "b"})
		for range b.N {
			a.observeCall("blog/read", 200, a.metricsStart())
		}
	})
	b.Run("on", func(b *testing.B) {
		a := New(Config{Name: "b"})
		a.metrics = a.newMetrics()
		var start time.Time
		for range b.N {
			start = a.metricsStart()
			a.observeCall("blog/read", 200, start)
		}
	})
}
