package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// A plain index on a LIST of scalars or on a scalar field of a LIST of
// DICTs (a c.Indexes entry with one key, e.g. "tags", "refs" or
// "items.by") is kept as a multikey side table, as MongoDB indexes every
// element: "x_<collection>.<path>"(v, rid) holds each distinct
// string or number element of each live document, maintained by triggers
// on the collection's table. Eq and In conditions with string or number
// operands on the path (and Ne, Nin, All built from them) compile to
// "rid IN (SELECT rid FROM side WHERE v = ?)", an index lookup instead of
// a json_each over every document.

// multikeyPaths returns the paths of c's plain indexes kept as side
// tables, sorted.
func multikeyPaths(c *schema.Collection) []string {
	var out []string
	for _, ix := range c.Indexes {
		if len(ix) == 1 && isMultikey(c, ix[0].Path) && !slices.Contains(out, ix[0].Path) {
			out = append(out, ix[0].Path)
		}
	}
	slices.Sort(out)
	return out
}

// isMultikey reports whether path can have a side table: a LIST of one
// scalar item kind ("tags"), or a scalar field of the DICT items of a
// LIST ("items.by"), reached without crossing another LIST or ANY value.
func isMultikey(c *schema.Collection, path string) bool {
	_, _, ok := splitMultikey(c, path)
	return ok
}

// splitMultikey splits a multikey path into the JSON path of its list and
// the JSON path of the field inside each element ("" for a list of
// scalars).
func splitMultikey(c *schema.Collection, path string) (list, field string, ok bool) {
	segs, err := splitPath(path)
	if err != nil {
		return "", "", false
	}
	scalar := func(t *schema.Type) bool {
		return t != nil && (t.Kind == schema.Int || t.Kind == schema.Float || t.Kind.Stringish())
	}
	for i := 1; i <= len(segs); i++ {
		t := c.Lookup(strings.Join(segs[:i], "."))
		switch {
		case t == nil || t.Kind == schema.Any:
			return "", "", false
		case t.Kind != schema.List:
			continue
		case len(t.Items) != 1:
			return "", "", false
		case i == len(segs):
			return jsonPath(segs, nil), "", scalar(t.Items[0])
		}
		// A list crossed: the rest are fields of its DICT items.
		if t.Items[0].Kind != schema.Dict || isIndex(segs[i]) {
			return "", "", false
		}
		for j := i + 1; j <= len(segs); j++ {
			u := c.Lookup(strings.Join(segs[:j], "."))
			if u == nil || u.Kind == schema.List || u.Kind == schema.Any {
				return "", "", false
			}
			if j == len(segs) && !scalar(u) {
				return "", "", false
			}
		}
		return jsonPath(segs[:i], nil), jsonPath(segs[i:], nil), true
	}
	return "", "", false
}

func sideName(c *schema.Collection, path string) string {
	return quoteIdent("x_" + c.Name + "." + path)
}

// sideTriggers are the names of the triggers keeping path's side table.
func sideTriggers(c *schema.Collection, path string) [3]string {
	p := "limp_x_" + c.Name + "." + path
	return [3]string{quoteIdent(p + "_ai"), quoteIdent(p + "_au"), quoteIdent(p + "_ad")}
}

