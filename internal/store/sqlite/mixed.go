package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"

	"github.com/limp-go/limp/internal/jsonv"
	lmatch "github.com/limp-go/limp/internal/match"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// Values of another type than declared ("mixed" attrs).
//
// The compiler's typed comparisons (compile.go) rely on the schema: a
// declared number compares as `json_extract(doc, p) = ?` with no json_type
// guard (so that an expression index serves it), a declared scalar is
// never walked element by element, a declared DICT is never crossed as an
// array, sorts and `$group` on declared scalars use the json_extract value,
// and the side table's columns stand for the values. A stored value of
// another type (an attr whose type changed between app versions, a
// migrated file) breaks each of these: json_extract gives 1 / 0 for a JSON
// boolean, an object's JSON text for an object, a list is not matched
// element by element.
//
// The store therefore knows, per collection, which top-level attrs hold
// somewhere a value that does not conform to its declared type (see
// conforms; "mixed" attrs). They are kept in limp_meta: Sync scans the
// documents in SQL (badSQL) when the declared types changed since the
// last scan (or on a file that never had one), Insert and Update add the
// attrs of the documents they write, in their transaction, and note them
// in memory before they commit.
//
// A condition on a path of a mixed attr compiles to the general form
// (general): rows whose value at the path has the declared JSON type keep
// the typed comparison (over the side table's columns, the side-only plan
// included, the type column telling them apart), a missing or null value
// matches as null does, and only the other rows go to limp_cond, which
// evaluates the condition with internal/match (MongoDB's semantics, the
// reference live queries use) on the attr's JSON value. Sort and `$group`
// keys on such a path use MongoDB's order (limp_sortkey, limp_valkey), and
// references through it the ids internal/match reads (limp_refs).
// Conditions, sorts and groups on conforming attrs compile exactly as
// before, indexes and all: the common case costs the per-read lookup of
// the mixed set and the per-write check, nothing in SQL.
//
// A read compiled before a concurrent write made an attr mixed could see
// that write's rows through typed SQL: Read compares the generation of
// the mixed sets before and after and reruns (at most maxMixedRetries
// times, the last with every attr taken as mixed) when it changed. A file
// written concurrently by another process with values of other types is
// seen at this Store's next Sync.

// mixedState is a Store's knowledge of mixed attrs.
type mixedState struct {
	gen  atomic.Uint64 // bumped whenever an attr becomes mixed
	sets sync.Map      // collection key (name and mixedSig) → *mixedSet
	of   sync.Map      // *schema.Collection → its *mixedSet
}

// mixedSet is one collection's mixed top-level attrs.
type mixedSet struct {
	mu    sync.Mutex                      // serialises add
	known atomic.Bool                     // scanned (Sync or first read)
	attrs atomic.Pointer[map[string]bool] // copy on write
}

// set returns c's set, shared by every value describing the collection
// alike (its name and declared types, mixedSig): a write through one
// value and a read through another see the same attrs.
func (m *mixedState) set(c *schema.Collection) *mixedSet {
	if v, ok := m.of.Load(c); ok {
		return v.(*mixedSet)
	}
	v, _ := m.sets.LoadOrStore(c.Name+"\x00"+mixedSig(c), &mixedSet{})
	m.of.Store(c, v)
	return v.(*mixedSet)
}

// add records attrs as mixed in c (scanned marks a full scan).
func (m *mixedState) add(c *schema.Collection, attrs []string, scanned bool) {
	ms := m.set(c)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if scanned {
		defer ms.known.Store(true) // after the attrs
	}
	cur := ms.attrs.Load()
	var grown map[string]bool
	for _, a := range attrs {
		if cur != nil && (*cur)[a] || grown != nil && grown[a] {
			continue
		}
		if grown == nil {
			grown = map[string]bool{}
			if cur != nil {
				for k := range *cur {
					grown[k] = true
				}
			}
		}
		grown[a] = true
	}
	if grown != nil {
		ms.attrs.Store(&grown)
		m.gen.Add(1)
	}
}

