package sqlite

import (
	"strings"
	"sync/atomic"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// Plan choice between the main table's plan and the side-only plan
// (columns.go). The side table holds every declared scalar path, indexed
// ones too, and mirrors each plain index of the collection whose keys are
// all such paths (the same keys over the "a:" columns, then id, over live
// rows). A read whose filter and sort are all over those paths (ORs, $in,
// ranges and the permission query_mods included) then runs on the side
// table alone: its page walks the side table (with the mirrored index when
// SQLite finds it useful) and fetches the documents of the page by rowid,
// its count never reads a document.
//
// The main table's plan is kept when the filter has a top-level
// conjunct an index of the main table serves and the side table does not
// mirror: a unique set's leading path (point lookups) or an index with a
// key outside the side table. See BENCHMARKS.md, "Side table for every
// declared scalar".

// sideIndexesOff leaves the mirrored indexes out of the side table (tests
// only: the side table's layout before they existed, for migration tests
// and write-cost benchmarks).
var sideIndexesOff atomic.Bool

// sidePlanOff turns the side-only plan off (tests and benchmarks only:
// the main table's plan, for ratios measured in one run).
var sidePlanOff atomic.Bool

// sideLayoutV1 makes the side table of the first layout (tests only,
// for the migration test): search attrs in it, no mirrored indexes.
var sideLayoutV1 atomic.Bool

// sideIndex is one index of the side table mirroring a plain index.
type sideIndex struct {
	name string // quoted index name
	keys []string
}

// sideIndexes returns the indexes mirroring c's plain indexes over the
// side table's columns cols (by path).
func sideIndexes(c *schema.Collection, cols []column) []sideIndex {
	if sideIndexesOff.Load() || sideLayoutV1.Load() {
		return nil
	}
	byPath := make(map[string]column, len(cols))
	for _, col := range cols {
		byPath[col.path] = col
	}
	var out []sideIndex
	seen := map[string]bool{}
	for _, ix := range c.Indexes {
		keys, parts, ok := mirrorKeys(ix, byPath)
		if !ok {
			continue
		}
		name := "k_" + c.Name + "_i_" + strings.Join(parts, "_")
		if seen[name] {
			continue
		}
		seen[name] = true
		// id DESC last: the default tie-break of every sort, so that
		// "ORDER BY keys (in the declared directions), id DESC" walks
		// the index without sorting.
		out = append(out, sideIndex{name: quoteIdent(name), keys: append(keys, "id DESC")})
	}
	return out
}

// mirrorKeys are the side table's index keys of ix, false when a key has
// no column there.
func mirrorKeys(ix []schema.IndexKey, byPath map[string]column) (keys, parts []string, ok bool) {
	if len(ix) == 0 {
		return nil, nil, false
	}
	for _, k := range ix {
		col, ok := byPath[k.Path]
		if !ok {
			return nil, nil, false
		}
		key, part := col.name, k.Path
		if k.Desc {
			key += " DESC"
			part += "_desc"
		}
		keys = append(keys, key)
		parts = append(parts, part)
	}
	return keys, parts, true
}

// preferMain reports whether the main table's plan serves q's filter
// better than the side-only plan: a top-level conjunct, an equality,
// $in or range on a non-null value, names the leading path of a unique
// set or of an index the side table does not mirror.
func preferMain(c *schema.Collection, q *query.Query, cols map[string]column) bool {
	if sidePlanOff.Load() {
		return true
	}
	lead := map[string]bool{}
	for _, set := range c.Unique {
		if len(set) > 0 {
			lead[set[0]] = true
		}
	}
	byPath := make(map[string]column, len(cols))
	for _, col := range cols {
		byPath[col.path] = col
	}
	for _, ix := range c.Indexes {
		if len(ix) == 0 {
			continue
		}
		if _, _, ok := mirrorKeys(ix, byPath); !ok || sideIndexesOff.Load() {
			lead[ix[0].Path] = true
		}
	}
	return servedBy(q.Filter, lead)
}

// sideIndexed reports whether the side-only plan of q may use the side
// table's indexes: a top-level conjunct is served by a mirrored index (see
// preferMain). Otherwise the plan reads the side table NOT INDEXED: with
// no statistics, SQLite would walk a partial index over every live row
// (a random row lookup each) rather than scan the narrow table.
func sideIndexed(c *schema.Collection, q *query.Query, cols map[string]column) bool {
	byPath := make(map[string]column, len(cols))
	for _, col := range cols {
		byPath[col.path] = col
	}
	lead := map[string]bool{}
	for _, ix := range c.Indexes {
		if len(ix) == 0 || sideIndexesOff.Load() {
			continue
		}
		if _, _, ok := mirrorKeys(ix, byPath); ok {
			lead[ix[0].Path] = true
		}
	}
	return servedBy(q.Filter, lead)
}

// servedBy reports whether a top-level conjunct of f, an equality, $in
// or range on non-null scalar values, names a path of lead.
func servedBy(f query.Node, lead map[string]bool) bool {
	if len(lead) == 0 {
		return false
	}
	var served func(n query.Node) bool
	served = func(n query.Node) bool {
		switch n := n.(type) {
		case query.And:
			for _, x := range n {
				if served(x) {
					return true
				}
			}
		case *query.Cond:
			if n.Join != nil || !lead[n.Path] {
				return false
			}
			switch n.Op {
			case query.Eq, query.Gt, query.Gte, query.Lt, query.Lte:
				return n.Value != nil && !isWhole(n.Value)
			case query.Bet:
				return n.Value != nil && n.Value2 != nil
			case query.In:
				l, _ := n.Value.([]any)
				for _, x := range l {
					if x == nil || isWhole(x) {
						return false
					}
				}
				return len(l) > 0
			}
		}
		return false
	}
	return served(f)
}
