package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// maxRegex is the longest `$regex` pattern accepted, in bytes.
const maxRegex = 1024

// Compiled is a compiled read: the FROM and WHERE every statement of a read
// shares, the ORDER BY and the page.
type Compiled struct {
	Table string // quoted main table
	From  string
	Where string
	Args  []any // WHERE's arguments (FROM has none)
	Order string
	// Limit and Offset page the rows; Limit < 0 means no limit.
	Limit, Offset int64
	// Geo is the distance expression of $geo_near ("" without it).
	Geo string
	// Side, when set, is the WHERE of the side-only plan (columns.go):
	// every condition and sort key of the read is in the side table,
	// and no top-level condition is better served by an index of the
	// main table (see preferMain). Select pages over the
	// side table and fetches the documents of the page only; Count
	// counts in the side table. SideArgs are its arguments, SideOrder
	// its ORDER BY keys (with their directions).
	Side      string
	SideArgs  []any
	SideOrder []string
	// SideIndexed lets the side-only plan use the side table's indexes
	// (see sideIndexed); without it the side table is read NOT INDEXED.
	SideIndexed bool
	// mixed is the mixed-attr test the read was compiled with (mixed.go).
	mixed mixedFn
}

// Select returns the SELECT of cols with the page applied.
func (p *Compiled) Select(cols string) (string, []any) {
	if p.Side != "" {
		return p.sideSelect(cols)
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(cols)
	b.WriteString(" FROM ")
	b.WriteString(p.From)
	b.WriteString(" WHERE ")
	b.WriteString(p.Where)
	b.WriteString(" ORDER BY ")
	b.WriteString(p.Order)
	args := append([]any(nil), p.Args...)
	if p.Limit >= 0 || p.Offset > 0 {
		b.WriteString(" LIMIT ?")
		args = append(args, p.Limit)
		if p.Offset > 0 {
			b.WriteString(" OFFSET ?")
			args = append(args, p.Offset)
		}
	}
	return b.String(), args
}

// sideSelect is Select of the side-only plan: the page's rowids and sort
// keys from the side table, then the documents of those rows, in order.
func (p *Compiled) sideSelect(cols string) (string, []any) {
	var keys, inner, outer []string
	for i, o := range p.SideOrder {
		e, dir, _ := strings.Cut(o, " ")
		k := "s" + strconv.Itoa(i)
		keys = append(keys, e+" AS "+k)
		inner = append(inner, o)
		outer = append(outer, "p_."+k+" "+dir)
	}
	var b strings.Builder
	b.WriteString("SELECT " + cols + " FROM (SELECT rid AS r_, " + strings.Join(keys, ", ") + " FROM " + p.sideTable() +
		" WHERE " + p.Side + " ORDER BY " + strings.Join(inner, ", "))
	args := append([]any(nil), p.SideArgs...)
	b.WriteString(" LIMIT ?")
	args = append(args, p.Limit)
	if p.Offset > 0 {
		b.WriteString(" OFFSET ?")
		args = append(args, p.Offset)
	}
	b.WriteString(") AS p_ JOIN " + p.Table + " ON " + p.Table + ".rid = p_.r_ ORDER BY " + strings.Join(outer, ", "))
	return b.String(), args
}

// sideTable is the quoted name of the side table of p.Table, NOT INDEXED
// unless p.SideIndexed.
func (p *Compiled) sideTable() string {
	k := quoteIdent("k_" + strings.TrimPrefix(strings.Trim(p.Table, `"`), "c_"))
	if !p.SideIndexed {
		k += " NOT INDEXED"
	}
	return k
}

// Count returns the statement counting every match.
func (p *Compiled) Count() (string, []any) {
	if p.Side != "" {
		return "SELECT count(*) FROM " + p.sideTable() + " WHERE " + p.Side, append([]any(nil), p.SideArgs...)
	}
	return "SELECT count(*) FROM " + p.From + " WHERE " + p.Where, append([]any(nil), p.Args...)
}

// Group returns the statement computing the buckets of g, MongoDB's
// $bucketAuto (without granularity) over the values at g.By of the
// matching documents, a missing value counting as null (the lowest): with
// n values and N = g.Count buckets, each bucket takes round(n/N) values
// (at least 1) in ascending BSON order, then every further value equal to
// its last one (a value never spans two buckets); the N-th bucket takes
// everything left, so there may be fewer than N buckets. It returns rows
// (min, max, count), in order; Read sets each bucket's max to the next
// bucket's min, as MongoDB does. A path the schema declares scalar (see
// groupPlain) yields SQL values; any other path (LIST, DICT, ANY, through
// a LIST, undeclared) yields JSON texts (NULL for missing) of the value
// MongoDB's "$path" expression gives, ordered by their bsonorder key, so
// lists and objects bucket as whole values (element by element, field by
// field, numbers as numbers).
//
// The statement groups the values (d: each distinct value, its count and
// the count of smaller values), then finds where each bucket starts with a
// recursive CTE over the buckets (r: bucket b starts at the first value
// with at least lo smaller values; the next at the first with at least
// lo + size), so its cost is one pass over the values plus an index
// lookup per bucket.
func (p *Compiled) Group(c *schema.Collection, g query.Group) (string, []any, error) {
	if g.Count < 1 {
		return "", nil, fmt.Errorf("$group count %d for %q is not positive", g.Count, g.By)
	}
	key, rep, err := groupExprsMixed(c, g.By, p.mixed)
	if err != nil {
		return "", nil, fmt.Errorf("$group: %w", err)
	}
	in := " FROM d AS x WHERE x.cb >= e.lo AND (e.hi IS NULL OR x.cb < e.hi)"
	sql := "WITH RECURSIVE k(n) AS (SELECT ?), " +
		"d(v, j, c, cb) AS MATERIALIZED (SELECT v, min(j), count(*), sum(count(*)) OVER (ORDER BY v) - count(*) FROM (SELECT " + key +
		" AS v, " + rep + " AS j FROM " + p.From + " WHERE " + p.Where + ") GROUP BY v), " +
		"sz(s, n) AS MATERIALIZED (SELECT max(1, CAST(round(CAST(sum(d.c) AS REAL) / k.n) AS INTEGER)), k.n FROM d, k), " +
		"r(b, lo) AS (SELECT 0, 0 UNION ALL SELECT r.b + 1, (SELECT min(d.cb) FROM d WHERE d.cb >= r.lo + sz.s) " +
		"FROM r, sz WHERE r.lo IS NOT NULL AND r.b + 1 < sz.n), " +
		"e(b, lo, hi) AS (SELECT b, lo, lead(lo) OVER (ORDER BY b) FROM r WHERE lo IS NOT NULL) " +
		"SELECT (SELECT x.j FROM d AS x WHERE x.cb = e.lo), (SELECT x.j" + in + " ORDER BY x.cb DESC LIMIT 1), " +
		"(SELECT sum(x.c)" + in + ") FROM e WHERE EXISTS (SELECT 1 FROM d) ORDER BY e.b"
	args := append([]any{int64(min(g.Count, math.MaxInt32))}, p.Args...)
	return sql, args, nil
}

func tableName(name string) string { return quoteIdent("c_" + name) }
func ftsName(name string) string   { return quoteIdent("f_" + name) }

// Compile compiles q over collection c, every stored value taken to have
// its declared type (no mixed attr, see mixed.go). It is pure and
// deterministic.
func Compile(c *schema.Collection, q *query.Query) (*Compiled, error) {
	return compile(c, q, false, nil)
}

// compile is Compile; purge selects soft-deleted documents too (a hard
// delete); mixed tells the attrs holding values of other types than
// declared (nil: none).
func compile(c *schema.Collection, q *query.Query, purge bool, mixed mixedFn) (*Compiled, error) {
	if q == nil {
		q = &query.Query{}
	}
	b := &builder{c: c, table: tableName(c.Name), multikey: multikeyPaths(c), cols: columnByPath(c), mixed: mixed}
	p := &Compiled{Table: b.table, From: b.table, Limit: -1, mixed: mixed}
	where := []string{b.table + ".deleted = 0"}
	if purge {
		where[0] = "1"
	}
	var order []string
	if q.Search != "" && q.GeoNear != nil {
		return nil, errors.New("compile query: $search and $geo_near cannot be combined")
	}
	if q.Search != "" {
		if len(c.Search) == 0 {
			return nil, fmt.Errorf("compile query: collection %s has no search attrs", c.Name)
		}
		f := ftsName(c.Name)
		p.From = b.table + " JOIN " + f + " ON " + f + ".rowid = " + b.table + ".rowid"
		m, phrases, negated := searchSQL(q.Search)
		if m == "" {
			where = append(where, "0")
		} else {
			where = append(where, f+" MATCH "+b.arg(m))
			for _, ph := range phrases {
				where = append(where, "instr("+f+".raw, "+b.arg(ph)+") > 0")
			}
			for _, ph := range negated {
				where = append(where, "instr("+f+".raw, "+b.arg(ph)+") = 0")
			}
		}
		order = append(order, "bm25("+f+")")
	}
	if g := q.GeoNear; g != nil {
		for _, f := range []float64{g.Lng, g.Lat, g.MaxDistance} {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, errors.New("compile $geo_near: coordinates and distance must be finite")
			}
		}
		lng, err := scalarExpr(c, "doc", "id", g.Attr+".coordinates.0")
		if err != nil {
			return nil, fmt.Errorf("compile $geo_near: %w", err)
		}
		lat, _ := scalarExpr(c, "doc", "id", g.Attr+".coordinates.1")
		p.Geo = "limp_distance(" + lng + ", " + lat + ", " + strconv.FormatFloat(g.Lng, 'g', -1, 64) + ", " +
			strconv.FormatFloat(g.Lat, 'g', -1, 64) + ")"
		where = append(where, p.Geo+" <= "+b.arg(g.MaxDistance))
		order = append(order, p.Geo)
	}
	if q.Filter != nil {
		w, err := b.node(q.Filter)
		if err != nil {
			return nil, fmt.Errorf("compile query: %w", err)
		}
		if w != "1" {
			where = append(where, w)
		}
	}
	if len(q.Sort) > 0 {
		order = order[:0]
	}
	seen := map[string]bool{}
	hasID := false
	for _, s := range q.Sort {
		if seen[s.Path] {
			continue
		}
		seen[s.Path] = true
		e, err := sortExprMixed(c, s.Path, s.Desc, mixed)
		if err != nil {
			return nil, fmt.Errorf("compile $sort: %w", err)
		}
		if s.Path == "_id" {
			hasID = true
		}
		if s.Desc {
			e += " DESC"
		} else {
			e += " ASC"
		}
		order = append(order, e)
	}
	if !hasID {
		order = append(order, "id DESC")
	}
	p.Where = strings.Join(where, " AND ")
	p.Args = b.args
	p.Order = strings.Join(order, ", ")
	if q.Limit > 0 {
		p.Limit = q.Limit
	}
	if q.Skip > 0 {
		p.Offset = q.Skip
	}
	if sideOK(b.cols, c, q) && !sortMixed(c, q, mixed) && !preferMain(c, q, b.cols) {
		sb := &builder{c: c, table: b.table, multikey: b.multikey, cols: b.cols, side: true, mixed: mixed}
		w, err := sb.node(q.Filter)
		if err == nil && !sb.sideFail {
			del := "deleted = 0"
			if purge {
				del = "1"
			}
			p.Side, p.SideArgs = del, sb.args
			p.SideIndexed = sideIndexed(c, q, b.cols)
			if w != "1" {
				p.Side += " AND " + w
			}
			hasID := false
			for _, s := range q.Sort {
				dir := " ASC"
				if s.Desc {
					dir = " DESC"
				}
				e := "id"
				if s.Path == "_id" {
					hasID = true
				} else {
					e, _ = sideSortCol(b.cols, c, s.Path)
				}
				if !slices.ContainsFunc(p.SideOrder, func(o string) bool { return strings.HasPrefix(o, e+" ") }) {
					p.SideOrder = append(p.SideOrder, e+dir)
				}
			}
			if !hasID {
				p.SideOrder = append(p.SideOrder, "id DESC")
			}
		}
	}
	return p, nil
}