// lookup returns c's mixed attrs and whether c was scanned.
func (m *mixedState) lookup(c *schema.Collection) (map[string]bool, bool) {
	ms := m.set(c)
	known := ms.known.Load()
	if p := ms.attrs.Load(); p != nil {
		return *p, known
	}
	return nil, known
}

// mixedAttrs returns the top-level attrs of doc (canonical or stored form)
// whose value does not conform to c's declared type, sorted.
func mixedAttrs(c *schema.Collection, doc map[string]any) []string {
	var out []string
	for k, v := range doc {
		if t := c.Attrs[k]; t != nil && k != "_id" && !conforms(c, t, v, 0) {
			out = append(out, k)
		}
	}
	return out
}

// conforms reports whether v can be compared by the typed SQL of t (see
// the package comment above): null, or a value of t's JSON type, DICTs,
// LOCALEs, GEOs, FILEs and LISTs recursively; an ANY value always; a
// UNION, LITERAL or other value unless it is a list (which the typed SQL
// would not walk element by element).
func conforms(c *schema.Collection, t *schema.Type, v any, depth int) bool {
	if v == nil || t == nil {
		return true
	}
	if depth > 32 {
		return false
	}
	isMap := func() (map[string]any, bool) { m, ok := v.(map[string]any); return m, ok }
	switch {
	case t.Kind == schema.Any:
		return true
	case t.Kind == schema.Int || t.Kind == schema.Float:
		switch v.(type) {
		case int64, int, float64:
			return true
		}
		return false
	case t.Kind == schema.Bool:
		_, ok := v.(bool)
		return ok
	case t.Kind.Stringish():
		switch v.(type) {
		case string, oid.ID:
			return true
		}
		return false
	case t.Kind == schema.Locale:
		m, ok := isMap()
		if !ok {
			return false
		}
		for _, x := range m {
			switch x.(type) {
			case nil, string:
			default:
				return false
			}
		}
		return true
	case t.Kind == schema.Dict:
		m, ok := isMap()
		if !ok {
			return false
		}
		for k, x := range m {
			f := t.Val
			if t.Fields != nil {
				f = t.Fields[k]
			}
			if !conforms(c, f, x, depth+1) {
				return false
			}
		}
		return true
	case t.Kind == schema.Geo || t.Kind == schema.File:
		m, ok := isMap()
		if !ok {
			return false
		}
		for k, x := range m {
			if f := (&schema.Collection{Attrs: map[string]*schema.Type{"v": t}}).Lookup("v." + k); f != nil && !conforms(c, f, x, depth+1) {
				return false
			}
		}
		return true
	case t.Kind == schema.List:
		l, ok := v.([]any)
		if !ok {
			return false
		}
		if len(t.Items) != 1 {
			return true // elements compare untyped
		}
		for _, x := range l {
			if !conforms(c, t.Items[0], x, depth+1) {
				return false
			}
		}
		return true
	}
	_, list := v.([]any)
	return !list
}

// scanMixed returns c's mixed attrs: the attrs some stored document (live
// or soft-deleted) holds a value of another type in, found in SQL (see
// badSQL) in one pass over the table; none when c has no table yet.
func scanMixed(ctx context.Context, q querier, c *schema.Collection) ([]string, error) {
	var tables int
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", "c_"+c.Name).Scan(&tables); err != nil || tables == 0 {
		return nil, err
	}
	var attrs, exprs []string
	n := 0
	for _, a := range sortedKeys(c.Attrs) {
		segs, err := splitPath(a)
		if a == "_id" || err != nil || len(segs) != 1 {
			continue
		}
		jp := jsonPath(segs, nil)
		if bad := badSQL(c.Attrs[a], "json_type(doc, '"+jp+"')", "doc", jp, 0, &n); bad != "" {
			attrs = append(attrs, a)
			exprs = append(exprs, "coalesce(max("+bad+"), 0)")
		}
	}
	if len(attrs) == 0 {
		return nil, nil
	}
	flags := make([]int64, len(attrs))
	ptrs := make([]any, len(attrs))
	for i := range flags {
		ptrs[i] = &flags[i]
	}
	if err := q.QueryRowContext(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM "+tableName(c.Name)).Scan(ptrs...); err != nil {
		return nil, err
	}
	var out []string
	for i, a := range attrs {
		if flags[i] != 0 {
			out = append(out, a)
		}
	}
	return out, nil
}

