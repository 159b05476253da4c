package limp_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/limp-go/limp"
)

// BenchmarkUpdateDiff: the cost of the audit log on a one-document update
// (diff off vs on: a read of the changed attrs before and after, and a
// diff insert, in the update's transaction), through App.Invoke on the
// embedded in-memory store.
func BenchmarkUpdateDiff(b *testing.B) {
	plain := noteModule()
	audited := limp.NewModule[SvcNote]("audited", limp.Methods{
		"read": {Permissions: limp.Perms("read")}, "create": {Permissions: limp.Perms("create")},
		"update": {Permissions: limp.Perms("update")},
	})
	audited.Diff = true
	s := startApp(b, noQuotas(limp.Config{Name: "benchdiff"}), plain, audited)
	ctx, sys := b.Context(), s.App.SystemSession()
	for _, mod := range []string{"note", "audited"} {
		r, err := s.App.Invoke(ctx, sys, mod+"/create", nil, limp.M{"title": mod})
		if err != nil {
			b.Fatal(err)
		}
		id := r.Args["docs"].([]any)[0].(map[string]any)["_id"]
		q := limp.NewQuery(limp.M{"_id": id})
		b.Run(mod, func(b *testing.B) {
			for i := range b.N {
				if _, err := s.App.Invoke(ctx, sys, mod+"/update", q, limp.M{"rank": int64(i + 1)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAnalyticsRecord: the call-path cost of recording an event
// (queueing only; the write happens on the analytics goroutine), against
// the same internal read without it.
func BenchmarkAnalyticsRecord(b *testing.B) {
	s := startApp(b, noQuotas(limp.Config{Name: "benchan", AnalyticsQueue: 1 << 20}), noteModule())
	ctx, sys := b.Context(), s.App.SystemSession()
	ev := limp.AnalyticEvent{Event: "E", Subevent: "s", Args: limp.M{"n": int64(1)}}
	q := limp.NewQuery(limp.M{"$limit": 1})
	for _, record := range []bool{false, true} {
		b.Run(fmt.Sprintf("record=%v", record), func(b *testing.B) {
			for range b.N {
				if _, err := s.App.Invoke(ctx, sys, "note/read", q, nil); err != nil {
					b.Fatal(err)
				}
				if record {
					s.App.RecordAnalytic(context.Background(), limp.AnonUserID, ev)
				}
			}
		})
	}
}
