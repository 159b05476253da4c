package limp

// Deleting a realm, and keeping each realm's DEFAULT group in line with
// Config.DefaultPrivileges (spec §5.6).
//
// LIMP registered every realm doc as a system doc, so realm/delete never
// removed one, and a realm's documents stayed forever. Here realm/delete
// (GlobalRealm callers only) deletes the realm and all its documents:
//
//  1. The realm doc is renamed "__purge__NAME" at once (no client can name
//     a realm so): from then on the realm is unknown, its connections are
//     closed at their next call (other nodes within realmTTL) and new ones
//     refused; realm/create refuses NAME until the purge has finished, so
//     a new realm never shares a name with the documents being removed.
//  2. Every collection's documents of the realm (live and soft-deleted:
//     users, groups, sessions, settings, diffs, analytics and the app's)
//     are removed in batches of realmPurgeBatch, then the realm doc. File
//     contents no document references any more are reclaimed by
//     App.CollectFiles.
//
// Step 2 runs off the call path on one goroutine per App, and again at
// every Start, so a purge that a stopped or crashed node left unfinished
// resumes on the next node that starts (several nodes may purge at once:
// each batch is idempotent). App.PurgeDeletedRealms runs it on demand.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// realmPurgePrefix marks a deleted realm's doc until its documents are gone.
const realmPurgePrefix = "__purge__"

// realmPurgeBatch bounds the documents one store call of a purge removes.
const realmPurgeBatch = 1000

// realmPreDelete is realm/delete: it marks the realms the call selects for
// purging (the global realm excepted) and answers the call itself.
func (a *App) realmPreDelete(ctx context.Context, c *Call) (*Result, error) {
	m := c.Module
	if c.Realm != GlobalRealm {
		return nil, errForbidden // as realm/create: a realm does not delete itself
	}
	q, err := a.parseQuery(ctx, c, c.Query)
	if err != nil {
		return nil, err
	}
	if q.Filter == nil {
		return nil, m.Error(400, CodeInvalidQuery, "A delete needs a query selecting the docs to delete.")
	}
	q.Filter = query.AndFilter(q.Filter, &query.Cond{Path: "_id", Op: query.Ne, Value: GlobalRealmID})
	q.Attrs = []string{"name"}
	res, err := a.store.Read(ctx, m.coll, q)
	if err != nil {
		return nil, err
	}
	ids := make([]ID, 0, len(res.Docs))
	for _, d := range res.Docs {
		name, _ := d["name"].(string)
		id, _ := d["_id"].(ID)
		if name == "" || strings.HasPrefix(name, realmPurgePrefix) {
			continue // already being purged
		}
		if _, err := a.store.Update(unscoped(ctx), m.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id}},
			&store.Update{Set: map[string]any{"name": realmPurgePrefix + name}}); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	a.realms.forgetAll()
	a.kickRealmPurge()
	return OK(fmt.Sprintf("Deleted %d docs.", len(ids)), M{"count": int64(len(ids)), "docs": idDocs(ids)}), nil
}

// realmBeingPurged reports whether realm name's documents are still being
// removed.
func (a *App) realmBeingPurged(ctx context.Context, name string) (bool, error) {
	res, err := a.store.Read(unscoped(ctx), a.modules["realm"].coll, &query.Query{
		Filter: &query.Cond{Path: "name", Op: query.Eq, Value: realmPurgePrefix + name}, Limit: 1, Attrs: []string{"_id"}})
	if err != nil {
		return false, err
	}
	return len(res.Docs) > 0, nil
}

// kickRealmPurge wakes the purge goroutine (if it runs).
func (a *App) kickRealmPurge() {
	select {
	case a.realms.kick <- struct{}{}:
	default:
	}
}

