// Package match evaluates a compiled query filter (*query.Query's Filter,
// a query.Node) against one document in Go, with the semantics both
// stores give it (MongoDB's): paths descend through lists element by
// element, a condition on a list holds when one element satisfies it (and
// Eq with a null or list operand also compares the list whole), null
// matches a missing value, comparisons ($gt, $lt, $bet ...) hold only
// between values of the same kind (numbers as numbers, strings bytewise,
// ObjectIds, booleans) in internal/bsonorder's order, $regex is
// case-insensitive, $ne and $nin are the negations of $eq and $in, $all
// needs every operand, and ACCESS (spec §7.6) opens a document to its
// owner, to anyone when anon is true, to its users and groups.
//
// Live queries (spec §6.12, issue 14) match every change against every
// watcher's filter with it, with no database read per watcher; the store
// conformance suite (storetest) checks it against the embedded store on
// the same datasets and queries.
//
// A condition through a reference (Cond.Join) needs the referenced
// documents: Match asks a [Resolver] for them; [Refs] lists the ids a
// filter needs for a document, so that a caller can read them in one
// batch for many filters and documents first.
package match

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/limp-go/limp/internal/bsonorder"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// Resolver returns the live (not deleted) document id of collection, or
// nil when there is none. Match calls it for conditions through
// references; a nil Resolver makes every reference missing.
type Resolver func(collection string, id oid.ID) map[string]any

// Match reports whether doc (canonical values, as a store returns them)
// passes filter n; a nil filter passes every document. Documents carrying
// "__deleted": true never match (they are invisible to queries).
func Match(n query.Node, doc map[string]any, r Resolver) bool {
	if d, _ := doc["__deleted"].(bool); d {
		return false
	}
	return node(n, doc, r)
}

func node(n query.Node, doc map[string]any, r Resolver) bool {
	switch n := n.(type) {
	case nil:
		return true
	case query.And:
		for _, x := range n {
			if !node(x, doc, r) {
				return false
			}
		}
		return true
	case query.Or:
		for _, x := range n {
			if node(x, doc, r) {
				return true
			}
		}
		return false
	case *query.Cond:
		return cond(n, doc, r)
	case *query.Access:
		return access(n, doc)
	}
	return false
}

func cond(c *query.Cond, doc map[string]any, r Resolver) bool {
	neg := false
	pos := *c
	switch c.Op {
	case query.Ne:
		neg, pos.Op = true, query.Eq
	case query.Nin:
		neg, pos.Op = true, query.In
	}
	var ok bool
	if c.Join != nil {
		ok = join(&pos, doc, r)
	} else {
		ok = positive(&pos, Values(doc, pos.Path))
	}
	return ok != neg
}

// join: some live referenced document passing the join's permission
// filter satisfies the condition.
func join(c *query.Cond, doc map[string]any, r Resolver) bool {
	j := c.Join
	if j.Deny || r == nil {
		return false
	}
	for _, id := range refIDs(doc, j.Local) {
		t := r(j.Collection, id)
		if t == nil {
			continue
		}
		if d, _ := t["__deleted"].(bool); d {
			continue
		}
		if j.Filter != nil && !node(j.Filter, t, r) {
			continue
		}
		if positive(c, Values(t, c.Path)) {
			return true
		}
	}
	return false
}

// refIDs returns the ids held at path (a single ID or a list of them).
func refIDs(doc map[string]any, path string) []oid.ID {
	var ids []oid.ID
	add := func(v any) {
		switch x := v.(type) {
		case oid.ID:
			ids = append(ids, x)
		case string:
			if id, err := oid.Parse(x); err == nil {
				ids = append(ids, id)
			}
		}
	}
	for _, v := range Values(doc, path) {
		if l, ok := v.([]any); ok {
			for _, e := range l {
				add(e)
			}
			continue
		}
		add(v)
	}
	return ids
}

// Refs adds to dst (collection → ids) the referenced documents filter n
// needs to be matched against doc: the first level of references (those
// the referenced documents name in turn are asked of the Resolver as
// Match goes). It returns dst, allocated when nil.
func Refs(dst map[string][]oid.ID, n query.Node, doc map[string]any) map[string][]oid.ID {
	switch n := n.(type) {
	case query.And:
		for _, x := range n {
			dst = Refs(dst, x, doc)
		}
	case query.Or:
		for _, x := range n {
			dst = Refs(dst, x, doc)
		}
	case *query.Cond:
		if j := n.Join; j != nil && !j.Deny {
			if dst == nil {
				dst = map[string][]oid.ID{}
			}
			dst[j.Collection] = append(dst[j.Collection], refIDs(doc, j.Local)...)
		}
	}
	return dst
}

// missing marks a path that does not exist along one branch.
type missing struct{}

// IsMissing reports whether v, one of Values' results, marks a missing
// path.
func IsMissing(v any) bool { _, ok := v.(missing); return ok }

// Values returns the values at dotted path in doc, descending through
// lists: a list met before the last segment contributes the values of
// each of its object elements (and its element at a numeric segment). A
// branch where the path ends early contributes a missing marker, which
// only null operands match. The value at the end of the path is returned
// as is (a list stays whole).
func Values(doc map[string]any, path string) []any {
	if path == "_id" {
		if v, ok := doc["_id"]; ok {
			return []any{v}
		}
		return []any{missing{}}
	}
	return walk(nil, doc, strings.Split(path, "."), 0)
}