// syncMultikey creates the side tables c declares (filling new ones) and
// drops those it no longer declares.
func syncMultikey(ctx context.Context, q querier, c *schema.Collection) error {
	key := "multikey:" + c.Name
	var haveList string
	if err := q.QueryRowContext(ctx, "SELECT coalesce((SELECT value FROM limp_meta WHERE key = ?), '')", key).Scan(&haveList); err != nil {
		return err
	}
	var have []string
	if haveList != "" {
		have = strings.Split(haveList, "\n")
	}
	want := multikeyPaths(c)
	for _, p := range have {
		if slices.Contains(want, p) {
			continue
		}
		trig := sideTriggers(c, p)
		for _, st := range []string{"DROP TRIGGER IF EXISTS " + trig[0], "DROP TRIGGER IF EXISTS " + trig[1],
			"DROP TRIGGER IF EXISTS " + trig[2], "DROP TABLE IF EXISTS " + sideName(c, p)} {
			if _, err := q.ExecContext(ctx, st); err != nil {
				return fmt.Errorf("drop multikey index %s: %w", p, err)
			}
		}
	}
	t := tableName(c.Name)
	for _, p := range want {
		side, trig := sideName(c, p), sideTriggers(c, p)
		list, field, _ := splitMultikey(c, p)
		val, typ := "j.value", "j.type IN ('text', 'integer', 'real')"
		if field != "" {
			val = "json_extract(j.value, '" + field + "')"
			typ = "j.type = 'object' AND json_type(j.value, '" + field + "') IN ('text', 'integer', 'real')"
		}
		// elems selects the (value, rid) pairs of the document row.
		elems := func(row string) string {
			return "SELECT " + val + ", " + row + ".rid FROM json_each(" + row + ".doc, '" + list + "') AS j WHERE " + typ
		}
		stmts := []string{
			"CREATE TABLE IF NOT EXISTS " + side + " (v, rid INTEGER NOT NULL, PRIMARY KEY (v, rid)) WITHOUT ROWID",
			"CREATE INDEX IF NOT EXISTS " + quoteIdent("x_"+c.Name+"."+p+"_rid") + " ON " + side + " (rid)",
			"CREATE TRIGGER IF NOT EXISTS " + trig[0] + " AFTER INSERT ON " + t + " WHEN new.deleted = 0 BEGIN " +
				"INSERT OR IGNORE INTO " + side + " (v, rid) " + elems("new") + "; END",
			"CREATE TRIGGER IF NOT EXISTS " + trig[1] + " AFTER UPDATE OF doc, deleted ON " + t + " BEGIN " +
				"DELETE FROM " + side + " WHERE rid = old.rid; " +
				"INSERT OR IGNORE INTO " + side + " (v, rid) " + elems("new") + " AND new.deleted = 0; END",
			"CREATE TRIGGER IF NOT EXISTS " + trig[2] + " AFTER DELETE ON " + t + " BEGIN " +
				"DELETE FROM " + side + " WHERE rid = old.rid; END",
		}
		if !slices.Contains(have, p) {
			stmts = append(stmts, "DELETE FROM "+side,
				"INSERT OR IGNORE INTO "+side+" (v, rid) SELECT "+val+", d.rid FROM "+t+" AS d, json_each(d.doc, '"+list+
					"') AS j WHERE d.deleted = 0 AND "+typ)
		}
		for _, st := range stmts {
			if _, err := q.ExecContext(ctx, st); err != nil {
				return fmt.Errorf("multikey index %s: %w", p, err)
			}
		}
	}
	_, err := q.ExecContext(ctx, "INSERT INTO limp_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
		key, strings.Join(want, "\n"))
	return err
}

// sideCond compiles an Eq or In condition on a multikey path to a lookup
// in its side table; ok is false when an operand is not a string or a
// number (null, a list, an object, a boolean), which the side table does
// not hold.
func (b *builder) sideCond(c *query.Cond) (string, bool) {
	var vals []any
	switch c.Op {
	case query.Eq:
		vals = []any{c.Value}
	case query.In:
		l, ok := c.Value.([]any)
		if !ok || len(l) == 0 {
			return "", false
		}
		vals = slices.Clone(l)
	default:
		return "", false
	}
	for i, v := range vals {
		v = sqlValue(v)
		switch v.(type) {
		case string, int64, float64:
		default:
			return "", false
		}
		vals[i] = v
	}
	ph := make([]string, len(vals))
	for i, v := range vals {
		ph[i] = b.arg(v)
	}
	where := "v = " + ph[0]
	if len(ph) > 1 {
		where = "v IN (" + strings.Join(ph, ", ") + ")"
	}
	return b.table + ".rid IN (SELECT rid FROM " + sideName(b.c, c.Path) + " WHERE " + where + ")", true
}
