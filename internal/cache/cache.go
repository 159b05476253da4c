// Package cache is the read cache of limp-go (spec §6.14): a byte-bounded
// LRU of read results, each depending on a set of collections, dropped
// exactly when one of them is written.
//
// Invalidation is by collection generation: Snapshot takes the
// generations of an entry's collections before the read that fills it,
// and Put refuses the entry if any moved meanwhile, so a write racing a
// read never leaves a stale entry behind. Anything that sees writes (the
// store's write path, a change feed from other nodes) drives the cache
// through the Invalidator interface.
package cache

import (
	"container/list"
	"sync"
	"time"
)

// Invalidator drops every cached entry that depends on one of the named
// collections. Implementations are safe for concurrent use.
type Invalidator interface {
	Invalidate(collections ...string)
}

// Entry is one cached result.
type Entry struct {
	Key string
	// Value is the cached result; the cache never modifies or copies it.
	Value any
	// Size is Value's size in bytes, as estimated by the caller.
	Size int64
	// Time is when Value was read.
	Time time.Time
	// Deps are the collections Value was read from.
	Deps []string
}

// Cache is a byte-bounded LRU of entries. Safe for concurrent use.
type Cache struct {
	mu     sync.Mutex
	max    int64
	size   int64
	lru    *list.List // of *Entry, most recent first
	items  map[string]*list.Element
	byColl map[string]map[string]struct{} // collection -> keys
	gens   map[string]uint64
}

// New returns a cache holding at most maxBytes of entries (Entry.Size).
func New(maxBytes int64) *Cache {
	return &Cache{max: maxBytes, lru: list.New(), items: map[string]*list.Element{},
		byColl: map[string]map[string]struct{}{}, gens: map[string]uint64{}}
}

// Snapshot returns the generations of colls, to pass to Put.
func (c *Cache) Snapshot(colls []string) []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := make([]uint64, len(colls))
	for i, n := range colls {
		g[i] = c.gens[n]
	}
	return g
}

// Get returns the entry cached under key and marks it recently used.
func (c *Cache) Get(key string) (*Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*Entry), true
}

// Put stores e unless one of its collections was written since gens (from
// Snapshot(e.Deps)) or e alone is larger than the bound; it evicts the
// least recently used entries to stay within the bound. It reports
// whether e was stored.
func (c *Cache) Put(e *Entry, gens []uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Size > c.max || len(gens) != len(e.Deps) {
		return false
	}
	for i, n := range e.Deps {
		if c.gens[n] != gens[i] {
			return false
		}
	}
	if el, ok := c.items[e.Key]; ok {
		c.remove(el)
	}
	c.items[e.Key] = c.lru.PushFront(e)
	c.size += e.Size
	for _, n := range e.Deps {
		s := c.byColl[n]
		if s == nil {
			s = map[string]struct{}{}
			c.byColl[n] = s
		}
		s[e.Key] = struct{}{}
	}
	for c.size > c.max {
		c.remove(c.lru.Back())
	}
	return true
}

// Remove drops the entry under key (an expired one).
func (c *Cache) Remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
}

func (c *Cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*Entry)
	delete(c.items, e.Key)
	c.size -= e.Size
	for _, n := range e.Deps {
		if s := c.byColl[n]; s != nil {
			delete(s, e.Key)
			if len(s) == 0 {
				delete(c.byColl, n)
			}
		}
	}
}

// Invalidate drops every entry that depends on one of colls and moves
// their generations, so reads in flight do not store what they read.
func (c *Cache) Invalidate(colls ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range colls {
		c.gens[n]++
		for key := range c.byColl[n] {
			if el, ok := c.items[key]; ok {
				c.remove(el)
			}
		}
	}
}

// Len returns the number of entries; Bytes their total size.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Bytes returns the total size of the entries.
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// InvalidatorFunc adapts a function to Invalidator.
type InvalidatorFunc func(collections ...string)

// Invalidate calls f.
func (f InvalidatorFunc) Invalidate(collections ...string) { f(collections...) }
