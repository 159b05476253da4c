package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// Adaptive indexes. A side-only read (sideplan.go) with no mirrored index
// to serve its filter scans the side table NOT INDEXED: every live row, for
// its page and again for its total. When paged reads of one shape keep
// doing that on a collection of some size, the store builds an index of
// the side table for that shape, in the background, through its own
// writer (one transaction, holding the writes of the store for the
// build: 0.1-0.3 s at 10,000 documents, 3.4 s at 100,000, measured on a
// shared 2-core machine), and later reads of the shape
// use it.
//
// The shape is the filter's leading condition (a top-level equality, $in
// or range on a side column, non-null scalar values: an equality first),
// the sort and the columns the filter names. The index keys are the
// leading condition's column, then the sort keys (ending with id DESC, the
// sort's tie-break), then every other column the filter reads, partial
// on deleted = 0: an equality then walks the index in the page's order
// and stops at the page's end, and the count reads the index alone
// (covering, no row lookup). Measured at 10,000 blog posts, `views = 3`
// and the read permission's OR, newest first: page 1.5 ms -> 0.09 ms,
// count 1.3 ms -> 0.18 ms; at 100,000: 38 -> 0.3 ms and 41 -> 1.4 ms
// (BENCHMARKS.md, "Unindexed lists"). A shape whose keys would exceed
// maxAdaptiveKeys columns gets none.
//
// A read uses only the index of its own shape (whatever its values): the
// index covers it, so reading it is never much worse than the scan it
// replaces. The build checks with EXPLAIN QUERY PLAN that SQLite picks the
// index for the shape's count and drops it otherwise.
//
// Policy (Options.AdaptiveIndexes): a shape is indexed after
// adaptiveScans NOT INDEXED reads within adaptiveWindow of each other,
// when the collection holds at least adaptiveMinRows live documents
// (checked at that moment; below it, the count starts again); at most
// Options.AdaptiveIndexes per collection (default 4, negative: none, and
// Sync drops those built before). Each index costs every write of the
// collection an index insert (BENCHMARKS.md). Each is recorded in
// limp_meta ("adaptive:<collection>:<index>", its keys as JSON): Sync
// re-creates it when the side table is rebuilt (a schema change or a
// migration) and its columns still exist, and drops it otherwise. Builds
// and drops are logged at Info.

const (
	// defaultAdaptive is Options.AdaptiveIndexes's default.
	defaultAdaptive = 4
	// maxAdaptiveKeys bounds the columns of an adaptive index.
	maxAdaptiveKeys = 12
	// maxAdaptiveShapes bounds the shapes counted per collection; past
	// it the counts start again.
	maxAdaptiveShapes = 64
)

// adaptive is a store's adaptive index state.
type adaptive struct {
	max     int           // indexes per collection; 0: off
	scans   int           // reads of a shape before its index is built
	window  time.Duration // longest gap between two counted reads
	minRows int64         // live documents a collection needs
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex
	colls   map[string]*adaptColl
	stopped bool
}

// adaptColl is one collection's adaptive indexes and counted shapes.
type adaptColl struct {
	have     map[string][]string // index name -> keys
	order    []string            // names in creation order
	shapes   map[string]*adaptShape
	building bool
}

// adaptShape counts the NOT INDEXED reads of one shape.
type adaptShape struct {
	keys  []string
	count string // a count statement of the shape and its arguments,
	args  []any  // to check the plan
	n     int
	last  time.Time
	dead  bool // the build failed or SQLite would not use the index
}

func (a *adaptive) init(max int) {
	switch {
	case max == 0:
		a.max = defaultAdaptive
	case max > 0:
		a.max = max
	}
	a.scans, a.window, a.minRows = 20, 10*time.Minute, 2000
	a.colls = map[string]*adaptColl{}
	a.ctx, a.cancel = context.WithCancel(context.Background())
}

// stop cancels a build under way and waits for it; no build starts
// after it.
func (a *adaptive) stop() {
	a.mu.Lock()
	a.stopped = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
}

func (a *adaptive) coll(name string) *adaptColl {
	ac := a.colls[name]
	if ac == nil {
		ac = &adaptColl{have: map[string][]string{}, shapes: map[string]*adaptShape{}}
		a.colls[name] = ac
	}
	return ac
}

