package query

import "strings"

// Absorb returns a filter equivalent to n without the terms its
// conjunctions make redundant:
//
//   - absorption: in A AND (A OR B), the OR is implied by A and dropped;
//     so is an OR one of whose items is a conjunction of siblings
//     (A AND B AND ((A AND B) OR C));
//   - idempotence: a conjunct repeated (A AND A) is kept once.
//
// Terms compare by their canonical encoding (the read cache's, Key), so
// only identical conditions absorb each other: same path, operator,
// values of the same kinds, and joins with the same scoping. It matters
// for permission modifiers that add a disjunction the client's own
// filter already satisfies (examples/blog's anonymous read adds
// status = "published" OR user = $user to a list of published posts):
// the store then evaluates the client's condition alone on its index. A
// disjunction holding a condition through a reference is kept (the join
// guard checks each such condition against the caller's permissions).
// n is not modified; nil stays nil.
func Absorb(n Node) Node {
	switch x := n.(type) {
	case And:
		return absorbAnd(x)
	case Or:
		out := make(Or, len(x))
		for i, c := range x {
			out[i] = Absorb(c)
		}
		return out
	}
	return n
}

func absorbAnd(x And) Node {
	items := make([]Node, len(x))
	keys := make([]string, len(x))
	have := make(map[string]bool, len(x))
	for i, c := range x {
		items[i] = Absorb(c)
		keys[i] = NodeKey(items[i])
		if _, isOr := items[i].(Or); !isOr {
			have[keys[i]] = true
		}
	}
	out := make(And, 0, len(x))
	kept := make(map[string]bool, len(x))
	for i, c := range items {
		if kept[keys[i]] {
			continue // A AND A
		}
		if or, ok := c.(Or); ok && !joins(or) && impliedOr(or, have) {
			continue // A AND (A OR B)
		}
		kept[keys[i]] = true
		out = append(out, c)
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

// impliedOr reports whether one of or's items holds whenever every
// condition keyed in have holds: the item is one of them, or a
// non-empty conjunction of them.
func impliedOr(or Or, have map[string]bool) bool {
	for _, it := range or {
		if and, ok := it.(And); ok {
			all := len(and) > 0
			for _, c := range and {
				if !have[NodeKey(c)] {
					all = false
					break
				}
			}
			if all {
				return true
			}
			continue
		}
		if have[NodeKey(it)] {
			return true
		}
	}
	return false
}

// joins reports whether n holds a condition through a reference: such a
// disjunction is kept, so that the join guard still checks every
// condition the client wrote against what it may read.
func joins(n Node) bool {
	switch x := n.(type) {
	case And:
		for _, c := range x {
			if joins(c) {
				return true
			}
		}
	case Or:
		for _, c := range x {
			if joins(c) {
				return true
			}
		}
	case *Cond:
		return x.Join != nil
	}
	return false
}

// NodeKey returns a canonical encoding of the filter n, as Key encodes a
// query's filter: equal keys select the same documents.
func NodeKey(n Node) string {
	var b strings.Builder
	keyNode(&b, n)
	return b.String()
}
