package query

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
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
// whose objects are jsonv.Object. Go-built values are accepted too:
// map[string]any objects (their keys sorted, so a Go-built $sort loses its
// key order), int/uint/float32 numbers, []string, []oid.ID, []int,
// []int64, []float64. nil and an empty list mean "no conditions". An
// object at the top level is LIMP's legacy form {attr: {val, oper, val2}}
// and is converted (see Legacy).
//
// Structure: the list of steps is an AND; a list nested at any depth below
// the top is an OR of its items; a key starting with "__or" holds such an
// OR group, AND-ed with the other keys of its object. Empty objects and
// lists are dropped. OR groups nest at most MaxNesting deep.
//
// Specials ($search, $sort, $skip, $limit, $extn, $attrs, $group,
// $geo_near, $soft) may appear in any object at any depth; the last
// occurrence wins, so permission steps appended after the client's query
// override it. Any other $ key is an error. $skip/$limit are non-negative
// integers (an integral float such as 5.0 is accepted); $sort is an object
// of attr: 1 or -1 in key order; $extn false turns every extension off
// (Extn non-nil and empty), true leaves them on, a list keeps only those
// attrs' extensions; $attrs and $extn name declared attrs; $group is a
// list of {by, count}; $geo_near is {val: [lng, lat], attr, dist} on a GEO
// attr.
//
// A condition is attr: value (equality) or attr: {"$op": value} with
// exactly one of $eq $ne $gt $gte $lt $lte $bet $in $nin $all $regex.
// Nothing else reaches a store: $where, $expr, $or, two operators in one
// object and `$` keys anywhere inside a compared value are errors. An
// object value without an operator is equality on the whole value, only
// on DICT, ANY and LOCALE attrs. Paths are dotted and must be declared;
// a path through an extended attr ("cat.title.en_AE") becomes a Cond with
// a Join.
//
// Values are checked against the path's type (for a typed LIST, its item
// type): ID paths ("_id", ID, LIST of ID) take oid.ID or 24-hex strings,
// converted to oid.ID in every operator; INT and FLOAT paths take numbers
// (kinds kept: int64 or float64), never strings; STR-like paths (STR,
// EMAIL, PHONE, IP, URI_WEB, DATETIME, DATE, TIME, LOCALES) take strings;
// BOOL paths take true/false and no ordering operator. null is accepted by
// $eq, $ne, $in and $nin. $regex (at most MaxRegex bytes, Go RE2 syntax,
// run case-insensitively) applies to text paths. Other types (ANY, DICT,
// LOCALE, LITERAL, UNION, TYPE, mixed LISTs) are not checked.
//
// An ACCESS attr takes only the resolved $__access variable:
//
//	attr: {"$__user": <user id>, "$__groups": [<group ids>]}
//
// with ids as oid.ID or 24-hex strings, both keys present, "$__groups"
// possibly null or empty; it becomes an *Access (never through a join).
//
// Every failure is an *Error.
func Parse(raw any, c *schema.Collection) (*Query, error) {
	if c == nil {
		return nil, &Error{Step: "query", Msg: "no schema to check the query against"}
	}
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
					return nil, &Error{Step: trunc(m.Key), Msg: "an __or key must hold a list of alternatives"}
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
			if join != nil {
				return nil, &Error{Step: trunc(path), Msg: "cannot check access on a referenced doc"}
			}
			return p.access(path, obj)
		case len(dollar) == 1 && len(obj) == 1:
			op, ok := ops[dollar[0]]
			if !ok {
				return nil, &Error{Step: trunc(path), Msg: fmt.Sprintf("unknown operator %q (accepted: $eq $ne $gt $gte $lt $lte $bet $in $nin $all $regex)", dollar[0])}
			}
			cond.Op, cond.Value = op, obj[0].Value
		case len(dollar) > 0:
			return nil, &Error{Step: trunc(path), Msg: "a condition takes exactly one operator; AND two conditions in separate steps"}
		case !objectKind(t):
			return nil, &Error{Step: trunc(path), Msg: "an object value needs an operator such as {\"$eq\": ...}"}
		default:
			cond.Value = obj // checkValue converts it
		}
	} else if t != nil && t.Kind == schema.Access {
		return nil, &Error{Step: trunc(path), Msg: "an ACCESS attr is queried with the $__access variable"}
	}
	if err := p.checkValue(cond, t); err != nil {
		return nil, err
	}
	return cond, nil
}

