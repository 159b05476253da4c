package limp

import (
	"context"
	"errors"

	"github.com/limp-go/limp/internal/feed"
)

// FeedStats returns the counters of the app's change feed.
func FeedStats(a *App) feed.Stats { return a.feedHub().Stats() }

// errRollback rolls InsertTx's transaction back.
var errRollback = errors.New("rollback")

// InsertTx inserts docs into module's collection in one store transaction
// through the App's store (the change feed sees it), rolled back when
// rollback is set.
func InsertTx(ctx context.Context, a *App, module string, rollback bool, docs ...map[string]any) error {
	m := a.modules[module]
	err := a.store.Tx(ctx, func(ctx context.Context) error {
		if err := a.store.Insert(ctx, m.coll, docs...); err != nil {
			return err
		}
		if rollback {
			return errRollback
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}
