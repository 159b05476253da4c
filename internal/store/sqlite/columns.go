package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/limp-go/limp/internal/query"
	"slices"
	"strings"
	"sync"

	"github.com/limp-go/limp/internal/schema"
)

// Typed columns. Each collection with declared scalar attrs has a narrow
// side table "k_<name>"(rid INTEGER PRIMARY KEY, id, deleted, "a:<path>",
// "t:<path>", ...) holding, for every row of its table (live and
// soft-deleted), the json_extract and the json_type of each such path:
// every path the schema types INT, FLOAT, BOOL or a string kind, reached
// from the top through typed DICTs (and the app's locales of a LOCALE
// attr) without crossing a LIST or ANY value, indexed or not. It also
// mirrors each plain index whose keys are all such paths (sideplan.go).
// Triggers on the collection's table keep it in step, in the writing
// transaction.
//
// In the main table's plan a condition on an unindexed such path (indexed
// paths keep their expression indexes) compiles to
//
//	"c_<name>".rid IN (SELECT rid FROM "k_<name>" WHERE <condition>)
//
// where <condition> is the very SQL the compiler writes over
// json_extract(doc, path) and json_type(doc, path), over the two columns
// holding those values instead: the same semantics whatever the stored
// value (missing, null, another type than declared), and the set being
// true exactly where the condition is (negations are coalesced, see
// negate). SQLite then scans the narrow table (a few bytes a row) instead
// of parsing every document: see BENCHMARKS.md, "Store layout".
//
// Sync creates the table, its triggers and fills it (in its transaction)
// when missing or when its definition changed (recorded in limp_meta as
// "columns:<name>"): a database of an older layout gains it on its first
// Sync, atomically.

// maxColumns bounds the typed columns of one table (SQLite allows 2000
// columns; each costs a little on every write).
const maxColumns = 200

// column is one typed column.
type column struct {
	path string // dotted attr path
	name string // quoted column name
	expr string // json_extract(doc, ...) it stores
	jp   string // its JSON path
	typ  string // quoted name of its json_type column
	// indexed: an index or unique set names the path; conditions in
	// the main table's plans keep its expression index.
	indexed bool
}

// columnsOff turns typed columns off (tests and benchmarks only: the old
// layout, for ratios measured in one run).
var columnsOff atomic.Bool

// columns returns c's typed columns, sorted by path.
func columns(c *schema.Collection) []column {
	if columnsOff.Load() {
		return nil
	}
	var paths []string
	var walk func(prefix string, t *schema.Type, depth int)
	walk = func(prefix string, t *schema.Type, depth int) {
		if t == nil || depth > 8 {
			return
		}
		switch {
		case t.Kind == schema.Int || t.Kind == schema.Float || t.Kind == schema.Bool || t.Kind.Stringish():
			paths = append(paths, prefix)
		case t.Kind == schema.Dict && t.Fields != nil:
			for k, f := range t.Fields {
				walk(prefix+"."+k, f, depth+1)
			}
		case t.Kind == schema.Locale && c.Locales != nil:
			for _, l := range c.Locales {
				walk(prefix+"."+l, c.Lookup(prefix+"."+l), depth+1)
			}
		}
	}
	for k, t := range c.Attrs {
		if k == "_id" || k == deletedField || slices.Contains(c.Search, k) && !sideLayoutV1.Load() {
			// Search attrs (free text, often long) would widen
			// every row of the side table; their conditions read
			// the documents.
			continue
		}
		walk(k, t, 0)
	}
	slices.Sort(paths)
	indexed := map[string]bool{}
	for _, set := range c.Unique {
		for _, p := range set {
			indexed[p] = true
		}
	}
	for _, ix := range c.Indexes {
		for _, k := range ix {
			indexed[k.Path] = true
		}
	}
	var out []column
	for _, p := range paths {
		segs, err := splitPath(p)
		if err != nil || len(out) == maxColumns {
			continue
		}
		if t := c.Lookup(p); t == nil || !(t.Kind == schema.Int || t.Kind == schema.Float || t.Kind == schema.Bool || t.Kind.Stringish()) {
			continue
		}
		kinds := make([]*schema.Type, len(segs))
		for i := 1; i < len(segs); i++ {
			kinds[i] = c.Lookup(strings.Join(segs[:i], "."))
		}
		jp := jsonPath(segs, kinds)
		out = append(out, column{path: p, name: quoteIdent("a:" + p), typ: quoteIdent("t:" + p), expr: "json_extract(doc, '" + jp + "')", jp: jp, indexed: indexed[p]})
	}
	return out
}

// colCache caches columnByPath by collection; Sync forgets c's entry, so
// that a collection changed and synced again gets its new columns.
var colCache sync.Map // *schema.Collection -> map[string]column

// columnByPath maps the JSON path of each typed column of c to it.
func columnByPath(c *schema.Collection) map[string]column {
	if columnsOff.Load() {
		return nil
	}
	if m, ok := colCache.Load(c); ok {
		return m.(map[string]column)
	}
	cols := columns(c)
	m := make(map[string]column, len(cols))
	for _, col := range cols {
		m[col.jp] = col
	}
	colCache.Store(c, m)
	return m
}

