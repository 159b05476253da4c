// Package query holds the backend-neutral form of a LIMP v6 query (spec §7)
// and its parser. Both stores compile a *Query: the embedded store to SQL,
// the MongoDB store to an aggregation pipeline.
package query

import (
	"github.com/limp-go/limp/internal/oid"
)

// Op is a comparison operator (spec §7.3).
type Op uint8

// The operators LIMP v6 accepts. Nothing else reaches a store.
const (
	Eq    Op = iota // equality; on a LIST attr: any element equals
	Ne              // not equal; on a LIST attr: no element equals
	Gt              // >
	Gte             // >=
	Lt              // <
	Lte             // <=
	Bet             // Value <= x <= Value2
	In              // x (or any element of a LIST x) is one of Value.([]any)
	Nin             // not In
	All             // LIST x contains every element of Value.([]any)
	Regex           // case-insensitive regular expression, Value is a string
)

var opNames = [...]string{Eq: "$eq", Ne: "$ne", Gt: "$gt", Gte: "$gte", Lt: "$lt", Lte: "$lte",
	Bet: "$bet", In: "$in", Nin: "$nin", All: "$all", Regex: "$regex"}

// String returns the wire name of op ("$gte").
func (op Op) String() string {
	if int(op) < len(opNames) {
		return opNames[op]
	}
	return "$?"
}

// Node is a filter expression: And, Or, *Cond or *Access.
type Node interface{ isNode() }

// And matches when every child matches. An empty And matches everything.
type And []Node

// Or matches when any child matches. An empty Or matches nothing.
type Or []Node

// Cond compares the value at Path with Value.
//
// Values are canonical: nil, bool, int64, float64, string, oid.ID, []any
// and map[string]any. Where the schema types Path as ID (or LIST of ID),
// hex strings have already been converted to oid.ID.
type Cond struct {
	// Path is a dotted attr path ("status", "title.en_AE", "_id").
	Path string
	Op   Op
	// Value is the operand; a []any for In, Nin and All; the lower bound
	// for Bet.
	Value any
	// Value2 is Bet's upper bound.
	Value2 any
	// Join is set when Path runs through an extended (referenced) attr:
	// the condition then applies to the referenced document (spec §7.5).
	Join *Join
}

// Join names the referenced collection a Cond's Path runs into. For
// "cat.title.en_AE" with cat extended from blog_cat, Local is "cat",
// Collection is blog_cat's collection and Cond.Path is "title.en_AE".
type Join struct {
	Local      string
	Collection string
	// IDList is true when Local holds a LIST of IDs.
	IDList bool
	// Filter restricts the referenced documents a condition sees to those
	// its caller may read: the referenced module's read permission
	// (privilege and query_mod) resolved for the caller (spec §5.2–5.3),
	// as a filter on Collection. It may hold joins of its own (their
	// Filter set the same way). nil admits every live document; the root
	// package sets it for every client call, so an unreadable referenced
	// document behaves exactly as a missing one.
	Filter Node
	// Deny hides every referenced document (the caller may not read the
	// referenced module at all): each reference behaves as missing.
	Deny bool
}

// Access matches documents an ACCESS attr opens to a user (spec §7.6):
// the document's owner ("user" attr) is User, or Path.anon is true, or
// User is in Path.users, or one of Groups is in Path.groups.
type Access struct {
	Path   string
	User   oid.ID
	Groups []oid.ID
}

func (And) isNode()     {}
func (Or) isNode()      {}
func (*Cond) isNode()   {}
func (*Access) isNode() {}

// Sort is one `$sort` key.
type Sort struct {
	Path string
	Desc bool
}

// Group is one `$group` item: bucket the matching documents by By into at
// most Count buckets of (nearly) equal size, as MongoDB's $bucketAuto.
type Group struct {
	By    string
	Count int
}

// GeoNear is `$geo_near`: documents whose GEO attr Attr lies within
// MaxDistance meters of (Lng, Lat), nearest first.
type GeoNear struct {
	Attr        string
	Lng, Lat    float64
	MaxDistance float64
}

// Query is a parsed, checked query.
type Query struct {
	// Filter selects documents; nil selects all of them.
	Filter Node
	// Search is `$search`: full-text search over the collection's Search
	// attrs; matches are ordered by relevance unless Sort is given.
	Search string
	// Sort is `$sort` in key order; empty means newest first (_id desc).
	Sort []Sort
	// Skip and Limit page the results; Limit 0 means no limit.
	Skip  int64
	Limit int64
	// Attrs is `$attrs`: the attrs to return besides _id; nil means all.
	Attrs []string
	// Group is `$group`.
	Group []Group
	// GeoNear is `$geo_near`.
	GeoNear *GeoNear
	// Extn is `$extn`: nil leaves every declared extension on; a non-nil
	// empty slice (from `$extn: false`) turns them all off; a list keeps
	// only those attrs' extensions.
	Extn []string
	// Soft is `$soft: true`.
	Soft bool
}

// AndFilter returns the conjunction of a and b, flattening nested Ands
// and dropping nils.
func AndFilter(a, b Node) Node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	var out And
	for _, n := range []Node{a, b} {
		if x, ok := n.(And); ok {
			out = append(out, x...)
		} else {
			out = append(out, n)
		}
	}
	return out
}