// builder accumulates the WHERE clause's arguments.
type builder struct {
	c     *schema.Collection
	table string
	args  []any
	n     int
	// nullOK: the condition being compiled matches null (see condOn).
	nullOK bool
	// multikey lists the paths with a side table (see multikey.go).
	multikey []string
	// depth counts the join permission filters this builder is inside.
	depth int
	// cols maps JSON paths to the main table's typed columns (columns.go).
	cols map[string]column
	// side compiles over the side table alone (the side-only plan);
	// sideFail records a condition it cannot hold.
	side, sideFail bool
	// mixed tells the attrs holding values of other types than
	// declared (mixed.go); nil: none.
	mixed mixedFn
	// colGuard, when set, makes walkFrom read the side table's columns
	// of an indexed path too, for rows whose type column is in it
	// (mixed.go).
	colGuard string
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "?"
}

func (b *builder) alias(p string) string {
	b.n++
	return p + strconv.Itoa(b.n)
}

func (b *builder) node(n query.Node) (string, error) {
	switch n := n.(type) {
	case nil:
		return "1", nil
	case query.And:
		var parts []string
		for _, x := range n {
			s, err := b.node(x)
			if err != nil {
				return "", err
			}
			if s != "1" {
				parts = append(parts, s)
			}
		}
		switch len(parts) {
		case 0:
			return "1", nil
		case 1:
			return parts[0], nil
		}
		return "(" + strings.Join(parts, " AND ") + ")", nil
	case query.Or:
		if len(n) == 0 {
			return "0", nil
		}
		parts := make([]string, 0, len(n))
		mark := len(b.args)
		for _, x := range n {
			s, err := b.node(x)
			if err != nil {
				return "", err
			}
			if s == "1" {
				// The alternatives compiled so far are dropped: so
				// are their arguments.
				b.args = b.args[:mark]
				return "1", nil
			}
			parts = append(parts, s)
		}
		if len(parts) == 1 {
			return parts[0], nil
		}
		return "(" + strings.Join(parts, " OR ") + ")", nil
	case *query.Cond:
		return b.cond(n)
	case *query.Access:
		return b.access(n)
	}
	return "", fmt.Errorf("unknown filter node %T", n)
}

