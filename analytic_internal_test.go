package limp

import (
	"context"
	"testing"
)

// TestAnalyticsQueueBounded: a full queue drops events and counts them;
// recording never blocks, and nothing is queued after the queue closed.
func TestAnalyticsQueueBounded(t *testing.T) {
	a := New(Config{Name: "q"})
	a.modules["analytic"] = &Module{Name: "analytic"}
	a.analytics.q = make(chan analyticJob, 2) // no writer: nothing drains it
	for i := range 5 {
		a.RecordAnalytic(context.Background(), AnonUserID, AnalyticEvent{Event: "E", Subevent: int64(i)})
	}
	if got := len(a.analytics.q); got != 2 {
		t.Fatalf("queued %d, want 2", got)
	}
	if got := a.AnalyticsDropped(); got != 3 {
		t.Fatalf("dropped %d, want 3", got)
	}
	a.analytics.mu.Lock()
	a.analytics.closed = true
	a.analytics.mu.Unlock()
	a.RecordAnalytic(context.Background(), AnonUserID, AnalyticEvent{Event: "late"})
	if got := len(a.analytics.q); got != 2 || a.AnalyticsDropped() != 3 {
		t.Fatalf("after close: queued %d, dropped %d", got, a.AnalyticsDropped())
	}
}
