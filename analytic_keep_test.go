package limp_test

import (
	"context"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// TestAnalyticsKeep: one analytics doc keeps only the newest
// Config.AnalyticsKeep occurrences while its score sums every one, so a
// busy (user, event) doc stops growing; a negative AnalyticsKeep keeps all.
func TestAnalyticsKeep(t *testing.T) {
	for _, tc := range []struct {
		keep, want int
	}{{5, 5}, {-1, 40}} {
		app := limp.New(limptest.Config(t, noQuotas(limp.Config{Name: "keep", AnalyticsKeep: tc.keep})))
		app.Register("test", noteModule())
		if err := app.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			app.RecordAnalytic(context.Background(), limp.AdminUserID, limp.AnalyticEvent{Event: "BUSY", Args: limp.M{"i": int64(i)}, Score: 1})
			if i%7 == 0 { // several batches, not one
				time.Sleep(2 * time.Millisecond)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var docs []any
		for ctx.Err() == nil { // the writer is asynchronous: wait for the score to reach 40
			r, err := app.Invoke(t.Context(), app.SystemSession(), "analytic/read", limp.NewQuery(limp.M{"event": "BUSY"}), nil)
			if err != nil {
				t.Fatal(err)
			}
			docs = r.Args["docs"].([]any)
			if len(docs) == 1 && docs[0].(map[string]any)["score"] == int64(40) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if len(docs) != 1 {
			t.Fatalf("keep %d: docs %v", tc.keep, docs)
		}
		d := docs[0].(map[string]any)
		occ := d["occurrences"].([]any)
		if d["score"] != int64(40) || len(occ) != tc.want {
			t.Fatalf("keep %d: score %v, %d occurrences; want 40 and %d", tc.keep, d["score"], len(occ), tc.want)
		}
		if last := occ[len(occ)-1].(map[string]any)["args"].(map[string]any)["i"]; last != int64(39) {
			t.Fatalf("keep %d: last occurrence %v, want the newest (39)", tc.keep, last)
		}
		if first := occ[0].(map[string]any)["args"].(map[string]any)["i"]; first != int64(40-tc.want) {
			t.Fatalf("keep %d: first occurrence %v, want %d", tc.keep, first, 40-tc.want)
		}
		_ = app.Shutdown(context.Background())
	}
}