// adaptiveShape returns the index name and keys of p's shape; ok false
// when q has no leading condition on a side column or the keys would be
// too many.
func adaptiveShape(c *schema.Collection, q *query.Query, p *Compiled, cols map[string]column) (name string, keys []string, ok bool) {
	lead := leadColumn(c, q.Filter, cols)
	if lead == "" {
		return "", nil, false
	}
	keys = []string{lead}
	has := func(col string) bool {
		return slices.ContainsFunc(keys, func(k string) bool { return k == col || strings.HasPrefix(k, col+" ") })
	}
	for _, o := range p.SideOrder {
		col, _, _ := strings.Cut(o, " ")
		if !has(col) {
			keys = append(keys, o)
		}
	}
	var extra []string
	for _, col := range cols {
		for _, n := range []string{col.name, col.typ} {
			if !has(n) && strings.Contains(p.Side, n) {
				extra = append(extra, n)
			}
		}
	}
	slices.Sort(extra)
	keys = append(keys, extra...)
	if len(keys) > maxAdaptiveKeys {
		return "", nil, false
	}
	h := fnv.New64a()
	h.Write([]byte(strings.Join(keys, ",")))
	return "k_" + c.Name + "_a_" + strconv.FormatUint(h.Sum64(), 36), keys, true
}

// leadColumn is the side column of f's leading condition: a top-level
// conjunct an index on its path serves (see servedBy), an equality
// first; "" when there is none.
func leadColumn(c *schema.Collection, f query.Node, cols map[string]column) string {
	var conds []*query.Cond
	var top func(n query.Node)
	top = func(n query.Node) {
		switch n := n.(type) {
		case query.And:
			for _, x := range n {
				top(x)
			}
		case *query.Cond:
			conds = append(conds, n)
		}
	}
	top(f)
	best, rank := "", 0
	for _, cd := range conds {
		if cd.Path == "_id" || !servedBy(cd, map[string]bool{cd.Path: true}) {
			continue
		}
		col, ok := sideSortCol(cols, c, cd.Path)
		if !ok {
			continue
		}
		r := 1
		if cd.Op == query.Eq {
			r = 2
		}
		if r > rank {
			best, rank = col, r
		}
	}
	return best
}

// adaptRead lets p use its shape's adaptive index, or counts a NOT
// INDEXED read of the shape, starting the build when due.
func (s *Store) adaptRead(c *schema.Collection, q *query.Query, p *Compiled) {
	a := &s.adapt
	if a.max == 0 || p.Side == "" || p.SideIndexed {
		return
	}
	name, keys, ok := adaptiveShape(c, q, p, columnByPath(c))
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ac := a.coll(c.Name)
	if _, ok := ac.have[name]; ok {
		p.SideIndexed = true
		return
	}
	sh := ac.shapes[name]
	if sh == nil {
		if len(ac.shapes) >= maxAdaptiveShapes {
			clear(ac.shapes)
		}
		sh = &adaptShape{keys: keys}
		ac.shapes[name] = sh
	}
	now := time.Now()
	if sh.dead {
		return
	}
	if now.Sub(sh.last) > a.window {
		sh.n = 0
	}
	sh.n++
	sh.last = now
	if sh.n < a.scans || ac.building || len(ac.have) >= a.max || a.stopped {
		return
	}
	cstmt, cargs := p.Count()
	sh.count, sh.args = strings.Replace(cstmt, " NOT INDEXED", "", 1), cargs
	ac.building = true
	a.wg.Go(func() { s.buildAdaptive(c, name, sh) })
}

// errTooSmall: the collection holds fewer live documents than
// adaptiveMinRows.
var errTooSmall = errors.New("collection too small")

// errNotUsed: SQLite's plan of the shape does not use its index.
var errNotUsed = errors.New("index not used by the plan")

