package limp

import (
	"context"
	"log/slog"
	"testing"
)

// BenchmarkInterceptors measures the interceptor chain's cost: a client
// call of a custom method through the whole pipeline (permissions, args,
// handler), on a module with 0 interceptors (the baseline) and on one
// with 3 pass-through ones, in the same app. BENCHMARKS.md reports the
// ratio.
func BenchmarkInterceptors(b *testing.B) {
	a := New(Config{Name: "bench", Data: ":memory:", Locale: "en_AE", CollectFilesEvery: -1,
		AnonPrivileges: Privileges{"plain": {"*"}, "wrapped": {"*"}}, Logger: slog.New(slog.DiscardHandler)})
	echo := func(ctx context.Context, c *Call) (*Result, error) { return OK("Echoed.", nil), nil }
	plain := NewService("plain", Methods{"echo": {Permissions: Perms("*"), Handler: echo}})
	wrapped := NewService("wrapped", Methods{"echo": {Permissions: Perms("*"), Handler: echo}})
	for range 3 {
		wrapped.Use(func(next Handler) Handler {
			return func(ctx context.Context, c *Call) (*Result, error) { return next(ctx, c) }
		})
	}
	a.Register("bench", plain, wrapped)
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Shutdown(ctx) })
	for _, name := range []string{"plain", "wrapped"} {
		b.Run(map[string]string{"plain": "0", "wrapped": "3"}[name], func(b *testing.B) {
			m := a.modules[name]
			b.ReportAllocs()
			for b.Loop() {
				c := &Call{Endpoint: name + "/echo", Module: m, Method: m.Methods["echo"], Session: a.anon, app: a}
				if _, err := a.runClient(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