func colTableName(name string) string { return quoteIdent("k_" + name) }

// sideOK reports whether the side table holds every value the filter and
// the sort of q need; compile then also writes the side-only plan.
func sideOK(cols map[string]column, c *schema.Collection, q *query.Query) bool {
	if q.Filter == nil || q.Search != "" || q.GeoNear != nil || q.Limit <= 0 || len(cols) == 0 {
		return false
	}
	for _, s := range q.Sort {
		if s.Path == "_id" {
			continue
		}
		if _, ok := sideSortCol(cols, c, s.Path); !ok {
			return false
		}
	}
	return true
}

// sideSortCol is the side table's column of a sort path.
func sideSortCol(cols map[string]column, c *schema.Collection, path string) (string, bool) {
	segs, err := splitPath(path)
	if err != nil {
		return "", false
	}
	kinds := make([]*schema.Type, len(segs))
	for i := 1; i < len(segs); i++ {
		kinds[i] = c.Lookup(strings.Join(segs[:i], "."))
	}
	col, ok := cols[jsonPath(segs, kinds)]
	return col.name, ok
}

// colTriggers are the names of the triggers keeping c's side table.
func colTriggers(c *schema.Collection) [3]string {
	return [3]string{quoteIdent("k_" + c.Name + "_ins"), quoteIdent("k_" + c.Name + "_upd"), quoteIdent("k_" + c.Name + "_del")}
}

// syncColumns creates, rebuilds or drops c's side table of typed columns.
func syncColumns(ctx context.Context, q querier, c *schema.Collection) error {
	colCache.Delete(c)
	cols := columns(c)
	k, t, trig := colTableName(c.Name), tableName(c.Name), colTriggers(c)
	key := "columns:" + c.Name
	var want strings.Builder
	want.WriteString("CREATE TABLE " + k + " (rid INTEGER PRIMARY KEY, id TEXT NOT NULL, deleted INTEGER NOT NULL")
	names := []string{"rid", "id", "deleted"}
	vals := func(row string) string {
		out := row + ".rid, " + row + ".id, " + row + ".deleted"
		for _, col := range cols {
			out += ", json_extract(" + row + ".doc, '" + col.jp + "'), json_type(" + row + ".doc, '" + col.jp + "')"
		}
		return out
	}
	for _, col := range cols {
		want.WriteString(", " + col.name + ", " + col.typ)
		names = append(names, col.name, col.typ)
	}
	want.WriteString(")")
	var idx []string
	for _, ix := range sideIndexes(c, cols) {
		idx = append(idx, "CREATE INDEX "+ix.name+" ON "+k+" ("+strings.Join(ix.keys, ", ")+") WHERE deleted = 0")
	}
	if len(idx) > 0 {
		// Recorded with the table: a change of either rebuilds both.
		want.WriteString("; " + strings.Join(idx, "; "))
	}
	var have string
	if err := q.QueryRowContext(ctx, "SELECT coalesce((SELECT value FROM limp_meta WHERE key = ?), '')", key).Scan(&have); err != nil {
		return err
	}
	if len(cols) > 0 && have == want.String() {
		return nil
	}
	for _, st := range []string{"DROP TRIGGER IF EXISTS " + trig[0], "DROP TRIGGER IF EXISTS " + trig[1],
		"DROP TRIGGER IF EXISTS " + trig[2], "DROP TABLE IF EXISTS " + k} {
		if _, err := q.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("typed columns: %w", err)
		}
	}
	if len(cols) == 0 {
		_, err := q.ExecContext(ctx, "DELETE FROM limp_meta WHERE key = ?", key)
		return err
	}
	list := strings.Join(names, ", ")
	create, _, _ := strings.Cut(want.String(), "; ")
	for _, st := range []string{
		create,
		"CREATE TRIGGER " + trig[0] + " AFTER INSERT ON " + t + " BEGIN INSERT INTO " + k + " (" + list + ") VALUES (" + vals("new") + "); END",
		"CREATE TRIGGER " + trig[1] + " AFTER UPDATE OF doc, deleted ON " + t + " BEGIN INSERT OR REPLACE INTO " + k + " (" + list + ") VALUES (" + vals("new") + "); END",
		"CREATE TRIGGER " + trig[2] + " AFTER DELETE ON " + t + " BEGIN DELETE FROM " + k + " WHERE rid = old.rid; END",
		"INSERT INTO " + k + " (" + list + ") SELECT " + vals("d") + " FROM " + t + " AS d",
	} {
		if _, err := q.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("typed columns: %w", err)
		}
	}
	// Indexes after the fill: one sort each instead of a b-tree insert
	// per row.
	for _, st := range idx {
		if _, err := q.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("typed columns: %w", err)
		}
	}
	_, err := q.ExecContext(ctx, "INSERT INTO limp_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, want.String())
	return err
}
