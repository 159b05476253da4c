package limp

import (
	"context"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// MarkRealmDeleted does what realm/delete does first (the realm doc is
// renamed for purging) without waking the purge: a node that stopped
// right after it.
func MarkRealmDeleted(a *App, name string) error {
	_, err := a.store.Update(unscoped(context.Background()), a.modules["realm"].coll,
		&query.Query{Filter: &query.Cond{Path: "name", Op: query.Eq, Value: name}},
		&store.Update{Set: map[string]any{"name": realmPurgePrefix + name}})
	a.realms.forgetAll()
	return err
}
