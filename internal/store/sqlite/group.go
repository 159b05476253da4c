package sqlite

import (
	"database/sql/driver"
	"fmt"
	"strings"

	"modernc.org/sqlite"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/schema"
)

// groupPlain reports whether `$group` by path buckets SQL values: a path
// the schema declares a number, string or boolean, reached without
// crossing a LIST or ANY value (as sortExpr's plain paths). SQLite's order
// of such values (NULL, numbers, text) is MongoDB's, and an expression
// index serves it.
func groupPlain(c *schema.Collection, path string) bool {
	if path == "_id" {
		return true
	}
	segs, err := splitPath(path)
	if err != nil {
		return false
	}
	for i := 1; i <= len(segs); i++ {
		t := c.Lookup(strings.Join(segs[:i], "."))
		switch {
		case t == nil:
			return false
		case i < len(segs):
			if t.Kind == schema.Any || t.Kind == schema.List {
				return false
			}
		default:
			return t.Kind == schema.Int || t.Kind == schema.Float || t.Kind == schema.Bool || t.Kind.Stringish()
		}
	}
	return false
}

// groupExprs returns the SQL of the value `$group` orders by (key) and of
// the value it reports (rep) for path: both the json_extract value for a
// plain path; else limp_valkey and the JSON text of MongoDB's "$path"
// expression value (limp_exprval).
func groupExprs(c *schema.Collection, path string) (key, rep string, err error) {
	if groupPlain(c, path) {
		v, err := scalarExpr(c, "doc", "id", path)
		return v, v, err
	}
	segs, err := splitPath(path)
	if err != nil {
		return "", "", err
	}
	rep = "limp_exprval(doc -> '" + jsonPath(segs[:1], nil) + "', " + sqlString(strings.Join(segs[1:], ".")) + ")"
	if code := typeCode(groupType(c, path)); code != "" {
		return "limp_valkey(" + rep + ", " + sqlString(code) + ")", rep, nil // IDs rank as ObjectIds
	}
	return "limp_valkey(" + rep + ")", rep, nil
}

// groupType is the type of the value MongoDB's "$path" expression yields:
// the declared type at path, inside one LIST per LIST the path crosses
// (nil when unknown).
func groupType(c *schema.Collection, path string) *schema.Type {
	t := c.Lookup(path)
	if t == nil {
		return nil
	}
	segs := strings.Split(path, ".")
	for i := len(segs) - 1; i >= 1; i-- {
		if u := c.Lookup(strings.Join(segs[:i], ".")); u != nil && u.Kind == schema.List {
			t = &schema.Type{Kind: schema.List, Items: []*schema.Type{t}}
		}
	}
	return t
}

// exprValFunc is limp_exprval(json, rest): the JSON text of the value
// MongoDB's aggregation expression "$<attr>.<rest>" yields, where json is
// the JSON text of the top-level attr (NULL when missing); NULL when the
// expression is missing. Through an array the path maps over its elements,
// skipping those without the field (no numeric index, as in MongoDB's
// expressions).
func exprValFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	v, err := parseJSONArg(args[0])
	if err != nil {
		return nil, fmt.Errorf("limp_exprval: %w", err)
	}
	if args[0] == nil {
		return nil, nil
	}
	rest, _ := args[1].(string)
	var segs []string
	if rest != "" {
		segs = strings.Split(rest, ".")
	}
	r, ok := exprPath(v, segs)
	if !ok {
		return nil, nil
	}
	b, err := jsonv.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("limp_exprval: %w", err)
	}
	return string(b), nil
}

// exprPath evaluates a field path as MongoDB's aggregation expressions do.
func exprPath(v any, segs []string) (any, bool) {
	if len(segs) == 0 {
		return v, true
	}
	switch x := v.(type) {
	case map[string]any:
		y, ok := x[segs[0]]
		if !ok {
			return nil, false
		}
		return exprPath(y, segs[1:])
	case []any:
		out := []any{}
		for _, e := range x {
			if r, ok := exprPath(e, segs); ok {
				out = append(out, r)
			}
		}
		return out, true
	}
	return nil, false
}