// objectKind reports whether an object compares with values of type t
// (DICT, ANY, LOCALE, or a LIST of one of them: any element equal).
func objectKind(t *schema.Type) bool {
	if t == nil {
		return false
	}
	if t.Kind == schema.List && len(t.Items) == 1 {
		t = t.Items[0]
	}
	switch t.Kind {
	case schema.Dict, schema.Any, schema.Locale:
		return true
	}
	return false
}

// resolve checks a path against the schema and returns its type and, for
// a path through an extended attr, the join.
func (p *parser) resolve(path string) (*schema.Type, *Join, error) {
	if path == "" || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
		return nil, nil, &Error{Step: trunc(path), Msg: "malformed attr path"}
	}
	for _, seg := range strings.Split(path, ".") {
		if strings.HasPrefix(seg, "$") || strings.ContainsAny(seg, "\x00") {
			return nil, nil, &Error{Step: trunc(path), Msg: "malformed attr path"}
		}
	}
	if t := p.c.Lookup(path); t != nil {
		if p.c.IsSecret(path) {
			return nil, nil, secretError(path)
		}
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
			return nil, nil, &Error{Step: trunc(path), Msg: fmt.Sprintf("%q is not an attr of %s", rest, e.Module)}
		}
		if e.Target.IsSecret(rest) {
			return nil, nil, secretError(path)
		}
		lt := p.c.Lookup(local)
		return t, &Join{Local: local, Collection: e.Target.Name, IDList: lt.IsIDList()}, nil
	}
	return nil, nil, &Error{Step: trunc(path), Msg: "not an attr of this module"}
}

// secretError refuses a path to a credential digest (schema
// Collection.Secret): it can never be matched, sorted, grouped or asked
// for, by any caller, directly or through a reference.
func secretError(path string) error {
	return &Error{Step: trunc(path), Msg: "a secret attr cannot be queried"}
}

// access parses the resolved $__access variable on an ACCESS attr:
// {"$__user": id, "$__groups": [ids]} (ids as oid.ID or 24-hex strings;
// "$__groups" may be null or empty).
func (p *parser) access(path string, obj jsonv.Object) (Node, error) {
	bad := &Error{Step: trunc(path), Msg: "an ACCESS attr is queried with {\"$__user\": id, \"$__groups\": [ids]}"}
	a := &Access{Path: path}
	var seenUser, seenGroups bool
	for _, m := range obj {
		switch m.Key {
		case "$__user":
			id, ok := toID(norm(m.Value))
			if !ok || seenUser {
				return nil, bad
			}
			a.User, seenUser = id, true
		case "$__groups":
			if seenGroups {
				return nil, bad
			}
			seenGroups = true
			v := norm(m.Value)
			if v == nil {
				continue
			}
			l, ok := v.([]any)
			if !ok || len(l) > MaxIn {
				return nil, bad
			}
			for _, g := range l {
				id, ok := toID(norm(g))
				if !ok {
					return nil, bad
				}
				a.Groups = append(a.Groups, id)
			}
		default:
			return nil, bad
		}
	}
	if !seenUser || !seenGroups {
		return nil, bad
	}
	return a, nil
}

// want is the kind of scalar a path's type accepts in a comparison.
type want uint8

