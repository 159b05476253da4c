package limp

import (
	"context"
	"log/slog"
	"testing"
)

// BenchmarkInterceptors measures the interceptor chain's cost: a client
// call of a custom method through the whole pipeline (permissions, args,
// handler) with 0 interceptors (the baseline) and with 3 pass-through
// ones. BENCHMARKS.md reports the ratio.
func BenchmarkInterceptors(b *testing.B) {
	for _, n := range []int{0, 3} {
		b.Run(map[int]string{0: "0", 3: "3"}[n], func(b *testing.B) {
			a := New(Config{Name: "bench", Data: ":memory:", Locale: "en_AE", CollectFilesEvery: -1,
				AnonPrivileges: Privileges{"svc": {"*"}}})
			a.cfg.Logger = slog.New(slog.DiscardHandler)
			svc := NewService("svc", Methods{"echo": {Permissions: Perms("*"),
				Handler: func(ctx context.Context, c *Call) (*Result, error) { return OK("Echoed.", nil), nil }}})
			for range n {
				a.Use(func(next Handler) Handler {
					return func(ctx context.Context, c *Call) (*Result, error) { return next(ctx, c) }
				})
			}
			a.Register("bench", svc)
			ctx := context.Background()
			if err := a.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = a.Shutdown(ctx) }()
			m := a.modules["svc"]
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c := &Call{Endpoint: "svc/echo", Module: m, Method: m.Methods["echo"], Session: a.anon, app: a}
				if _, err := a.runClient(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