// leaf is one candidate value: its SQL value and its json_type. num and
// text say the schema declares the value a number or a string, so a
// comparison with an operand of that kind needs no json_type guard (it
// would read every document instead of using the index): SQLite never
// equates values of different storage classes, orders numbers before
// text, and a declared scalar is never a JSON boolean, array or object.
type leaf struct {
	val, typ  string
	num, text bool
	// col: val and typ are typed columns (columns.go), typ NULL where
	// the value is missing.
	col bool
}

// target is the document a condition looks at.
type target struct {
	doc, id string
	lookup  func(string) *schema.Type
	// coll is the collection of the document (nil when unknown).
	coll *schema.Collection
}

func (b *builder) mainTarget() target {
	return target{doc: "doc", id: "id", lookup: b.c.Lookup, coll: b.c}
}

func (b *builder) cond(c *query.Cond) (string, error) {
	neg := false
	op := c.Op
	switch op {
	case query.Ne:
		neg, op = true, query.Eq
	case query.Nin:
		neg, op = true, query.In
	}
	pos := *c
	pos.Op = op
	var s string
	var err error
	if c.Join != nil && b.side {
		b.sideFail = true
		return "0", nil
	}
	if c.Join != nil {
		s, err = b.join(&pos)
	} else {
		s, err = b.condOn(b.mainTarget(), &pos)
	}
	if err != nil {
		return "", fmt.Errorf("condition %s on %q: %w", c.Op, c.Path, err)
	}
	if neg {
		return negate(s), nil
	}
	return s, nil
}