// badSQL is the SQL truth value of "the value whose JSON type is typ (at
// JSON path jp of the JSON src) does not conform to t" (see conforms: the
// same rule); "" when every value conforms. Structure below the value is
// only read under a CASE on typ, so that src may be a json_each value
// (SQL text for a scalar element).
func badSQL(t *schema.Type, typ, src, jp string, depth int, n *int) string {
	if t == nil || t.Kind == schema.Any {
		return ""
	}
	present := "(" + typ + " IS NOT NULL AND " + typ + " <> 'null')"
	if depth > 8 {
		return present // deeper than checked: taken as mixed
	}
	notIn := func(types string) string { return typ + " NOT IN (" + types + ", 'null')" }
	// under checks the structure of an object or array value.
	under := func(kind, check string) string {
		if check == "" {
			return ""
		}
		return " OR (CASE WHEN " + typ + " = '" + kind + "' THEN (" + check + ") ELSE 0 END)"
	}
	each := func(elem func(typ, src string) string) string {
		*n++
		e := "e" + strconv.Itoa(*n)
		bad := elem(e+".type", e+".value")
		if bad == "" {
			return ""
		}
		return "EXISTS (SELECT 1 FROM json_each(" + src + ", '" + jp + "') AS " + e + " WHERE " + bad + ")"
	}
	fields := func(names []string, child func(string) *schema.Type) string {
		var parts []string
		for _, f := range names {
			if !plainSeg.MatchString(f) {
				return present // a key this SQL does not quote: taken as mixed
			}
			if b := badSQL(child(f), "json_type("+src+", '"+jp+"."+f+"')", src, jp+"."+f, depth+1, n); b != "" {
				parts = append(parts, "("+b+")")
			}
		}
		return strings.Join(parts, " OR ")
	}
	switch {
	case t.Kind == schema.Int || t.Kind == schema.Float:
		return notIn("'integer', 'real'")
	case t.Kind == schema.Bool:
		return notIn("'true', 'false'")
	case t.Kind.Stringish():
		return notIn("'text'")
	case t.Kind == schema.Locale:
		return notIn("'object'") + under("object", each(func(typ, _ string) string { return typ + " NOT IN ('text', 'null')" }))
	case t.Kind == schema.Dict && t.Fields != nil:
		return notIn("'object'") + under("object", fields(sortedKeys(t.Fields), func(f string) *schema.Type { return t.Fields[f] }))
	case t.Kind == schema.Dict:
		return notIn("'object'") + under("object", each(func(typ, src string) string { return badSQL(t.Val, typ, src, "$", depth+1, n) }))
	case t.Kind == schema.Geo || t.Kind == schema.File:
		wrap := &schema.Collection{Attrs: map[string]*schema.Type{"v": t}}
		names := []string{"coordinates", "type"}
		if t.Kind == schema.File {
			names = []string{"lastModified", "name", "size", "type"}
		}
		return notIn("'object'") + under("object", fields(names, func(f string) *schema.Type { return wrap.Lookup("v." + f) }))
	case t.Kind == schema.List:
		if len(t.Items) != 1 {
			return notIn("'array'")
		}
		return notIn("'array'") + under("array", each(func(typ, src string) string { return badSQL(t.Items[0], typ, src, "$", depth+1, n) }))
	}
	return typ + " = 'array'"
}

// mixedKey prefixes the limp_meta keys naming c's mixed attrs
// ("mixed:<collection>/<attr>", one per attr); mixedSigKey holds the
// signature of the declared types they were found with (mixedSig).
func mixedKey(c *schema.Collection) string    { return "mixed:" + c.Name + "/" }
func mixedSigKey(c *schema.Collection) string { return "mixedsig:" + c.Name }

