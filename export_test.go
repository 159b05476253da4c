package limp

import (
	"context"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// ArgonRuns reports how many argon2 computations have run, for tests and
// benchmarks of sign-in throttling.
func ArgonRuns() int64 { return argonRuns.Load() }

// StoreUpdateWhere updates, straight through the app's store write path
// (as a custom method or a job would), the docs of module whose attr path
// equals value, and returns how many it updated.
func StoreUpdateWhere(ctx context.Context, a *App, module, path string, value any, set map[string]any) (int, error) {
	res, err := a.store.Update(ctx, a.modules[module].coll, &query.Query{Filter: &query.Cond{Path: path, Op: query.Eq, Value: value}}, &store.Update{Set: set})
	if err != nil {
		return 0, err
	}
	return len(res.Matched), nil
}