const (
	wantAny  want = iota // no check (ANY, DICT, LOCALE, LITERAL, UNION, TYPE, ...)
	wantID               // ID: an oid.ID or a 24-hex string (converted)
	wantNum              // INT, FLOAT: int64 or float64
	wantStr              // STR, EMAIL, PHONE, IP, URI_WEB, DATETIME, DATE, TIME, LOCALES
	wantBool             // BOOL
)

var wantNames = [...]string{wantID: "an ID (24 hex digits)", wantNum: "a number", wantStr: "a string", wantBool: "true or false"}

// wantOf returns what the values compared with c's path must be, and
// whether the path holds a LIST of such values.
func wantOf(c *Cond, t *schema.Type) (w want, list bool) {
	if c.Join == nil && c.Path == "_id" {
		return wantID, false
	}
	if t == nil {
		return wantAny, false
	}
	k := t.Kind
	if k == schema.List {
		if len(t.Items) != 1 {
			return wantAny, true
		}
		k, list = t.Items[0].Kind, true
	}
	switch {
	case k == schema.ID:
		return wantID, list
	case k == schema.Int || k == schema.Float:
		return wantNum, list
	case k == schema.Bool:
		return wantBool, list
	case k.Stringish():
		return wantStr, list
	}
	return wantAny, list
}

// checkValue checks an operator's operand against the type at the path
// and converts it to canonical form (ids to oid.ID, objects to maps).
func (p *parser) checkValue(c *Cond, t *schema.Type) error {
	w, list := wantOf(c, t)
	bad := func(format string, args ...any) error {
		return &Error{Step: trunc(c.fullPath()), Msg: fmt.Sprintf(format, args...)}
	}
	// one checks and converts one compared value.
	one := func(v any, nullOK bool) (any, error) {
		v = norm(v)
		switch x := v.(type) {
		case nil:
			if nullOK {
				return nil, nil
			}
			return nil, bad("%s needs a value, not null", c.Op)
		case string:
			switch w {
			case wantID:
				id, err := oid.Parse(x)
				if err != nil {
					return nil, bad("%q is not an ID (24 hex digits)", trunc(x))
				}
				return id, nil
			case wantNum, wantBool:
				return nil, bad("expects %s, got a string", wantNames[w])
			}
			return x, nil
		case int64, float64:
			if f, ok := x.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return nil, bad("expects a finite number")
			}
			if w != wantAny && w != wantNum {
				return nil, bad("expects %s, got a number", wantNames[w])
			}
			return x, nil
		case bool:
			if w != wantAny && w != wantBool {
				return nil, bad("expects %s, got %t", wantNames[w], x)
			}
			return x, nil
		case oid.ID:
			if w != wantAny && w != wantID {
				return nil, bad("expects %s, got an ID", wantNames[w])
			}
			return x, nil
		case jsonv.Object, []any:
			if w != wantAny {
				return nil, bad("expects %s, got %s", wantNames[w], kindOf(x))
			}
			return literal(c, v, 0)
		}
		return nil, bad("unsupported value of type %T", v)
	}
	ordered := func(v any) (any, error) {
		if w == wantBool {
			return nil, bad("%s does not apply to true/false attrs", c.Op)
		}
		v, err := one(v, false)
		if err != nil {
			return nil, err
		}
		switch v.(type) {
		case string, int64, float64, oid.ID:
			return v, nil
		}
		return nil, bad("%s needs a string or a number", c.Op)
	}
	var err error
	switch c.Op {
	case Eq, Ne:
		// A list compared with a typed LIST attr is array equality: check
		// each item.
		if l, ok := norm(c.Value).([]any); ok && list && w != wantAny {
			out := make([]any, len(l))
			for i, e := range l {
				if out[i], err = one(e, false); err != nil {
					return err
				}
			}
			c.Value = out
			return nil
		}
		c.Value, err = one(c.Value, true)
	case Gt, Gte, Lt, Lte:
		c.Value, err = ordered(c.Value)
	case Bet:
		l, ok := norm(c.Value).([]any)
		if !ok || len(l) != 2 {
			return bad("$bet needs a list of two values [from, to]")
		}
		if c.Value, err = ordered(l[0]); err != nil {
			return err
		}
		c.Value2, err = ordered(l[1])
	case In, Nin, All:
		l, ok := norm(c.Value).([]any)
		if !ok || len(l) == 0 {
			return bad("%s needs a non-empty list", c.Op)
		}
		if len(l) > MaxIn {
			return bad("%s takes at most %d values", c.Op, MaxIn)
		}
		out := make([]any, len(l))
		for i, e := range l {
			// On a typed LIST attr a list member is whole-array
			// equality (MongoDB's {$in: [[...]]}): check its items.
			if sub, ok := norm(e).([]any); ok && list && w != wantAny {
				items := make([]any, len(sub))
				for j, x := range sub {
					if items[j], err = one(x, false); err != nil {
						return err
					}
				}
				out[i] = items
				continue
			}
			if out[i], err = one(e, c.Op != All); err != nil {
				return err
			}
		}
		c.Value = out
	case Regex:
		s, ok := c.Value.(string)
		if !ok {
			return bad("$regex needs a string")
		}
		if w == wantID || w == wantNum || w == wantBool {
			return bad("$regex applies to text attrs, not to %s", wantNames[w])
		}
		if len(s) > MaxRegex {
			return bad("$regex patterns are limited to %d bytes", MaxRegex)
		}
		if err := checkRegex(s); err != nil {
			return bad("%v", err)
		}
	}
	return err
}