// mixedSig is a signature of c's declared types: a change of any of them
// makes Sync scan the documents again.
func mixedSig(c *schema.Collection) string {
	var b strings.Builder
	var typ func(t *schema.Type, depth int)
	typ = func(t *schema.Type, depth int) {
		if t == nil || depth > 16 {
			b.WriteString("-")
			return
		}
		b.WriteString(t.Kind.String())
		if len(t.Items) > 0 {
			b.WriteString("[")
			for _, it := range t.Items {
				typ(it, depth+1)
				b.WriteString(",")
			}
			b.WriteString("]")
		}
		if t.Fields != nil {
			b.WriteString("{")
			for _, k := range sortedKeys(t.Fields) {
				b.WriteString(strconv.Quote(k) + ":")
				typ(t.Fields[k], depth+1)
				b.WriteString(",")
			}
			b.WriteString("}")
		}
		if t.Val != nil {
			b.WriteString("<")
			typ(t.Val, depth+1)
			b.WriteString(">")
		}
	}
	b.WriteString("v1;")
	for _, k := range sortedKeys(c.Attrs) {
		b.WriteString(strconv.Quote(k) + ":")
		typ(c.Attrs[k], 0)
		b.WriteString(";")
	}
	return b.String()
}

// syncMixed records c's mixed attrs (in Sync's transaction): those kept
// in limp_meta when c's declared types are those they were found with
// (writes add to them, see persistMixed), else a scan of every document,
// whose result replaces them.
func (s *Store) syncMixed(ctx context.Context, q querier, c *schema.Collection) error {
	sig := mixedSig(c)
	var have string
	if err := q.QueryRowContext(ctx, "SELECT coalesce((SELECT value FROM limp_meta WHERE key = ?), '')", mixedSigKey(c)).Scan(&have); err != nil {
		return err
	}
	prefix := mixedKey(c)
	if have == sig {
		rows, err := q.QueryContext(ctx, "SELECT substr(key, length(?1) + 1) FROM limp_meta WHERE substr(key, 1, length(?1)) = ?1", prefix)
		if err != nil {
			return err
		}
		defer rows.Close()
		var attrs []string
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				return err
			}
			attrs = append(attrs, a)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		s.mx.add(c, attrs, true)
		return nil
	}
	attrs, err := scanMixed(ctx, q, c)
	if err != nil {
		return fmt.Errorf("scan attr types: %w", err)
	}
	if _, err := q.ExecContext(ctx, "DELETE FROM limp_meta WHERE substr(key, 1, length(?1)) = ?1", prefix); err != nil {
		return err
	}
	for _, a := range attrs {
		if _, err := q.ExecContext(ctx, "INSERT INTO limp_meta (key, value) VALUES (?, '') ON CONFLICT (key) DO NOTHING", prefix+a); err != nil {
			return err
		}
	}
	if _, err := q.ExecContext(ctx, "INSERT INTO limp_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", mixedSigKey(c), sig); err != nil {
		return err
	}
	s.mx.add(c, attrs, true)
	return nil
}

// noteMixed records the mixed attrs of docs about to be written to c
// (before their transaction commits) and returns them, for persistMixed.
func (s *Store) noteMixed(c *schema.Collection, docs ...map[string]any) []string {
	var all []string
	for _, d := range docs {
		for _, a := range mixedAttrs(c, d) {
			if !slices.Contains(all, a) {
				all = append(all, a)
			}
		}
	}
	if len(all) > 0 {
		s.mx.add(c, all, false)
	}
	return all
}

// persistMixed records attrs as mixed in limp_meta, in the writing
// transaction of ctx: a later Sync (another process) knows them without a
// scan.
func (s *Store) persistMixed(ctx context.Context, c *schema.Collection, attrs []string) error {
	for _, a := range attrs {
		if _, err := s.exec(ctx, "INSERT INTO limp_meta (key, value) VALUES (?, '') ON CONFLICT (key) DO NOTHING", mixedKey(c)+a); err != nil {
			return fmt.Errorf("record mixed attr %s: %w", a, err)
		}
	}
	return nil
}

