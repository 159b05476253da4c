package limp

import (
	"slices"
	"strings"

	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/sqlite"
)

// Reference expansion through the read cache (issue 13 item 3).
//
// Expanding a reference (spec §6.7) is a read of the target module by
// _id with the caller's session (expandBatch). Such reads are cached
// like the reads of a module with a Cache set (cache.go) even when the
// target declares none, under expandCacheSet: kept until a write drops
// them. The cache's rules apply unchanged: the key is the read's query
// after the caller's permission modifiers (and the caller, when the
// target itself expands or joins), the permission check and the target's
// Pre and On hooks run on every call, a hit is a deep copy, and every
// write to the target's collection — or to one its own reads depend on —
// through this App drops the entries at once (and again at commit).
//
// It is on only where those writes are all the writes there are: the
// embedded store (one process owns the file), or a store whose change
// feed carries the writes of other nodes (MongoDB change streams;
// cache_feed.go subscribes the cache to them). On MongoDB without change
// streams expansion reads go to the store every time. Reads inside a
// transaction are not cached (they may see writes that roll back).
// Config.CacheMaxBytes bounds the memory with the other entries; a
// negative value turns this off. A module with Cache sets of its own is
// cached by them only.

// expandCacheSet is the set expansion reads are cached under.
var expandCacheSet = CacheSet{}

// startExpandCache marks the targets of the modules' static extensions
// for the cache (startCache, before the feed subscriptions).
func (a *App) startExpandCache() {
	if a.cfg.CacheMaxBytes < 0 {
		return
	}
	var targets []*Module
	for _, m := range a.order {
		for _, e := range m.Extns {
			if e.Func != nil || strings.HasPrefix(e.Module, "$") {
				continue
			}
			t := a.modules[e.Module]
			if t != nil && t.coll != nil && len(t.Cache) == 0 && !slices.Contains(targets, t) {
				targets = append(targets, t)
			}
		}
	}
	if len(targets) == 0 || !a.writesAllSeen() {
		return
	}
	a.ensureCache()
	a.cache.expand = map[*Module]bool{}
	for _, t := range targets {
		a.cache.expand[t] = true
		a.cache.deps[t] = a.readDeps(t)
	}
}

// writesAllSeen reports whether every write to the store reaches this
// App: the embedded store, or a change feed with a cross-node source.
func (a *App) writesAllSeen() bool {
	st := a.store
	for st != nil {
		if _, ok := st.(*sqlite.Store); ok {
			return true
		}
		u, ok := st.(interface{ Unwrap() store.Store })
		if !ok {
			break
		}
		st = u.Unwrap()
	}
	return a.feedHub().HasSource()
}