func walk(dst []any, v any, segs []string, depth int) []any {
	if len(segs) == 0 {
		return append(dst, v)
	}
	if depth > 100 {
		return append(dst, missing{})
	}
	switch x := v.(type) {
	case map[string]any:
		child, ok := x[segs[0]]
		if !ok {
			return append(dst, missing{})
		}
		return walk(dst, child, segs[1:], depth+1)
	case []any:
		n := len(dst)
		if i, err := strconv.Atoi(segs[0]); err == nil && i >= 0 && isDigits(segs[0]) {
			if i < len(x) {
				dst = walk(dst, x[i], segs[1:], depth+1)
			}
		}
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				dst = walk(dst, m, segs, depth+1)
			}
		}
		if len(dst) == n {
			dst = append(dst, missing{})
		}
		return dst
	}
	return append(dst, missing{})
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// positive evaluates a condition without Ne/Nin over the candidate values.
func positive(c *query.Cond, vals []any) bool {
	switch c.Op {
	case query.Eq:
		return anyValue(vals, func(v any) bool { return eq(v, c.Value) })
	case query.In:
		l, _ := c.Value.([]any)
		return anyValue(vals, func(v any) bool {
			for _, x := range l {
				if eq(v, x) {
					return true
				}
			}
			return false
		})
	case query.All:
		l, _ := c.Value.([]any)
		if len(l) == 0 {
			return false
		}
		for _, x := range l {
			if !anyValue(vals, func(v any) bool { return eq(v, x) }) {
				return false
			}
		}
		return true
	case query.Gt, query.Gte, query.Lt, query.Lte:
		return anyValue(vals, func(v any) bool { return cmp(v, c.Op, c.Value) })
	case query.Bet:
		return anyValue(vals, func(v any) bool { return cmp(v, query.Gte, c.Value) }) &&
			anyValue(vals, func(v any) bool { return cmp(v, query.Lte, c.Value2) })
	case query.Regex:
		p, _ := c.Value.(string)
		re := compile(p)
		if re == nil {
			return false
		}
		return anyValue(vals, func(v any) bool {
			s, ok := v.(string)
			return ok && re.MatchString(s)
		})
	}
	return false
}

// anyValue applies leaf to each candidate and, for a list, to each of its
// elements (whole-list comparisons are leaf's own business).
func anyValue(vals []any, leaf func(any) bool) bool {
	for _, v := range vals {
		if leaf(v) {
			return true
		}
		if l, ok := v.([]any); ok {
			for _, e := range l {
				if leaf(e) {
					return true
				}
			}
		}
	}
	return false
}

// eq is MongoDB's equality of a stored value (or missing) with an operand.
func eq(v, x any) bool {
	if _, ok := v.(missing); ok {
		return x == nil
	}
	if x == nil {
		return v == nil
	}
	if id, ok := x.(oid.ID); ok {
		// IDs may be stored as their hex text where the schema does
		// not type them.
		if s, ok := v.(string); ok {
			return s == id.Hex()
		}
	}
	if s, ok := x.(string); ok {
		if id, ok := v.(oid.ID); ok {
			return s == id.Hex()
		}
	}
	if bsonorder.Rank(v) != bsonorder.Rank(x) {
		return false
	}
	return bsonorder.Equal(v, x)
}

// cmp is a range comparison: only values of the operand's kind compare;
// a null operand of $gte/$lte matches null and missing values.
func cmp(v any, op query.Op, x any) bool {
	if x == nil {
		return (op == query.Gte || op == query.Lte) && eq(v, nil)
	}
	switch x.(type) {
	case bool, int64, int, float64, string, oid.ID:
	default:
		return false
	}
	if _, ok := v.(missing); ok {
		return false
	}
	if id, ok := x.(oid.ID); ok {
		if s, ok := v.(string); ok {
			return order(strings.Compare(s, id.Hex()), op)
		}
	}
	if s, ok := x.(string); ok {
		if id, ok := v.(oid.ID); ok {
			return order(strings.Compare(id.Hex(), s), op)
		}
	}
	if bsonorder.Rank(v) != bsonorder.Rank(x) {
		return false
	}
	return order(bsonorder.Compare(v, x), op)
}

func order(c int, op query.Op) bool {
	switch op {
	case query.Gt:
		return c > 0
	case query.Gte:
		return c >= 0
	case query.Lt:
		return c < 0
	case query.Lte:
		return c <= 0
	}
	return false
}

func access(a *query.Access, doc map[string]any) bool {
	isUser := func(v any) bool {
		switch x := v.(type) {
		case oid.ID:
			return x == a.User
		case string:
			return x == a.User.Hex()
		}
		return false
	}
	if isUser(doc["user"]) {
		return true
	}
	at, _ := walkOne(doc, a.Path).(map[string]any)
	if at == nil {
		return false
	}
	if b, _ := at["anon"].(bool); b {
		return true
	}
	if l, ok := at["users"].([]any); ok {
		for _, u := range l {
			if isUser(u) {
				return true
			}
		}
	}
	if l, ok := at["groups"].([]any); ok {
		for _, g := range l {
			for _, want := range a.Groups {
				switch x := g.(type) {
				case oid.ID:
					if x == want {
						return true
					}
				case string:
					if x == want.Hex() {
						return true
					}
				}
			}
		}
	}
	return false
}

// walkOne follows path through objects only.
func walkOne(doc map[string]any, path string) any {
	var v any = doc
	for _, s := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[s]
	}
	return v
}

var regexCache struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}

// compile returns the case-insensitive regexp of p (nil when invalid),
// from a small cache.
func compile(p string) *regexp.Regexp {
	regexCache.Lock()
	re, ok := regexCache.m[p]
	regexCache.Unlock()
	if ok {
		return re
	}
	re, _ = regexp.Compile("(?i)" + p)
	regexCache.Lock()
	if regexCache.m == nil || len(regexCache.m) >= 256 {
		regexCache.m = map[string]*regexp.Regexp{}
	}
	regexCache.m[p] = re
	regexCache.Unlock()
	return re
}