// maxRegexSize bounds the estimated size of a $regex program: counted
// repetitions such as (a{1000}){100} expand at compile time, so a short
// pattern can cost milliseconds of CPU to compile and match.
const maxRegexSize = 5000

// checkRegex checks that pattern compiles (Go RE2 syntax, as the store runs
// it, case-insensitively) and that its program stays small.
func checkRegex(pattern string) error {
	re, err := syntax.Parse("(?i)"+pattern, syntax.Perl)
	if err != nil {
		return fmt.Errorf("$regex pattern does not compile: %v", err)
	}
	if regexSize(re) > maxRegexSize {
		return errors.New("$regex pattern is too complex (too many repetitions)")
	}
	if _, err := regexp.Compile("(?i)" + pattern); err != nil {
		return fmt.Errorf("$regex pattern does not compile: %v", err)
	}
	return nil
}

// regexSize estimates the compiled size of re, saturating above
// maxRegexSize.
func regexSize(re *syntax.Regexp) int {
	n := 1
	for _, sub := range re.Sub {
		n += regexSize(sub)
		if n > maxRegexSize {
			return maxRegexSize + 1
		}
	}
	if re.Op == syntax.OpRepeat {
		n *= max(re.Min, re.Max, 1)
	}
	return min(n, maxRegexSize+1)
}

// maxValueDepth bounds the nesting of a compared value built in Go (wire
// values are bounded by jsonv).
const maxValueDepth = 64