// PurgeDeletedRealms removes the documents of every realm deleted with
// realm/delete (realm mode; see realm_purge.go), then the realm docs, and
// returns how many documents it removed. It works in batches of 1,000 and
// can be stopped (ctx) and run again at any point: it is what the App runs
// after each realm/delete and at Start, exposed for operators and tests.
func (a *App) PurgeDeletedRealms(ctx context.Context) (int64, error) {
	if !a.cfg.Realm {
		return 0, nil
	}
	ctx = unscoped(ctx)
	realms := a.modules["realm"].coll
	res, err := a.store.Read(ctx, realms, &query.Query{
		Filter: &query.Cond{Path: "name", Op: query.Regex, Value: "^" + realmPurgePrefix}, Attrs: []string{"name"}})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, d := range res.Docs {
		full, _ := d["name"].(string)
		name, ok := strings.CutPrefix(full, realmPurgePrefix)
		if !ok || name == "" {
			continue
		}
		done := map[string]bool{realms.Name: true}
		for _, m := range a.order {
			if m.coll == nil || done[m.coll.Name] {
				continue
			}
			done[m.coll.Name] = true
			for {
				if err := ctx.Err(); err != nil {
					return n, err
				}
				ids, err := a.store.Delete(ctx, m.coll, &query.Query{
					Filter: &query.Cond{Path: realmAttr, Op: query.Eq, Value: name}, Limit: realmPurgeBatch}, true)
				if err != nil {
					return n, err
				}
				n += int64(len(ids))
				if len(ids) < realmPurgeBatch {
					break
				}
			}
		}
		if _, err := a.store.Delete(ctx, realms, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: d["_id"]}}, true); err != nil {
			return n, err
		}
		a.log.Info("purged deleted realm", "realm", name)
	}
	return n, nil
}

// startRealmPurge starts the goroutine that purges deleted realms: once
// now (a purge left unfinished by a stopped node) and after every
// realm/delete, until Shutdown; a failed purge is retried after a minute.
// A purge in progress stops at Shutdown's drain, between batches.
func (a *App) startRealmPurge() {
	if !a.cfg.Realm {
		return
	}
	a.realms.kick = make(chan struct{}, 1)
	a.bgWG.Add(1)
	go func() {
		defer a.bgWG.Done()
		ctx, cancel := context.WithCancel(a.hardCtx)
		defer cancel()
		stop := make(chan struct{})
		defer close(stop)
		a.bgWG.Add(1)
		go func() { // cancels a purge in progress when the app drains
			defer a.bgWG.Done()
			select {
			case <-a.drain:
				cancel()
			case <-stop:
			}
		}()
		var retry <-chan time.Time
		for {
			if n, err := a.PurgeDeletedRealms(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("purge deleted realms", "err", err, "removed", n)
				retry = time.After(time.Minute)
			}
			select {
			case <-ctx.Done():
				return
			case <-a.realms.kick:
			case <-retry:
			}
		}
	}()
}

// syncRealmDefaults gives the DEFAULT group of every realm the privileges
// of Config.DefaultPrivileges, as Start does for the global DEFAULT group
// (spec §5.1: "DEFAULT group privileges = Config.default_privileges
// (synced at startup)").
func (a *App) syncRealmDefaults(ctx context.Context) error {
	ctx = unscoped(ctx)
	res, err := a.store.Read(ctx, a.modules["realm"].coll, &query.Query{
		Filter: &query.Cond{Path: "_id", Op: query.Ne, Value: GlobalRealmID}, Attrs: []string{"default"}})
	if err != nil {
		return err
	}
	var ids []any
	for _, d := range res.Docs {
		if id, ok := d["default"].(ID); ok && !id.IsZero() && id != DefaultGroup {
			ids = append(ids, id)
		}
	}
	privs := privilegesValue(a.cfg.DefaultPrivileges)
	for len(ids) > 0 {
		batch := ids[:min(len(ids), query.MaxIn)]
		ids = ids[len(batch):]
		if _, err := a.store.Update(ctx, a.modules["group"].coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.In, Value: batch}},
			&store.Update{Set: map[string]any{"privileges": privs}}); err != nil {
			return err
		}
	}
	return nil
}

// realmGone answers a call of a connection whose realm was deleted (its
// session may already be purged) as realmLive does, and reports whether
// it did.
func (c *conn) realmGone(ctx context.Context, callID any) bool {
	name, ok := realmFrom(c.hard)
	if !c.app.cfg.Realm || !ok || name == "" || name == GlobalRealm {
		return false
	}
	if info, err := c.app.lookupRealm(ctx, name); err != nil || info != nil {
		return false
	}
	c.reply(1008, "Connection closed", M{"code": CodeConnClosed}, callID, true)
	c.closeWith(websocket.StatusPolicyViolation, "realm deleted")
	return true
}