// mixedFor returns the mixed-attr test compile uses for a read of c: c and
// the collections its references name are scanned first when this Store
// has not seen them (an unscanned collection reached deeper counts every
// attr mixed). all makes every attr mixed (see Read).
func (s *Store) mixedFor(ctx context.Context, c *schema.Collection, all bool) mixedFn {
	if all {
		return func(*schema.Collection, string) bool { return true }
	}
	ensure := func(c *schema.Collection) {
		if c == nil {
			return
		}
		if _, known := s.mx.lookup(c); known {
			return
		}
		if attrs, err := scanMixed(ctx, s.q(ctx), c); err == nil {
			s.mx.add(c, attrs, true)
		}
	}
	ensure(c)
	for _, e := range c.Extns {
		ensure(e.Target)
	}
	return func(c *schema.Collection, attr string) bool {
		if c == nil {
			return false
		}
		m, known := s.mx.lookup(c)
		return !known || m[attr]
	}
}

// mixedFn reports whether attr (top-level) of c is mixed; nil means none
// is.
type mixedFn func(c *schema.Collection, attr string) bool

// maxMixedRetries bounds the reruns of a read whose mixed sets changed
// while it ran; the last rerun compiles every attr as mixed.
const maxMixedRetries = 3

// Read runs q. See read, and the package comment on mixed attrs above.
func (s *Store) Read(ctx context.Context, c *schema.Collection, q *query.Query) (*store.Result, error) {
	for i := 0; ; i++ {
		gen := s.mx.gen.Load()
		res, err := s.read(ctx, c, q, s.mixedFor(ctx, c, i == maxMixedRetries))
		if err != nil || i == maxMixedRetries || s.mx.gen.Load() == gen {
			return res, err
		}
	}
}

// isMixed reports whether path, in t's document, lies in a mixed attr.
func (b *builder) isMixed(t target, path string) bool {
	if b.mixed == nil || path == "_id" || t.coll == nil {
		return false
	}
	top, _, _ := strings.Cut(path, ".")
	return b.mixed(t.coll, top)
}

