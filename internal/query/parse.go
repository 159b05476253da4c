package query

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
)

// Error is a query the parser rejects. The root package turns it into a
// 400 <PKG>_<MODULE>_INVALID_QUERY naming Step.
type Error struct {
	// Step is the offending part of the query, as compact JSON or a path
	// ("status", "$sort").
	Step string
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("invalid query step %s: %s", e.Step, e.Msg) }

// Limits on what a client may send.
const (
	// MaxRegex bounds a $regex pattern's length in bytes.
	MaxRegex = 1024
	// MaxNesting bounds how deeply OR groups nest.
	MaxNesting = 32
	// MaxIn bounds the values of $in, $nin and $all.
	MaxIn = 10000
	// MaxGroupBuckets bounds a $group item's count.
	MaxGroupBuckets = 1000
)

// Parse parses a wire query against the collection schema c (spec §7).
//
// raw is the query as jsonv.ParseOrdered decodes it: a []any of steps
// whose objects are jsonv.Object (map[string]any objects are accepted too,
// their keys sorted). nil and an empty list mean "no conditions". An object
// at the top level is LIMP's legacy form {attr: {val, oper, val2}} and is
// converted (see Legacy).
//
// The list of steps is an AND; a list nested at any depth below the top is
// an OR of its items; a key starting with "__or" holds such an OR group.
// Specials ($search, $sort, $skip, $limit, $extn, $attrs, $group,
// $geo_near, $soft) may appear in any object; the last occurrence wins.
//
// A condition is attr: value (equality) or attr: {"$op": value} with
// exactly one of $eq $ne $gt $gte $lt $lte $bet $in $nin $all $regex.
// Nothing else reaches a store. On paths the schema types ID (or LIST of
// ID, or "_id") 24-hex strings become oid.ID, in every operator.
//
// An ACCESS attr takes the resolved $__access variable:
// attr: {"$__user": <user id>, "$__groups": [<group ids>]}.
//
// Every failure is an *Error.
func Parse(raw any, c *schema.Collection) (*Query, error) {
	p := &parser{c: c, q: &Query{}}
	switch x := norm(raw).(type) {
	case nil:
		return p.q, nil
	case []any:
		n, err := p.and(x, 0)
		if err != nil {
			return nil, err
		}
		p.q.Filter = n
	case jsonv.Object:
		steps, err := Legacy(x)
		if err != nil {
			return nil, err
		}
		n, err := p.and(steps, 0)
		if err != nil {
			return nil, err
		}
		p.q.Filter = n
	default:
		return nil, &Error{Step: compact(raw), Msg: "a query is a list of steps"}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.q, nil
}

type parser struct {
	c *schema.Collection
	q *Query
	// specials seen, last occurrence wins.
	specials map[string]any
}

// and parses a list of steps joined by AND.
func (p *parser) and(steps []any, depth int) (Node, error) {
	var out And
	for _, s := range steps {
		n, err := p.step(s, depth)
		if err != nil {
			return nil, err
		}
		out = appendAnd(out, n)
	}
	return simplify(out), nil
}

// or parses a list whose items are alternatives.
func (p *parser) or(items []any, depth int) (Node, error) {
	if depth >= MaxNesting {
		return nil, &Error{Step: compact(items), Msg: fmt.Sprintf("OR groups nest deeper than %d", MaxNesting)}
	}
	var out Or
	for _, it := range items {
		n, err := p.step(it, depth+1)
		if err != nil {
			return nil, err
		}
		if n == nil {
			continue // an empty step is dropped (LIMP's _sanitise_query)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, nil
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return out, nil
}

// step parses one step: an object (AND of its keys) or a list (OR).
func (p *parser) step(s any, depth int) (Node, error) {
	switch x := norm(s).(type) {
	case []any:
		return p.or(x, depth)
	case jsonv.Object:
		var out And
		for _, m := range x {
			switch {
			case strings.HasPrefix(m.Key, "$"):
				if err := p.special(m.Key, m.Value); err != nil {
					return nil, err
				}
			case strings.HasPrefix(m.Key, "__or"):
				l, ok := norm(m.Value).([]any)
				if !ok {
					return nil, &Error{Step: m.Key, Msg: "an __or key must hold a list of alternatives"}
				}
				n, err := p.or(l, depth)
				if err != nil {
					return nil, err
				}
				out = appendAnd(out, n)
			default:
				n, err := p.cond(m.Key, m.Value)
				if err != nil {
					return nil, err
				}
				out = appendAnd(out, n)
			}
		}
		return simplify(out), nil
	case nil:
		return nil, nil
	}
	return nil, &Error{Step: compact(s), Msg: "a step must be an object or a list"}
}

func appendAnd(a And, n Node) And {
	switch x := n.(type) {
	case nil:
		return a
	case And:
		return append(a, x...)
	}
	return append(a, n)
}

func simplify(a And) Node {
	switch len(a) {
	case 0:
		return nil
	case 1:
		return a[0]
	}
	return a
}

var ops = map[string]Op{"$eq": Eq, "$ne": Ne, "$gt": Gt, "$gte": Gte, "$lt": Lt, "$lte": Lte,
	"$bet": Bet, "$in": In, "$nin": Nin, "$all": All, "$regex": Regex}

// cond parses attr: value.
func (p *parser) cond(path string, v any) (Node, error) {
	v = norm(v)
	t, join, err := p.resolve(path)
	if err != nil {
		return nil, err
	}
	cond := &Cond{Path: path, Op: Eq, Value: v}
	if join != nil {
		cond.Path = strings.TrimPrefix(path, join.Local+".")
		cond.Join = join
	}
	if obj, ok := v.(jsonv.Object); ok {
		var dollar []string
		for _, m := range obj {
			if strings.HasPrefix(m.Key, "$") {
				dollar = append(dollar, m.Key)
			}
		}
		switch {
		case t != nil && t.Kind == schema.Access:
			return p.access(path, obj)
		case len(dollar) == 1 && len(obj) == 1:
			op, ok := ops[dollar[0]]
			if !ok {
				return nil, &Error{Step: path, Msg: fmt.Sprintf("unknown operator %q (accepted: $eq $ne $gt $gte $lt $lte $bet $in $nin $all $regex)", dollar[0])}
			}
			cond.Op, cond.Value = op, obj[0].Value
		case len(dollar) > 0:
			return nil, &Error{Step: path, Msg: "a condition takes exactly one operator; AND two conditions in separate steps"}
		case t == nil || (t.Kind != schema.Dict && t.Kind != schema.Any && t.Kind != schema.Locale):
			return nil, &Error{Step: path, Msg: "an object value needs an operator such as {\"$eq\": ...}"}
		default:
			cond.Value = plain(obj)
		}
	} else if t != nil && t.Kind == schema.Access {
		return nil, &Error{Step: path, Msg: "an ACCESS attr is queried with the $__access variable"}
	}
	if err := p.checkValue(cond, t); err != nil {
		return nil, err
	}
	return cond, nil
}

// resolve checks a path against the schema and returns its type and, for
// a path through an extended attr, the join.
func (p *parser) resolve(path string) (*schema.Type, *Join, error) {
	if path == "" || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
		return nil, nil, &Error{Step: path, Msg: "malformed attr path"}
	}
	for _, seg := range strings.Split(path, ".") {
		if strings.HasPrefix(seg, "$") || strings.ContainsAny(seg, "\x00") {
			return nil, nil, &Error{Step: path, Msg: "malformed attr path"}
		}
	}
	if t := p.c.Lookup(path); t != nil {
		return t, nil, nil
	}
	// A path running through a reference: the longest extended prefix.
	segs := strings.Split(path, ".")
	for i := len(segs) - 1; i >= 1; i-- {
		local := strings.Join(segs[:i], ".")
		e := p.c.Extns[local]
		if e == nil || e.Target == nil {
			continue
		}
		rest := strings.Join(segs[i:], ".")
		t := e.Target.Lookup(rest)
		if t == nil {
			return nil, nil, &Error{Step: path, Msg: fmt.Sprintf("%q is not an attr of %s", rest, e.Module)}
		}
		lt := p.c.Lookup(local)
		return t, &Join{Local: local, Collection: e.Target.Name, IDList: lt.IsIDList()}, nil
	}
	return nil, nil, &Error{Step: path, Msg: "not an attr of this module"}
}

// access parses {"$__user": id, "$__groups": [ids]} on an ACCESS attr.
func (p *parser) access(path string, obj jsonv.Object) (Node, error) {
	bad := &Error{Step: path, Msg: "an ACCESS attr is queried with {\"$__user\": id, \"$__groups\": [ids]}"}
	if len(obj) != 2 {
		return nil, bad
	}
	a := &Access{Path: path}
	for _, m := range obj {
		switch m.Key {
		case "$__user":
			id, ok := toID(m.Value)
			if !ok {
				return nil, bad
			}
			a.User = id
		case "$__groups":
			l, ok := norm(m.Value).([]any)
			if !ok {
				return nil, bad
			}
			for _, g := range l {
				id, ok := toID(g)
				if !ok {
					return nil, bad
				}
				a.Groups = append(a.Groups, id)
			}
		default:
			return nil, bad
		}
	}
	return a, nil
}

// checkValue checks an operator's operand and coerces ids.
func (p *parser) checkValue(c *Cond, t *schema.Type) error {
	isID := c.Path == "_id" && c.Join == nil || t != nil && (t.Kind == schema.ID || t.IsIDList())
	conv := func(v any) (any, error) {
		v = norm(v)
		if isID {
			if s, ok := v.(string); ok {
				id, err := oid.Parse(s)
				if err != nil {
					return nil, &Error{Step: c.fullPath(), Msg: fmt.Sprintf("%q is not an ID (24 hex digits)", trunc(s))}
				}
				return id, nil
			}
		}
		if o, ok := v.(jsonv.Object); ok {
			return plain(o), nil
		}
		if l, ok := v.([]any); ok {
			out := make([]any, len(l))
			for i, e := range l {
				out[i] = plainValue(norm(e))
			}
			return out, nil
		}
		return v, nil
	}
	scalar := func(v any) bool {
		switch v.(type) {
		case string, int64, float64, oid.ID:
			return true
		}
		return false
	}
	var err error
	switch c.Op {
	case Eq, Ne:
		c.Value, err = conv(c.Value)
	case Gt, Gte, Lt, Lte:
		if c.Value, err = conv(c.Value); err == nil && !scalar(c.Value) {
			err = &Error{Step: c.fullPath(), Msg: fmt.Sprintf("%s needs a string or a number", c.Op)}
		}
	case Bet:
		l, ok := norm(c.Value).([]any)
		if !ok || len(l) != 2 {
			return &Error{Step: c.fullPath(), Msg: "$bet needs a list of two values [from, to]"}
		}
		if c.Value, err = conv(l[0]); err != nil {
			return err
		}
		if c.Value2, err = conv(l[1]); err != nil {
			return err
		}
		if !scalar(c.Value) || !scalar(c.Value2) {
			return &Error{Step: c.fullPath(), Msg: "$bet bounds must be strings or numbers"}
		}
	case In, Nin, All:
		l, ok := norm(c.Value).([]any)
		if !ok || len(l) == 0 {
			return &Error{Step: c.fullPath(), Msg: fmt.Sprintf("%s needs a non-empty list", c.Op)}
		}
		if len(l) > MaxIn {
			return &Error{Step: c.fullPath(), Msg: fmt.Sprintf("%s takes at most %d values", c.Op, MaxIn)}
		}
		out := make([]any, len(l))
		for i, e := range l {
			if out[i], err = conv(e); err != nil {
				return err
			}
		}
		c.Value = out
	case Regex:
		s, ok := c.Value.(string)
		if !ok {
			return &Error{Step: c.fullPath(), Msg: "$regex needs a string"}
		}
		if len(s) > MaxRegex {
			return &Error{Step: c.fullPath(), Msg: fmt.Sprintf("$regex patterns are limited to %d bytes", MaxRegex)}
		}
		if _, rerr := regexp.Compile("(?i)" + s); rerr != nil {
			return &Error{Step: c.fullPath(), Msg: "$regex pattern does not compile: " + rerr.Error()}
		}
	}
	return err
}

func (c *Cond) fullPath() string {
	if c.Join != nil {
		return c.Join.Local + "." + c.Path
	}
	return c.Path
}

// special records a $-key.
func (p *parser) special(key string, v any) error {
	switch key {
	case "$search", "$sort", "$skip", "$limit", "$extn", "$attrs", "$group", "$geo_near", "$soft":
	default:
		return &Error{Step: key, Msg: "unknown special key (accepted: $search $sort $skip $limit $extn $attrs $group $geo_near $soft)"}
	}
	if p.specials == nil {
		p.specials = map[string]any{}
	}
	p.specials[key] = norm(v)
	return nil
}

// finish checks the specials and fills the query.
func (p *parser) finish() error {
	q := p.q
	for key, v := range p.specials {
		bad := func(msg string) error { return &Error{Step: key, Msg: msg} }
		switch key {
		case "$search":
			s, ok := v.(string)
			if !ok {
				return bad("$search needs a string")
			}
			if len(p.c.Search) == 0 && strings.TrimSpace(s) != "" {
				return bad("this module has no searchable attrs")
			}
			if len(s) > 1024 {
				return bad("$search is limited to 1024 bytes")
			}
			q.Search = strings.TrimSpace(s)
		case "$sort":
			o, ok := v.(jsonv.Object)
			if !ok {
				return bad("$sort needs an object {attr: 1 or -1}")
			}
			q.Sort = nil
			for _, m := range o {
				if _, join, err := p.resolve(m.Key); err != nil {
					return err
				} else if join != nil {
					return &Error{Step: m.Key, Msg: "cannot sort by an attr of a referenced doc"}
				}
				switch n := m.Value.(type) {
				case int64:
					if n != 1 && n != -1 {
						return bad("sort directions are 1 or -1")
					}
					q.Sort = append(q.Sort, Sort{Path: m.Key, Desc: n == -1})
				default:
					return bad("sort directions are 1 or -1")
				}
			}
		case "$skip", "$limit":
			n, ok := intValue(v)
			if !ok || n < 0 {
				return bad(key + " needs a non-negative integer")
			}
			if key == "$skip" {
				q.Skip = n
			} else {
				q.Limit = n
			}
		case "$extn":
			switch x := v.(type) {
			case bool:
				if x {
					q.Extn = nil
				} else {
					q.Extn = []string{}
				}
			case []any:
				l, err := p.attrList(key, x)
				if err != nil {
					return err
				}
				for _, a := range l {
					if p.c.Extns[a] == nil {
						return &Error{Step: key, Msg: fmt.Sprintf("%q has no extension", a)}
					}
				}
				q.Extn = l
			default:
				return bad("$extn needs false or a list of attrs")
			}
		case "$attrs":
			l, ok := v.([]any)
			if !ok {
				return bad("$attrs needs a list of attrs")
			}
			attrs, err := p.attrList(key, l)
			if err != nil {
				return err
			}
			q.Attrs = attrs
		case "$group":
			l, ok := v.([]any)
			if !ok {
				return bad("$group needs a list of {by, count}")
			}
			q.Group = nil
			for _, it := range l {
				o, ok := norm(it).(jsonv.Object)
				if !ok || len(o) != 2 {
					return bad("$group items are {by: attr, count: n}")
				}
				by, _ := o.Get("by")
				cnt, _ := o.Get("count")
				s, ok := by.(string)
				n, ok2 := intValue(cnt)
				if !ok || !ok2 || n < 1 || n > MaxGroupBuckets {
					return bad(fmt.Sprintf("$group items are {by: attr, count: 1..%d}", MaxGroupBuckets))
				}
				if _, join, err := p.resolve(s); err != nil {
					return err
				} else if join != nil {
					return &Error{Step: s, Msg: "cannot group by an attr of a referenced doc"}
				}
				q.Group = append(q.Group, Group{By: s, Count: int(n)})
			}
		case "$geo_near":
			o, ok := v.(jsonv.Object)
			if !ok {
				return bad("$geo_near needs {val: [lng, lat], attr, dist}")
			}
			g := &GeoNear{}
			val, _ := o.Get("val")
			attr, _ := o.Get("attr")
			dist, _ := o.Get("dist")
			coords, ok := norm(val).([]any)
			name, ok2 := attr.(string)
			d, ok3 := floatValue(dist)
			if !ok || len(coords) != 2 || !ok2 || !ok3 || d < 0 || len(o) != 3 {
				return bad("$geo_near needs {val: [lng, lat], attr, dist}")
			}
			lng, ok := floatValue(coords[0])
			lat, ok2 := floatValue(coords[1])
			if !ok || !ok2 || lng < -180 || lng > 180 || lat < -90 || lat > 90 {
				return bad("$geo_near val is [longitude, latitude]")
			}
			if t := p.c.Lookup(name); t == nil || t.Kind != schema.Geo {
				return bad(fmt.Sprintf("%q is not a GEO attr", name))
			}
			g.Attr, g.Lng, g.Lat, g.MaxDistance = name, lng, lat, d
			q.GeoNear = g
		case "$soft":
			b, ok := v.(bool)
			if !ok {
				return bad("$soft needs true or false")
			}
			q.Soft = b
		}
	}
	return nil
}

func (p *parser) attrList(key string, l []any) ([]string, error) {
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, &Error{Step: key, Msg: "attr names must be strings"}
		}
		if s == "_id" {
			continue
		}
		if p.c.Lookup(s) == nil {
			return nil, &Error{Step: key, Msg: fmt.Sprintf("%q is not an attr of this module", s)}
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func intValue(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && x >= 0 && x < 1<<53 {
			return int64(x), true
		}
	}
	return 0, false
}

func floatValue(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	return 0, false
}

func toID(v any) (oid.ID, bool) {
	switch x := v.(type) {
	case oid.ID:
		return x, true
	case string:
		id, err := oid.Parse(x)
		return id, err == nil
	}
	return oid.ID{}, false
}

// norm converts Go-built values (from permission modifiers) to the
// canonical forms: integers to int64, float32 to float64, maps to
// jsonv.Object with sorted keys, typed slices to []any.
func norm(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case float32:
		return float64(x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		o := make(jsonv.Object, len(keys))
		for i, k := range keys {
			o[i] = jsonv.Member{Key: k, Value: x[k]}
		}
		return o
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case []oid.ID:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	return v
}

// plain converts an ordered object (recursively) to a map, the canonical
// form of a DICT value.
func plain(o jsonv.Object) map[string]any {
	m := make(map[string]any, len(o))
	for _, e := range o {
		m[e.Key] = plainValue(norm(e.Value))
	}
	return m
}

func plainValue(v any) any {
	switch x := v.(type) {
	case jsonv.Object:
		return plain(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plainValue(norm(e))
		}
		return out
	}
	return v
}

// compact renders a value for an error message, truncated.
func compact(v any) string {
	b, err := jsonv.Marshal(plainValue(norm(v)))
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return trunc(string(b))
}

func trunc(s string) string {
	if len(s) > 120 {
		return strings.ToValidUTF8(s[:120], "") + "…"
	}
	return s
}

// Legacy converts LIMP's legacy object-form query (spec §7.10)
// {attr: {val, oper?, val2?}, "__OR:attr": {...}, "$limit": n} to the v6
// list of steps.
func Legacy(obj jsonv.Object) ([]any, error) {
	var and jsonv.Object
	var or []any
	for _, m := range obj {
		key := m.Key
		if strings.HasPrefix(key, "$") {
			and = append(and, m)
			continue
		}
		isOr := false
		if k, ok := strings.CutPrefix(key, "__OR:"); ok {
			key, isOr = k, true
		}
		cond, err := legacyCond(key, norm(m.Value))
		if err != nil {
			return nil, err
		}
		if isOr {
			or = append(or, jsonv.Object{cond})
		} else {
			and = append(and, cond)
		}
	}
	steps := []any{}
	if len(and) > 0 {
		steps = append(steps, and)
	}
	if len(or) > 0 {
		steps = append(steps, or)
	}
	return steps, nil
}

func legacyCond(key string, v any) (jsonv.Member, error) {
	o, ok := v.(jsonv.Object)
	if !ok {
		return jsonv.Member{Key: key, Value: v}, nil
	}
	val, hasVal := o.Get("val")
	if !hasVal {
		return jsonv.Member{Key: key, Value: v}, nil
	}
	for _, m := range o {
		switch m.Key {
		case "val", "oper", "val2", "strict":
		default:
			return jsonv.Member{}, &Error{Step: key, Msg: fmt.Sprintf("unknown legacy key %q (accepted: val, oper, val2)", m.Key)}
		}
	}
	opv, _ := o.Get("oper")
	op, _ := opv.(string)
	switch op {
	case "", "$eq":
		return jsonv.Member{Key: key, Value: val}, nil
	case "$not":
		return jsonv.Member{Key: key, Value: jsonv.Object{{Key: "$ne", Value: val}}}, nil
	case "$bet":
		val2, _ := o.Get("val2")
		return jsonv.Member{Key: key, Value: jsonv.Object{{Key: "$bet", Value: []any{val, val2}}}}, nil
	}
	if _, ok := ops[op]; !ok {
		return jsonv.Member{}, &Error{Step: key, Msg: fmt.Sprintf("unknown legacy operator %q", op)}
	}
	return jsonv.Member{Key: key, Value: jsonv.Object{{Key: op, Value: val}}}, nil
}
