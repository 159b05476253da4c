package limp

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/limp-go/limp/internal/cache"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// The read cache (spec §6.14; issue 16 item 4).
//
// A module's Cache sets say which reads are cached and for how long. A
// read a set accepts (after the Pre hooks and the permission modifiers)
// is looked up by a key made of its query as modified, its $extn and, when
// its result depends on who reads (reference expansion or joins, which
// run with the caller's permissions), the caller's user and privileges.
// A hit answers with a deep copy of the stored result and args.cache, the
// ISO 8601 UTC time it was read; the On hooks then see a copy they may
// change freely. Entries live in one LRU per App bounded by
// Config.CacheMaxBytes (an estimate of their size in memory).
//
// Every write to a collection (create, update, delete, file methods, any
// Go code writing through the store) drops the entries read from it: the
// module's own collection and those its extensions read. Writes inside a
// transaction drop them again on commit. LIMP's re-execution of every
// cached query on each write (with eval) is gone: entries are refilled by
// the next read. On several nodes (a change feed with a cross-node source,
// MongoDB change streams), the feed calls App.cacheInvalidate
// (cache.Invalidator) for writes made elsewhere (cache_feed.go).

// CacheSet is one read cache set of a module (LIMP's CACHE).
type CacheSet struct {
	// Condition selects the reads this set caches; nil caches every read.
	// It runs on every read of the module, after the Pre hooks and
	// permission modifiers (c.Query is the modified query): keep it cheap.
	Condition func(ctx context.Context, c *Call) bool
	// Period is how long an entry is served; 0 serves it until a write
	// drops it.
	Period time.Duration
}

// DefaultCacheMaxBytes is the default of Config.CacheMaxBytes (32 MiB).
const DefaultCacheMaxBytes = 32 << 20

// cacheState is the App's read cache.
type cacheState struct {
	c    *cache.Cache
	deps map[*Module][]string // collections a cached module's reads depend on
	// expand lists the modules whose reads made to expand a reference
	// are cached without a Cache set of their own (expand_cache.go).
	expand map[*Module]bool
}

// startCache builds the cache when a module declares a Cache set.
func (a *App) startCache() {
	for _, m := range a.order {
		if len(m.Cache) == 0 || m.coll == nil {
			continue
		}
		a.ensureCache()
		a.cache.deps[m] = a.readDeps(m)
	}
	a.startExpandCache() // expand_cache.go
	a.startCacheFeed()   // cache_feed.go
}

// ensureCache makes the App's one bounded cache (Config.CacheMaxBytes,
// default DefaultCacheMaxBytes) the first time a cached module or an
// expansion target needs it.
func (a *App) ensureCache() {
	if a.cache.c != nil {
		return
	}
	max := a.cfg.CacheMaxBytes
	if max == 0 {
		max = DefaultCacheMaxBytes
	}
	a.cache.c = cache.New(max)
	a.cache.deps = map[*Module][]string{}
}