// general compiles a positive condition (Eq, In, ranges, Regex) on a path
// of a mixed attr: limp_cond over the attr's JSON value (NULL when
// missing). Where the path is a declared scalar reached through objects
// only, rows whose value there has the declared JSON type keep the typed
// comparison (typed, exact for them: the path then holds that one value),
// over the side table's columns when it has the path (in the side-only
// plan too), a missing or null top-level attr matches as null does, and
// only the other rows go to Go (reading their document).
func (b *builder) general(t target, c *query.Cond, typed func() (string, error)) (string, error) {
	switch c.Op {
	case query.In:
		if _, ok := c.Value.([]any); !ok {
			return "", fmt.Errorf("needs a list, got %T", c.Value)
		}
	case query.Regex:
		s, ok := c.Value.(string)
		if !ok {
			return "", fmt.Errorf("needs a string, got %T", c.Value)
		}
		if _, err := compileRegex(s); err != nil {
			return "", err
		}
	}
	segs, err := splitPath(c.Path)
	if err != nil {
		return "", err
	}
	operand, err := jsonv.Marshal(normalize(c.Value))
	if err != nil {
		return "", err
	}
	top := jsonPath(segs[:1], nil)
	slow := func(doc string) string {
		return "limp_cond(" + doc + " -> '" + top + "', " + b.arg(c.Path) + ", " + b.arg(int64(c.Op)) + ", " + b.arg(string(operand)) + ")"
	}
	declared, kinds := declaredJSONTypes(t.lookup, segs)
	jp := ""
	col, hasCol := column{}, false
	if declared != "" {
		jp = jsonPath(segs, kinds)
		col, hasCol = b.cols[jp]
	}
	if b.side && (!hasCol || t.doc != "doc") {
		b.sideFail = true
		return "0", nil
	}
	if declared == "" {
		return slow(t.doc), nil
	}
	// others: the rows of another type, which Go reads; nulls: a
	// missing or null top-level attr, which matches as null does.
	others := func(typ string) string { return "(" + typ + " IS NULL OR " + typ + " NOT IN " + declared + ")" }
	nulls := func(string) string { return "" }
	if len(segs) == 1 {
		others = func(typ string) string { return "(" + typ + " NOT IN " + declared + " AND " + typ + " <> 'null')" }
		if matchesNull(c) {
			nulls = func(typ string) string { return "(" + typ + " IS NULL OR " + typ + " = 'null')" }
		}
	}
	var fast string
	if hasCol && t.doc == "doc" {
		// Typed SQL over the side table's columns, guarded by the type
		// column (see walkFrom and sideWalk).
		saved := b.colGuard
		b.colGuard = declared
		fast, err = typed()
		b.colGuard = saved
	} else {
		// Typed SQL over the document (the column branch off: it must
		// read this row's value).
		saved := b.cols
		b.cols = nil
		fast, err = typed()
		b.cols = saved
	}
	if err != nil {
		return "", err
	}
	k := colTableName(b.c.Name)
	switch {
	case b.side:
		doc := "(SELECT m_.doc FROM " + b.table + " AS m_ WHERE m_.rid = " + k + ".rid)"
		s := "(" + fast + " OR (" + others(col.typ) + " AND " + slow(doc) + ")"
		if n := nulls(col.typ); n != "" {
			s += " OR " + n
		}
		return s + ")", nil
	case hasCol && t.doc == "doc":
		s := "(" + fast + " OR (" + b.table + ".rid IN (SELECT rid FROM " + k + " WHERE " + others(col.typ) + ") AND " + slow(t.doc) + ")"
		if n := nulls(col.typ); n != "" {
			s += " OR " + b.table + ".rid IN (SELECT rid FROM " + k + " WHERE " + n + ")"
		}
		return s + ")", nil
	}
	typ := "json_type(" + t.doc + ", '" + jp + "')"
	s := "(CASE WHEN " + typ + " IN " + declared + " THEN " + fast
	if len(segs) == 1 {
		v := "0"
		if matchesNull(c) {
			v = "1"
		}
		s += " WHEN " + typ + " IS NULL OR " + typ + " = 'null' THEN " + v
	}
	return s + " ELSE " + slow(t.doc) + " END)", nil
}

// declaredJSONTypes returns the JSON types (an SQL list) of the declared
// scalar at segs, and the types holding each segment, or "" when segs
// cross something else than typed DICTs and LOCALEs (a LIST, an ANY, an
// undeclared path) or end elsewhere than at a number, boolean or string.
func declaredJSONTypes(lookup func(string) *schema.Type, segs []string) (string, []*schema.Type) {
	kinds := make([]*schema.Type, len(segs))
	for i := 1; i < len(segs); i++ {
		k := lookup(strings.Join(segs[:i], "."))
		if k == nil || k.Kind != schema.Dict && k.Kind != schema.Locale {
			return "", nil
		}
		kinds[i] = k
	}
	t := lookup(strings.Join(segs, "."))
	switch {
	case t == nil:
	case t.Kind == schema.Int || t.Kind == schema.Float:
		return "('integer', 'real')", kinds
	case t.Kind.Stringish():
		return "('text')", kinds
	case t.Kind == schema.Bool:
		return "('true', 'false')", kinds
	}
	return "", nil
}

