// Package schema is the lean, backend-facing view of a module's attributes:
// what kind of value lives at each path, which attrs are unique, indexed,
// searchable or references. The root package builds it from limp.Attr at
// start; the query parser and the stores read it. It holds no validation
// rules (those stay in the root package).
package schema

import (
	"slices"
	"strconv"
	"strings"
)

// Kind is a LIMP attr type.
type Kind uint8

// The LIMP v6 attr types (spec §6.3).
const (
	Unknown Kind = iota // not declared
	Any
	Access
	ID
	Str
	Int
	Float
	Bool
	Locale
	Locales
	Email
	Phone
	IP
	URIWeb
	Datetime
	Date
	Time
	File
	Geo
	List
	Dict
	Literal
	Union
	Counter // reserved
	Custom  // app-defined type (LIMP's TYPE)
)

var kindNames = [...]string{
	Unknown: "UNKNOWN", Any: "ANY", Access: "ACCESS", ID: "ID", Str: "STR", Int: "INT", Float: "FLOAT",
	Bool: "BOOL", Locale: "LOCALE", Locales: "LOCALES", Email: "EMAIL", Phone: "PHONE", IP: "IP",
	URIWeb: "URI_WEB", Datetime: "DATETIME", Date: "DATE", Time: "TIME", File: "FILE", Geo: "GEO",
	List: "LIST", Dict: "DICT", Literal: "LITERAL", Union: "UNION", Counter: "COUNTER", Custom: "TYPE",
}

// String returns LIMP's name of the type, e.g. "URI_WEB".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Stringish reports whether values of kind k are stored as JSON strings
// (ordered lexicographically).
func (k Kind) Stringish() bool {
	switch k {
	case Str, Email, Phone, IP, URIWeb, Datetime, Date, Time, Locales, ID:
		return true
	}
	return false
}

// Type is the shape of an attr value.
type Type struct {
	Kind Kind
	// Items are a LIST's allowed item types, or a UNION's members.
	Items []*Type
	// Fields are a typed DICT's keys.
	Fields map[string]*Type
	// Val is a key/value DICT's value type (Fields is nil then).
	Val *Type
	// Literal holds a LITERAL's allowed values.
	Literal []any
}

// ItemKinds returns the kinds of a LIST's items (nil for other kinds).
func (t *Type) ItemKinds() []Kind {
	if t == nil || t.Kind != List {
		return nil
	}
	ks := make([]Kind, len(t.Items))
	for i, it := range t.Items {
		ks[i] = it.Kind
	}
	return ks
}

// IsIDList reports whether t is a LIST whose only item type is ID.
func (t *Type) IsIDList() bool {
	return t != nil && t.Kind == List && len(t.Items) == 1 && t.Items[0].Kind == ID
}

// Extn declares that an ID (or LIST of ID) attr references documents of
// another module (spec §6.7).
type Extn struct {
	Module     string   // target module name
	Collection string   // target collection
	Attrs      []string // attrs kept on expansion; empty or ["*"] means all
	Force      bool     // expand the target's own extns too
	// Target is the referenced collection's schema, for paths that run
	// through the reference ("cat.title.en_AE").
	Target *Collection
}

// IndexKey is one key of a compound index.
type IndexKey struct {
	Path string
	Desc bool
}

// Collection describes one stored collection.
type Collection struct {
	// Name of the table (SQLite) or collection (MongoDB).
	Name string
	// Module is the module name, for messages.
	Module string
	// Attrs are the top-level attrs; "_id" is implicit and of kind ID.
	Attrs map[string]*Type
	// Unique lists sets of attr paths that must be unique together among
	// documents that are not deleted.
	Unique [][]string
	// Indexes lists plain (non-unique) indexes.
	Indexes [][]IndexKey
	// Search lists the attr paths covered by `$search` (LOCALE and STR
	// attrs). Empty means the collection has no text index.
	Search []string
	// Secret lists top-level attrs that hold credentials (digests of
	// auth attrs, session token digests). No query may match, sort or
	// group by them, directly or through a reference, and reads never
	// return them.
	Secret []string
	// Extns maps attr paths (dotted for nested: "items:0.product" is
	// written "items.product") to their references.
	Extns map[string]*Extn
	// Locales are the app's locales: the only keys of a LOCALE value
	// ("title.en_AE"). Nil accepts any key.
	Locales []string
}

// Lookup returns the type at a dotted path ("title.en_AE", "items.0.qty",
// "_id"), descending through DICT fields, key/value DICTs, LIST items
// (numeric segments or implicit element access, as MongoDB does) and
// LOCALE keys (only c.Locales when set). It returns nil for an undeclared
// path. A path that ends
// inside an ANY value returns the ANY type.
func (c *Collection) Lookup(path string) *Type {
	if path == "_id" {
		return idType
	}
	seg, rest, more := strings.Cut(path, ".")
	t := c.Attrs[seg]
	for more && t != nil {
		seg, rest, more = strings.Cut(rest, ".")
		if c.Locales != nil && t.localeParent(seg) && !slices.Contains(c.Locales, seg) {
			return nil
		}
		t = t.child(seg)
	}
	return t
}

var (
	idType  = &Type{Kind: ID}
	strType = &Type{Kind: Str}
)

// localeParent reports whether seg, below t, is a key of a LOCALE value:
// t is a LOCALE, or a LIST of LOCALE that seg (not an index) reaches
// through.
func (t *Type) localeParent(seg string) bool {
	for t.Kind == List && len(t.Items) == 1 {
		if _, err := strconv.Atoi(seg); err == nil {
			return false
		}
		t = t.Items[0]
	}
	return t.Kind == Locale
}

func (t *Type) child(seg string) *Type {
	switch t.Kind {
	case Any:
		return t
	case Locale:
		return strType
	case Dict:
		if t.Fields != nil {
			return t.Fields[seg]
		}
		return t.Val
	case List:
		if _, err := strconv.Atoi(seg); err == nil {
			if len(t.Items) == 1 {
				return t.Items[0]
			}
			return &Type{Kind: Any}
		}
		// MongoDB applies "list.field" to each element.
		if len(t.Items) == 1 {
			return t.Items[0].child(seg)
		}
		return nil
	case Geo:
		if seg == "coordinates" {
			return &Type{Kind: List, Items: []*Type{{Kind: Float}}}
		}
		if seg == "type" {
			return strType
		}
	case File:
		switch seg {
		case "name", "type":
			return strType
		case "size", "lastModified":
			return &Type{Kind: Int}
		}
	}
	return nil
}

// IsSecret reports whether path is a Secret attr or lies inside one.
func (c *Collection) IsSecret(path string) bool {
	if c == nil || len(c.Secret) == 0 {
		return false
	}
	top, _, _ := strings.Cut(path, ".")
	for _, s := range c.Secret {
		if s == top {
			return true
		}
	}
	return false
}