// readDeps returns the collections a read of m reads: m's and, through
// its extensions (recursively, as forced expansion and joins go), theirs.
// A per-document extension (Extn.Func, or a "$__doc." module) may read any
// module: its reads depend on every collection.
func (a *App) readDeps(m *Module) []string {
	seen := map[*Module]bool{}
	dynamic := false
	var out []string
	var walk func(m *Module)
	walk = func(m *Module) {
		if m == nil || seen[m] {
			return
		}
		seen[m] = true
		if m.coll != nil && !slices.Contains(out, m.coll.Name) {
			out = append(out, m.coll.Name)
		}
		for _, e := range m.Extns {
			if e.Func != nil || strings.HasPrefix(e.Module, "$") {
				dynamic = true
				continue
			}
			walk(a.modules[e.Module])
		}
	}
	walk(m)
	if dynamic {
		out = out[:0]
		for _, o := range a.order {
			if o.coll != nil && !slices.Contains(out, o.coll.Name) {
				out = append(out, o.coll.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// cacheInvalidate drops the entries read from collection coll. It is the
// App's cache.Invalidator, called by the store's write path (and by a
// change feed for writes made on other nodes).
func (a *App) cacheInvalidate(colls ...string) {
	if a.cache.c != nil {
		a.cache.c.Invalidate(colls...)
	}
}

var _ cache.Invalidator = cache.InvalidatorFunc(nil)

// cacheRead is one read's use of the cache: nil when no set applies.
type cacheRead struct {
	a      *App
	key    string
	period time.Duration
	deps   []string
	gens   []uint64
	hit    *Result
}

// cacheLookup finds the read's cache set and entry. A nil *cacheRead is
// valid (no set applies).
func (a *App) cacheLookup(ctx context.Context, c *Call, q *query.Query) *cacheRead {
	m := c.Module
	if a.cache.c == nil {
		return nil
	}
	var set *CacheSet
	for i := range m.Cache {
		if s := &m.Cache[i]; s.Condition == nil || s.Condition(ctx, c) {
			set = s
			break
		}
	}
	if set == nil && len(m.Cache) == 0 && c.expandRead && a.cache.expand[m] {
		if _, inTx := ctx.Value(txWritesKey{}).(*txWrites); inTx {
			return nil
		}
		set = &expandCacheSet // expand_cache.go
	}
	if set == nil {
		return nil
	}
	key, err := a.cacheKey(c, q)
	if err != nil {
		return nil
	}
	cr := &cacheRead{a: a, key: key, period: set.Period, deps: a.cache.deps[m]}
	if e, ok := a.cache.c.Get(key); ok {
		if cr.period > 0 && a.now().Sub(e.Time) >= cr.period {
			a.cache.c.Remove(key)
		} else {
			args := deepCopy(e.Value).(map[string]any)
			args["cache"] = e.Time.UTC().Format("2006-01-02T15:04:05.000000")
			cr.hit = OK(fmt.Sprintf("Found %d docs.", args["count"]), args)
			return cr
		}
	}
	cr.gens = a.cache.c.Snapshot(cr.deps)
	return cr
}

// result returns the cached reply, or nil on a miss.
func (cr *cacheRead) result() *Result {
	if cr == nil {
		return nil
	}
	return cr.hit
}

// store caches a copy of r's args, read since lookup.
func (cr *cacheRead) store(r *Result, readAt time.Time) {
	if cr == nil || cr.hit != nil {
		return
	}
	v := deepCopy(map[string]any(r.Args))
	cr.a.cache.c.Put(&cache.Entry{Key: cr.key, Value: v, Size: int64(len(cr.key)) + sizeOf(v), Time: readAt, Deps: cr.deps}, cr.gens)
}

// cacheKey is the read's key: module, realm, the parsed query after permission
// modifiers, join guards and any other scoping (query.Key), skipped
// extensions, and the caller when the result depends on it.
func (a *App) cacheKey(c *Call, q *query.Query) (string, error) {
	var b strings.Builder
	b.WriteString(c.Module.Name)
	b.WriteByte(0)
	b.WriteString(c.Realm) // realm mode: the store scopes reads, not q
	b.WriteByte(0)
	b.WriteString(query.Key(q))
	fmt.Fprintf(&b, "\x00%d", c.skip&skipExtn)
	expands := c.skip&skipExtn == 0 && len(c.Module.Extns) > 0 && (q.Extn == nil || len(q.Extn) > 0)
	if expands || hasJoins(q.Filter) {
		b.WriteByte(0)
		b.WriteString(c.Session.UserID.Hex())
		p, err := json.Marshal(c.Session.Privileges) // map keys sorted
		if err != nil {
			return "", err
		}
		b.Write(p)
	}
	return b.String(), nil
}

// sizeOf estimates the bytes v holds in memory.
func sizeOf(v any) int64 {
	switch x := v.(type) {
	case map[string]any:
		n := int64(48)
		for k, e := range x {
			n += int64(len(k)) + 32 + sizeOf(e)
		}
		return n
	case []any:
		n := int64(24)
		for _, e := range x {
			n += 16 + sizeOf(e)
		}
		return n
	case string:
		return int64(len(x)) + 16
	}
	return 16
}

// cacheWritten is the store write path's hook: a write to coll drops the
// entries read from it, now and again when its transaction commits.
func (a *App) cacheWritten(ctx context.Context, coll *schema.Collection) {
	if a.cache.c == nil || coll == nil {
		return
	}
	name := coll.Name
	a.cache.c.Invalidate(name)
	if tw, ok := ctx.Value(txWritesKey{}).(*txWrites); ok {
		tw.mu.Lock()
		tw.writes = append(tw.writes, func() { a.cacheInvalidate(name) })
		tw.mu.Unlock()
	}
}

// refCache lists m's cache sets in the API reference.
func refCache(b *strings.Builder, m *Module) {
	if len(m.Cache) == 0 {
		return
	}
	b.WriteString("Read cache sets (spec §6.14; the first whose condition holds caches the read):\n\n")
	for i, s := range m.Cache {
		cond, period := "every read", "until a write"
		if s.Condition != nil {
			cond = "reads its condition accepts"
		}
		if s.Period > 0 {
			period = s.Period.String()
		}
		fmt.Fprintf(b, "- set %d: %s, served %s\n", i+1, cond, period)
	}
	b.WriteString("\n")
}