func negate(s string) string {
	switch s {
	case "0":
		return "1"
	case "1":
		return "0"
	}
	return "NOT coalesce(" + s + ", 0)"
}

// join compiles a condition on a referenced document: an EXISTS over the
// referenced table.
//
// The referenced document must also pass j.Filter, the caller's read
// permission on it (see joinFilter); j.Deny hides every referenced
// document, so the EXISTS is false, exactly as for a missing reference.
func (b *builder) join(c *query.Cond) (string, error) {
	j := c.Join
	if j.Deny {
		return "0", nil
	}
	r := b.alias("r")
	var lookup func(string) *schema.Type
	var targetColl *schema.Collection
	if e := b.c.Extns[j.Local]; e != nil && e.Target != nil {
		lookup, targetColl = e.Target.Lookup, e.Target
	} else {
		lookup = func(string) *schema.Type { return nil }
	}
	outer := target{doc: b.table + ".doc", id: b.table + ".id", lookup: b.c.Lookup, coll: b.c}
	segs, err := splitPath(j.Local)
	if err != nil {
		return "", err
	}
	var link string
	lt := b.c.Lookup(j.Local)
	switch {
	case b.isMixed(outer, j.Local):
		// Values of other types than declared (mixed.go).
		link = r + ".id IN (SELECT value FROM json_each(limp_refs(" + outer.doc + " -> '" + jsonPath(segs[:1], nil) + "', " + sqlString(j.Local) + ")))"
	case !strings.Contains(j.Local, ".") && (j.IDList || lt != nil && lt.Kind == schema.List):
		link = r + ".id IN (SELECT value FROM json_each(" + outer.doc + ", '" + jsonPath(segs, nil) + "'))"
	case !strings.Contains(j.Local, "."):
		link = r + ".id = json_extract(" + outer.doc + ", '" + jsonPath(segs, nil) + "')"
	default:
		link, err = b.walk(outer, j.Local, func(l leaf) string { return r + ".id = " + l.val }, nil)
		if err != nil {
			return "", err
		}
	}
	// The link has no arguments; inner's follow in text order.
	inner, err := b.condOn(target{doc: r + ".doc", id: r + ".id", lookup: lookup, coll: targetColl}, c)
	if err != nil {
		return "", err
	}
	perm, err := b.joinFilter(j, targetColl, r)
	if err != nil {
		return "", err
	}
	return "EXISTS (SELECT 1 FROM " + quoteIdent("c_"+j.Collection) + " AS " + r + " WHERE " + r +
		".deleted = 0 AND " + link + " AND " + inner + perm + ")", nil
}

// matchesNull reports whether c matches a null or missing value.
func matchesNull(c *query.Cond) bool {
	switch c.Op {
	case query.Eq, query.Gte, query.Lte:
		return c.Value == nil
	case query.In:
		l, _ := c.Value.([]any)
		return slices.Contains(l, nil)
	}
	return false
}

// condOn compiles a positive condition (no Ne/Nin) on t.
func (b *builder) condOn(t target, c *query.Cond) (string, error) {
	// A condition matching null also matches a path through a list
	// that is missing or null ("items.qty" of a document without items),
	// as MongoDB does.
	defer func(prev bool) { b.nullOK = prev }(b.nullOK)
	b.nullOK = matchesNull(c)
	if c.Op != query.All && c.Op != query.Bet && b.isMixed(t, c.Path) {
		// Values of other types than declared (mixed.go).
		return b.general(t, c, func() (string, error) { return b.condTyped(t, c) })
	}
	return b.condTyped(t, c)
}