// literal converts a compared object or list to canonical form (objects
// to maps), refusing `$` keys at any depth so that no operator can hide
// inside a value, and any non-canonical Go type.
func literal(c *Cond, v any, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, &Error{Step: trunc(c.fullPath()), Msg: "value nests too deeply"}
	}
	switch x := norm(v).(type) {
	case nil, bool, int64, string, oid.ID:
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, &Error{Step: trunc(c.fullPath()), Msg: "expects a finite number"}
		}
		return x, nil
	case jsonv.Object:
		m := make(map[string]any, len(x))
		for _, e := range x {
			if strings.HasPrefix(e.Key, "$") {
				return nil, &Error{Step: trunc(c.fullPath()), Msg: fmt.Sprintf("a compared value may not hold the key %q", trunc(e.Key))}
			}
			val, err := literal(c, e.Value, depth+1)
			if err != nil {
				return nil, err
			}
			m[e.Key] = val
		}
		return m, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			val, err := literal(c, e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	default:
		return nil, &Error{Step: trunc(c.fullPath()), Msg: fmt.Sprintf("unsupported value of type %T", v)}
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case jsonv.Object, map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
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
		return &Error{Step: trunc(key), Msg: "unknown special key (accepted: $search $sort $skip $limit $extn $attrs $group $geo_near $soft)"}
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
	keys := make([]string, 0, len(p.specials))
	for k := range p.specials {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same error for the same query
	for _, key := range keys {
		v := p.specials[key]
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
					return &Error{Step: trunc(m.Key), Msg: "cannot sort by an attr of a referenced doc"}
				}
				if slices.ContainsFunc(q.Sort, func(s Sort) bool { return s.Path == m.Key }) {
					return &Error{Step: trunc(m.Key), Msg: "sorted by twice"}
				}
				var dir float64
				switch n := norm(m.Value).(type) {
				case int64:
					dir = float64(n)
				case float64:
					dir = n
				}
				if dir != 1 && dir != -1 {
					return bad("sort directions are 1 or -1")
				}
				q.Sort = append(q.Sort, Sort{Path: m.Key, Desc: dir == -1})
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
						return &Error{Step: key, Msg: fmt.Sprintf("%q has no extension", trunc(a))}
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
					return &Error{Step: trunc(s), Msg: "cannot group by an attr of a referenced doc"}
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
			return nil, &Error{Step: key, Msg: fmt.Sprintf("%q is not an attr of this module", trunc(s))}
		}
		if p.c.IsSecret(s) {
			return nil, secretError(s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func intValue(v any) (int64, bool) {
	switch x := norm(v).(type) {
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
	switch x := norm(v).(type) {
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
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x)
		}
		return float64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return float64(x)
	case []int:
		out := make([]any, len(x))
		for i, n := range x {
			out[i] = int64(n)
		}
		return out
	case []int64:
		out := make([]any, len(x))
		for i, n := range x {
			out[i] = n
		}
		return out
	case []float64:
		out := make([]any, len(x))
		for i, n := range x {
			out[i] = n
		}
		return out
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

// preview converts a value (possibly Go-built, possibly cyclic) to a small
// canonical value for an error message: at most 4 levels and 20 items per
// level are kept.
func preview(v any, depth int) any {
	switch x := norm(v).(type) {
	case nil, bool, int64, string, oid.ID:
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	case jsonv.Object:
		if depth >= 4 {
			return "…"
		}
		m := make(map[string]any, min(len(x), 20))
		for i, e := range x {
			if i == 20 {
				m["…"] = "…"
				break
			}
			m[e.Key] = preview(e.Value, depth+1)
		}
		return m
	case []any:
		if depth >= 4 {
			return "…"
		}
		out := make([]any, 0, min(len(x), 21))
		for i, e := range x {
			if i == 20 {
				out = append(out, "…")
				break
			}
			out = append(out, preview(e, depth+1))
		}
		return out
	default:
		return fmt.Sprintf("%T", v)
	}
}

// compact renders a value for an error message, truncated.
func compact(v any) string {
	b, err := jsonv.Marshal(preview(v, 0))
	if err != nil {
		return "?"
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
			return jsonv.Member{}, &Error{Step: trunc(key), Msg: fmt.Sprintf("unknown legacy key %q (accepted: val, oper, val2)", m.Key)}
		}
	}
	op := ""
	if opv, ok := o.Get("oper"); ok {
		if op, ok = opv.(string); !ok {
			return jsonv.Member{}, &Error{Step: trunc(key), Msg: "a legacy oper is a string such as \"$gt\""}
		}
	}
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
		return jsonv.Member{}, &Error{Step: trunc(key), Msg: fmt.Sprintf("unknown legacy operator %q", op)}
	}
	return jsonv.Member{Key: key, Value: jsonv.Object{{Key: op, Value: val}}}, nil
}