// condFunc is limp_cond(json, path, op, operand): 1 when the positive
// condition (path op operand, operand as JSON text) holds on a document
// whose top-level attr of path is json (the attr's JSON text, NULL when
// missing), in internal/match's (MongoDB's) semantics; else 0.
func condFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	v, err := parseJSONArg(args[0])
	if err != nil {
		return nil, fmt.Errorf("limp_cond: %w", err)
	}
	path, _ := args[1].(string)
	op, _ := args[2].(int64)
	x, err := parseJSONArg(args[3])
	if err != nil {
		return nil, fmt.Errorf("limp_cond: operand: %w", err)
	}
	top, _, _ := strings.Cut(path, ".")
	doc := map[string]any{}
	if args[0] != nil {
		doc[top] = v
	}
	if lmatch.Match(&query.Cond{Path: path, Op: query.Op(op), Value: x}, doc, nil) {
		return int64(1), nil
	}
	return int64(0), nil
}

// sortExprMixed is sortExpr, a path of a mixed attr sorting by MongoDB's
// order (limp_sortkey) whatever its declared type.
func sortExprMixed(c *schema.Collection, path string, desc bool, mixed mixedFn) (string, error) {
	if top, _, _ := strings.Cut(path, "."); path == "_id" || mixed == nil || !mixed(c, top) {
		return sortExpr(c, path, desc)
	}
	segs, err := splitPath(path)
	if err != nil {
		return "", err
	}
	d := "0"
	if desc {
		d = "1"
	}
	if code := typeCode(c.Attrs[segs[0]]); code != "" {
		d += ", " + sqlString(code)
	}
	return "limp_sortkey(doc -> '" + jsonPath(segs[:1], nil) + "', '" + strings.Join(segs[1:], ".") + "', " + d + ")", nil
}

// sortMixed reports whether a sort key of q lies in a mixed attr (the
// side table's columns cannot order it).
func sortMixed(c *schema.Collection, q *query.Query, mixed mixedFn) bool {
	if mixed == nil {
		return false
	}
	for _, s := range q.Sort {
		if top, _, _ := strings.Cut(s.Path, "."); s.Path != "_id" && mixed(c, top) {
			return true
		}
	}
	return false
}

// groupPlain is groupPlain for the read p compiles: a path of a mixed
// attr is never plain.
func (p *Compiled) groupPlain(c *schema.Collection, path string) bool {
	if top, _, _ := strings.Cut(path, "."); path != "_id" && p.mixed != nil && p.mixed(c, top) {
		return false
	}
	return groupPlain(c, path)
}

// groupExprsMixed is groupExprs, a path of a mixed attr grouping by
// MongoDB's order of its values (limp_valkey) whatever its declared type.
func groupExprsMixed(c *schema.Collection, path string, mixed mixedFn) (key, rep string, err error) {
	if top, _, _ := strings.Cut(path, "."); path == "_id" || mixed == nil || !mixed(c, top) {
		return groupExprs(c, path)
	}
	segs, err := splitPath(path)
	if err != nil {
		return "", "", err
	}
	rep = "limp_exprval(doc -> '" + jsonPath(segs[:1], nil) + "', " + sqlString(strings.Join(segs[1:], ".")) + ")"
	if code := typeCode(groupType(c, path)); code != "" {
		return "limp_valkey(" + rep + ", " + sqlString(code) + ")", rep, nil
	}
	return "limp_valkey(" + rep + ")", rep, nil
}

// refsFunc is limp_refs(json, path): the JSON array of the ids (hex) a
// reference at path names in a document whose top-level attr of path is
// json (NULL when missing), as internal/match reads them: the ObjectId
// strings among the values at path and the elements of lists there.
func refsFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	v, err := parseJSONArg(args[0])
	if err != nil {
		return nil, fmt.Errorf("limp_refs: %w", err)
	}
	path, _ := args[1].(string)
	top, _, _ := strings.Cut(path, ".")
	doc := map[string]any{}
	if args[0] != nil {
		doc[top] = v
	}
	ids := []any{}
	add := func(x any) {
		if s, ok := x.(string); ok {
			if id, err := oid.Parse(s); err == nil {
				ids = append(ids, id.Hex())
			}
		}
	}
	for _, x := range lmatch.Values(doc, path) {
		if l, ok := x.([]any); ok {
			for _, e := range l {
				add(e)
			}
			continue
		}
		add(x)
	}
	b, err := jsonv.Marshal(ids)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}