// condTyped is condOn with the schema's types trusted.
func (b *builder) condTyped(t target, c *query.Cond) (string, error) {
	if b.side && slices.Contains(b.multikey, c.Path) {
		b.sideFail = true
		return "0", nil
	}
	if t.doc == "doc" && slices.Contains(b.multikey, c.Path) {
		if s, ok := b.sideCond(c); ok {
			return s, nil
		}
	}
	switch c.Op {
	case query.Eq:
		v := sqlValue(c.Value)
		var whole func(leaf) string
		if isWhole(c.Value) {
			whole = func(l leaf) string { return b.eq(l, v) }
		}
		return b.walk(t, c.Path, func(l leaf) string { return b.eq(l, v) }, whole)
	case query.In:
		list, ok := c.Value.([]any)
		if !ok {
			return "", fmt.Errorf("needs a list, got %T", c.Value)
		}
		vals := make([]any, len(list))
		var wholes []any
		for i, x := range list {
			vals[i] = sqlValue(x)
			if isWhole(x) {
				wholes = append(wholes, vals[i])
			}
		}
		var whole func(leaf) string
		if len(wholes) > 0 {
			whole = func(l leaf) string { return b.in(l, wholes) }
		}
		return b.walk(t, c.Path, func(l leaf) string { return b.in(l, vals) }, whole)
	case query.All:
		list, ok := c.Value.([]any)
		if !ok {
			return "", fmt.Errorf("needs a list, got %T", c.Value)
		}
		if len(list) == 0 {
			return "0", nil
		}
		parts := make([]string, 0, len(list))
		for _, x := range list {
			s, err := b.condOn(t, &query.Cond{Path: c.Path, Op: query.Eq, Value: x})
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		if len(parts) == 1 {
			return parts[0], nil
		}
		return "(" + strings.Join(parts, " AND ") + ")", nil
	case query.Gt, query.Gte, query.Lt, query.Lte:
		v := sqlValue(c.Value)
		return b.walk(t, c.Path, func(l leaf) string { return b.cmp(l, c.Op, v) }, nil)
	case query.Bet:
		// MongoDB's {$gte, $lte}: on a list, one element may satisfy
		// the lower bound and another the upper.
		lo, err := b.condOn(t, &query.Cond{Path: c.Path, Op: query.Gte, Value: c.Value})
		if err != nil {
			return "", err
		}
		hi, err := b.condOn(t, &query.Cond{Path: c.Path, Op: query.Lte, Value: c.Value2})
		if err != nil {
			return "", err
		}
		return "(" + lo + " AND " + hi + ")", nil
	case query.Regex:
		s, ok := c.Value.(string)
		if !ok {
			return "", fmt.Errorf("needs a string, got %T", c.Value)
		}
		if len(s) > maxRegex {
			return "", fmt.Errorf("pattern longer than %d bytes", maxRegex)
		}
		if _, err := compileRegex(s); err != nil {
			return "", err
		}
		// The value crosses into Go as JSON text (json_quote), so that a
		// string holding NUL arrives whole.
		return b.walk(t, c.Path, func(l leaf) string {
			return "(" + l.typ + " = 'text' AND limp_regexp(" + b.arg(s) + ", json_quote(" + l.val + ")))"
		}, nil)
	}
	return "", fmt.Errorf("unknown operator %d", c.Op)
}

// isWhole reports whether an Eq operand can match a LIST value as a whole
// (null matches a missing or null list, a list an equal list).
func isWhole(v any) bool {
	switch v.(type) {
	case nil, []any:
		return true
	}
	return false
}

// walk compiles pred over the values at path in t's document: descending
// through LIST attrs element by element (json_each) where the path runs
// through them, and testing each element of a LIST leaf (and the list as a
// whole with whole, when given). Paths of unknown or ANY type test the
// value and, when it is an array, its elements.
func (b *builder) walk(t target, path string, pred, whole func(leaf) string) (string, error) {
	if b.side {
		return b.sideWalk(t, path, pred)
	}
	if path == "_id" {
		return pred(leaf{val: t.id, typ: "'text'", text: true}), nil
	}
	segs, err := splitPath(path)
	if err != nil {
		return "", err
	}
	return b.walkFrom(t.doc, segs, nil, t.lookup, pred, whole), nil
}

func (b *builder) walkFrom(src string, segs, done []string, lookup func(string) *schema.Type, pred, whole func(leaf) string) string {
	typeAt := func(n int) *schema.Type {
		if len(done)+n == 0 {
			return nil
		}
		return lookup(strings.Join(append(append([]string(nil), done...), segs[:n]...), "."))
	}
	var kinds []*schema.Type
	for i := range segs {
		kinds = append(kinds, typeAt(i))
		t := typeAt(i + 1)
		if i < len(segs)-1 && t != nil && t.Kind == schema.List && !isIndex(segs[i+1]) {
			jp := jsonPath(segs[:i+1], kinds)
			j := b.alias("j")
			rest := append(append([]string(nil), done...), segs[:i+1]...)
			inner := b.walkFrom(j+".value", segs[i+1:], rest, lookup, pred, whole)
			each := "EXISTS (SELECT 1 FROM json_each(" + src + ", '" + jp + "') AS " + j + " WHERE " + j +
				".type = 'object' AND " + inner + ")"
			if b.nullOK {
				typ := "json_type(" + src + ", '" + jp + "')"
				return "(" + typ + " IS NULL OR " + typ + " = 'null' OR " + each + ")"
			}
			return each
		}
	}
	jp := jsonPath(segs, kinds)
	scalar := leaf{val: "json_extract(" + src + ", '" + jp + "')", typ: "json_type(" + src + ", '" + jp + "')"}
	t := typeAt(len(segs))
	if t != nil {
		scalar.num = t.Kind == schema.Int || t.Kind == schema.Float
		scalar.text = t.Kind.Stringish()
	}
	elems := func() string {
		j := b.alias("j")
		return "EXISTS (SELECT 1 FROM json_each(" + src + ", '" + jp + "') AS " + j + " WHERE " +
			pred(leaf{val: j + ".value", typ: j + ".type"}) + ")"
	}
	if col, ok := b.cols[jp]; ok && (!col.indexed || b.colGuard != "") && src == "doc" && t != nil && t.Kind != schema.List && t.Kind != schema.Any {
		// The side table's columns hold this json_extract and json_type.
		l := leaf{val: col.name, typ: col.typ, num: scalar.num, text: scalar.text, col: true}
		guard := ""
		if b.colGuard != "" {
			guard = col.typ + " IN " + b.colGuard + " AND " // mixed.go
		}
		return "(" + b.table + ".rid IN (SELECT rid FROM " + colTableName(b.c.Name) + " WHERE " + guard + pred(l) + "))"
	}
	switch {
	case t != nil && t.Kind == schema.List:
		if whole != nil {
			w := whole(scalar) // arguments in text order
			return "(" + w + " OR " + elems() + ")"
		}
		return elems()
	case t == nil || t.Kind == schema.Any:
		s := pred(scalar)
		return "(" + s + " OR (" + scalar.typ + " = 'array' AND " + elems() + "))"
	}
	return pred(scalar)
}

// sideWalk is walk in the side-only plan: the condition over the side
// table's columns of path, or "0" with b.sideFail set when path has no
// column there or is not t's main document.
func (b *builder) sideWalk(t target, path string, pred func(leaf) string) (string, error) {
	segs, err := splitPath(path)
	if err != nil {
		return "", err
	}
	kinds := make([]*schema.Type, len(segs))
	for i := 1; i < len(segs); i++ {
		kinds[i] = t.lookup(strings.Join(segs[:i], "."))
	}
	col, ok := b.cols[jsonPath(segs, kinds)]
	typ := t.lookup(path)
	if path == "_id" || t.doc != "doc" || !ok || typ == nil || typ.Kind == schema.List || typ.Kind == schema.Any {
		b.sideFail = true
		return "0", nil
	}
	num := typ.Kind == schema.Int || typ.Kind == schema.Float
	l := leaf{val: col.name, typ: col.typ, num: num, text: typ.Kind.Stringish(), col: true}
	if b.colGuard != "" {
		// Rows of the declared type only (mixed.go).
		return "(" + col.typ + " IN " + b.colGuard + " AND " + pred(l) + ")", nil
	}
	return pred(l), nil
}

// scalarExpr is the SQL value at path (no list traversal), for $sort,
// $group and $geo_near.
func scalarExpr(c *schema.Collection, doc, id, path string) (string, error) {
	if path == "_id" {
		return id, nil
	}
	segs, err := splitPath(path)
	if err != nil {
		return "", err
	}
	kinds := make([]*schema.Type, len(segs))
	for i := 1; i < len(segs); i++ {
		kinds[i] = c.Lookup(strings.Join(segs[:i], "."))
	}
	return "json_extract(" + doc + ", '" + jsonPath(segs, kinds) + "')", nil
}

// sortExpr is the ORDER BY key of path. A path the schema declares a
// number, string or boolean, reached without crossing a LIST or ANY value,
// sorts by its json_extract value, which an expression index serves: for
// such a path SQLite's order (NULL, numbers, text) is MongoDB's. Any other
// path (ANY, LIST, DICT, UNION, undeclared, or running through a LIST)
// sorts by limp_sortkey over the top-level attr, which applies MongoDB's
// sort order (see sortKey).
func sortExpr(c *schema.Collection, path string, desc bool) (string, error) {
	if path == "_id" {
		return "id", nil
	}
	segs, err := splitPath(path)
	if err != nil {
		return "", err
	}
	plain := true
	for i := 1; i <= len(segs) && plain; i++ {
		t := c.Lookup(strings.Join(segs[:i], "."))
		switch {
		case t == nil:
			plain = false
		case i < len(segs):
			if t.Kind == schema.Any || t.Kind == schema.List && !isIndex(segs[i]) {
				plain = false
			}
		default:
			plain = t.Kind == schema.Int || t.Kind == schema.Float || t.Kind == schema.Bool || t.Kind.Stringish()
		}
	}
	if plain {
		return scalarExpr(c, "doc", "id", path)
	}
	d := "0"
	if desc {
		d = "1"
	}
	if code := typeCode(c.Attrs[segs[0]]); code != "" {
		d += ", " + sqlString(code) // IDs rank as ObjectIds
	}
	return "limp_sortkey(doc -> '" + jsonPath(segs[:1], nil) + "', '" + strings.Join(segs[1:], ".") + "', " + d + ")", nil
}

var plainSeg = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// splitPath splits and checks a dotted path: every segment non-empty and
// free of quotes, backslashes and control characters.
func splitPath(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("empty path")
	}
	segs := strings.Split(p, ".")
	for _, s := range segs {
		if s == "" || strings.ContainsAny(s, "\"'\\$") || strings.ContainsFunc(s, unicode.IsControl) {
			return nil, fmt.Errorf("invalid path %q", p)
		}
	}
	return segs, nil
}