// buildAdaptive builds the index of shape sh on c's side table in one
// write transaction, checks that the shape's plan uses it and records it.
func (s *Store) buildAdaptive(c *schema.Collection, name string, sh *adaptShape) {
	a := &s.adapt
	k := colTableName(c.Name)
	start := time.Now()
	var rows int64
	err := s.Tx(a.ctx, func(ctx context.Context) error {
		q := s.q(ctx)
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM "+k+" WHERE deleted = 0").Scan(&rows); err != nil {
			return err
		}
		if rows < a.minRows {
			return errTooSmall
		}
		if _, err := q.ExecContext(ctx, "CREATE INDEX IF NOT EXISTS "+quoteIdent(name)+" ON "+k+" ("+strings.Join(sh.keys, ", ")+") WHERE deleted = 0"); err != nil {
			return err
		}
		used, err := planUses(ctx, q, sh.count, sh.args, name)
		if err != nil {
			return err
		}
		if !used {
			return errNotUsed
		}
		keys, _ := json.Marshal(sh.keys)
		_, err = q.ExecContext(ctx, "INSERT INTO limp_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
			"adaptive:"+c.Name+":"+name, string(keys))
		return err
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	ac := a.coll(c.Name)
	ac.building = false
	switch {
	case err == nil:
		if _, ok := ac.have[name]; !ok {
			ac.have[name] = sh.keys
			ac.order = append(ac.order, name)
		}
		delete(ac.shapes, name)
		s.log.Info("sqlite: adaptive index built", "collection", c.Name, "index", name, "keys", strings.Join(sh.keys, ", "),
			"reads", sh.n, "documents", rows, "took", time.Since(start).Round(time.Microsecond))
	case errors.Is(err, errTooSmall):
		sh.n = 0
	case a.ctx.Err() != nil:
		// The store is closing.
	default:
		sh.dead = true
		s.log.Warn("sqlite: adaptive index not built", "collection", c.Name, "index", name, "err", err)
	}
}

// planUses reports whether SQLite's plan of stmt names index.
func planUses(ctx context.Context, q querier, stmt string, args []any, index string) (bool, error) {
	rows, err := q.QueryContext(ctx, "EXPLAIN QUERY PLAN "+stmt, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	used := false
	for rows.Next() {
		var id, parent, notused any
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return false, err
		}
		if strings.Contains(detail, " INDEX "+index+" ") || strings.HasSuffix(detail, " INDEX "+index) {
			used = true
		}
	}
	return used, rows.Err()
}

// syncAdaptive re-creates c's recorded adaptive indexes (in Sync's
// transaction, after the side table): those whose columns the side table
// still has, within the bound, in creation order; it drops the others
// and their records. It returns the kept ones, for adaptSynced.
func (s *Store) syncAdaptive(ctx context.Context, q querier, c *schema.Collection) (map[string][]string, []string, error) {
	prefix := "adaptive:" + c.Name + ":"
	rows, err := q.QueryContext(ctx, "SELECT key, value FROM limp_meta WHERE substr(key, 1, ?) = ? ORDER BY rowid", len(prefix), prefix)
	if err != nil {
		return nil, nil, err
	}
	type rec struct {
		name string
		keys []string
	}
	var recs []rec
	for rows.Next() {
		var key, value string
		if err := rows.Scan(&key, &value); err != nil {
			rows.Close()
			return nil, nil, err
		}
		r := rec{name: strings.TrimPrefix(key, prefix)}
		if json.Unmarshal([]byte(value), &r.keys) != nil {
			r.keys = nil
		}
		recs = append(recs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	have := map[string]bool{"id": true}
	for _, col := range columns(c) {
		have[col.name], have[col.typ] = true, true
	}
	k := colTableName(c.Name)
	kept := map[string][]string{}
	var order []string
	for _, r := range recs {
		ok := len(r.keys) > 0 && len(kept) < s.adapt.max
		for _, key := range r.keys {
			col, _, _ := strings.Cut(key, " ")
			ok = ok && have[col]
		}
		if ok {
			if _, err := q.ExecContext(ctx, "CREATE INDEX IF NOT EXISTS "+quoteIdent(r.name)+" ON "+k+" ("+strings.Join(r.keys, ", ")+") WHERE deleted = 0"); err != nil {
				return nil, nil, fmt.Errorf("adaptive index %s: %w", r.name, err)
			}
			kept[r.name] = r.keys
			order = append(order, r.name)
			continue
		}
		for _, st := range []string{"DROP INDEX IF EXISTS " + quoteIdent(r.name), "DELETE FROM limp_meta WHERE key = " + sqlString(prefix+r.name)} {
			if _, err := q.ExecContext(ctx, st); err != nil {
				return nil, nil, fmt.Errorf("adaptive index %s: %w", r.name, err)
			}
		}
		s.log.Info("sqlite: adaptive index dropped", "collection", c.Name, "index", r.name)
	}
	return kept, order, nil
}

// adaptSynced installs the adaptive indexes Sync kept for c and forgets
// the shapes counted so far.
func (s *Store) adaptSynced(c *schema.Collection, have map[string][]string, order []string) {
	s.adapt.mu.Lock()
	defer s.adapt.mu.Unlock()
	ac := s.adapt.coll(c.Name)
	ac.have, ac.order = have, order
	clear(ac.shapes)
}