func isIndex(seg string) bool {
	if seg == "" || len(seg) > 9 {
		return false
	}
	for _, r := range seg {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// jsonPath renders checked segments as an SQLite JSON path. kinds[i] is
// the type holding segs[i] (nil when unknown): a numeric segment under a
// LIST (or an unknown type) is an array index.
func jsonPath(segs []string, kinds []*schema.Type) string {
	var b strings.Builder
	b.WriteByte('$')
	for i, s := range segs {
		var k *schema.Type
		if i < len(kinds) {
			k = kinds[i]
		}
		switch {
		case isIndex(s) && i > 0 && (k == nil || k.Kind == schema.List || k.Kind == schema.Any || k.Kind == schema.Geo):
			b.WriteString("[" + s + "]")
		case plainSeg.MatchString(s):
			b.WriteString("." + s)
		default:
			b.WriteString(`."` + s + `"`)
		}
	}
	return b.String()
}

// sqlValue converts a canonical value to what is bound or compared: oid.ID
// as hex, lists and objects holding a number as their bsonorder key
// (wholeKey), other lists and objects as their JSON text (jsonText).
func sqlValue(v any) any {
	switch x := v.(type) {
	case oid.ID:
		return x.Hex()
	case int:
		return int64(x)
	case []any, map[string]any:
		if !hasNumber(x, 0) {
			if b, err := jsonv.Marshal(normalize(x)); err == nil {
				return jsonText(b)
			}
		}
		return wholeKey(valKey(x))
	}
	return v
}

// wholeKey is a list or object operand holding a number: its bsonorder
// key, compared with limp_valkey of the stored value, so that numbers
// compare as numbers at every depth (2 == 2.0), as in MongoDB.
type wholeKey []byte

// jsonText is a list or object operand without numbers: equal values then
// have equal canonical JSON texts (both sides written by jsonv), so the
// text compares in SQL, without a Go call per row.
type jsonText string

// hasNumber reports whether v holds a number at any depth.
func hasNumber(v any, depth int) bool {
	if depth > 64 {
		return true
	}
	switch x := v.(type) {
	case int, int64, float64:
		return true
	case []any:
		for _, e := range x {
			if hasNumber(e, depth+1) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasNumber(e, depth+1) {
				return true
			}
		}
	}
	return false
}

func (b *builder) eq(l leaf, v any) string {
	switch x := v.(type) {
	case nil:
		if l.col || strings.HasPrefix(l.typ, "json_type(") {
			return "(" + l.typ + " IS NULL OR " + l.typ + " = 'null')"
		}
		return "(" + l.typ + " = 'null')"
	case bool:
		if x {
			return "(" + l.typ + " = 'true')"
		}
		return "(" + l.typ + " = 'false')"
	case int64, float64:
		if l.num {
			return "(" + l.val + " = " + b.arg(x) + ")"
		}
		return "(" + l.typ + " IN ('integer', 'real') AND " + l.val + " = " + b.arg(x) + ")"
	case string:
		if l.text {
			return "(" + l.val + " = " + b.arg(x) + ")"
		}
		return "(" + l.typ + " = 'text' AND " + l.val + " = " + b.arg(x) + ")"
	case jsonText:
		return "(" + l.typ + " IN ('array', 'object') AND " + l.val + " = " + b.arg(string(x)) + ")"
	case wholeKey:
		return "(" + l.typ + " IN ('array', 'object') AND limp_valkey(" + l.val + ") = " + b.arg([]byte(x)) + ")"
	}
	return "0"
}

func (b *builder) in(l leaf, vals []any) string {
	var nums, strs, others []any
	for _, v := range vals {
		switch v.(type) {
		case int64, float64:
			nums = append(nums, v)
		case string:
			strs = append(strs, v)
		default:
			others = append(others, v)
		}
	}
	list := func(vs []any) string {
		ph := make([]string, len(vs))
		for i, v := range vs {
			ph[i] = b.arg(v)
		}
		return "(" + strings.Join(ph, ", ") + ")"
	}
	// Arguments are added in the order the SQL text uses them.
	var parts []string
	if len(strs) == 1 {
		parts = append(parts, b.eq(l, strs[0]))
	} else if len(strs) > 1 {
		if l.text {
			parts = append(parts, "("+l.val+" IN "+list(strs)+")")
		} else {
			parts = append(parts, "("+l.typ+" = 'text' AND "+l.val+" IN "+list(strs)+")")
		}
	}
	if len(nums) == 1 {
		parts = append(parts, b.eq(l, nums[0]))
	} else if len(nums) > 1 {
		if l.num {
			parts = append(parts, "("+l.val+" IN "+list(nums)+")")
		} else {
			parts = append(parts, "("+l.typ+" IN ('integer', 'real') AND "+l.val+" IN "+list(nums)+")")
		}
	}
	for _, v := range others {
		parts = append(parts, b.eq(l, v))
	}
	switch len(parts) {
	case 0:
		return "0"
	case 1:
		return parts[0]
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

var cmpOps = map[query.Op]string{query.Gt: ">", query.Gte: ">=", query.Lt: "<", query.Lte: "<="}

// cmp compiles a type-bracketed comparison: numbers with numbers, strings
// with strings, booleans with booleans.
func (b *builder) cmp(l leaf, op query.Op, v any) string {
	o := cmpOps[op]
	switch x := v.(type) {
	case nil:
		if op == query.Gte || op == query.Lte {
			return b.eq(l, nil)
		}
		return "0"
	case bool:
		n := int64(0)
		if x {
			n = 1
		}
		return "(" + l.typ + " IN ('true', 'false') AND " + l.val + " " + o + " " + b.arg(n) + ")"
	case int64, float64:
		if l.num {
			return "(" + l.val + " " + o + " " + b.arg(x) + ")"
		}
		return "(" + l.typ + " IN ('integer', 'real') AND " + l.val + " " + o + " " + b.arg(x) + ")"
	case string:
		if l.text {
			return "(" + l.val + " " + o + " " + b.arg(x) + ")"
		}
		return "(" + l.typ + " = 'text' AND " + l.val + " " + o + " " + b.arg(x) + ")"
	}
	return "0"
}

// access compiles an ACCESS check (spec §7.6).
func (b *builder) access(a *query.Access) (string, error) {
	if b.side {
		b.sideFail = true
		return "0", nil
	}
	segs, err := splitPath(a.Path)
	if err != nil {
		return "", fmt.Errorf("access: %w", err)
	}
	p := jsonPath(segs, nil)
	ju := b.alias("j")
	parts := []string{
		"(json_type(doc, '$.user') = 'text' AND json_extract(doc, '$.user') = " + b.arg(a.User.Hex()) + ")",
		"json_type(doc, '" + p + ".anon') = 'true'",
		"EXISTS (SELECT 1 FROM json_each(doc, '" + p + ".users') AS " + ju + " WHERE " + ju + ".value = " + b.arg(a.User.Hex()) + ")",
	}
	if len(a.Groups) > 0 {
		ph := make([]string, len(a.Groups))
		for i, g := range a.Groups {
			ph[i] = b.arg(g.Hex())
		}
		jg := b.alias("j")
		parts = append(parts, "EXISTS (SELECT 1 FROM json_each(doc, '"+p+".groups') AS "+jg+
			" WHERE "+jg+".value IN ("+strings.Join(ph, ", ")+"))")
	}
	return "(" + strings.Join(parts, " OR ") + ")", nil
}

// Explain returns the main SELECT q compiles to (the statement Read runs
// for the page of documents), with its arguments. With a nil Store, every
// stored value is taken to have its declared type (see mixed.go).
func (s *Store) Explain(c *schema.Collection, q *query.Query) (*store.Plan, error) {
	var mixed mixedFn
	if s != nil && s.check() == nil {
		mixed = s.mixedFor(context.Background(), c, false)
	}
	p, err := compile(c, q, false, mixed)
	if err != nil {
		return nil, err
	}
	sql, args := p.Select("id, doc")
	return &store.Plan{SQL: sql, Args: args}, nil
}

// Explain returns the main SELECT q compiles to over c; it needs no
// database (for App.Explain without a store).
func Explain(c *schema.Collection, q *query.Query) (*store.Plan, error) {
	return (*Store)(nil).Explain(c, q)
}
