package sqlite

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"sync"

	"modernc.org/sqlite"

	"github.com/limp-go/limp/internal/bsonorder"
	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/schema"
)

// valKeyFunc is limp_valkey(json): the bsonorder key (a BLOB) of the value
// whose JSON text is json (NULL: the key of null). Two values have equal
// keys exactly when MongoDB finds them equal (numbers as numbers at every
// depth), and keys order bytewise as MongoDB orders the values. It backs
// whole-array and whole-object equality and `$group` on non-scalar paths.
//
// SQLite may evaluate it on a value that is no JSON text (a number, a
// plain string) even behind a json_type guard: it answers NULL then, which
// equals nothing.
func valKeyFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	switch len(args) {
	case 1:
	case 2:
		return valKeyTyped(args)
	default:
		return nil, fmt.Errorf("limp_valkey: %d arguments", len(args))
	}
	v, err := parseJSONArg(args[0])
	if err != nil {
		return nil, nil
	}
	return bsonorder.Key(v), nil
}

// parseJSONArg parses a JSON text argument (string or blob; NULL is nil).
func parseJSONArg(a driver.Value) (any, error) {
	switch x := a.(type) {
	case nil:
		return nil, nil
	case string:
		return jsonv.Parse([]byte(x))
	case []byte:
		return jsonv.Parse(x)
	}
	return nil, fmt.Errorf("value is %T, not JSON text", a)
}

// valKey is the key limp_valkey computes for a canonical operand.
func valKey(v any) []byte { return bsonorder.Key(normalize(v)) }

// ObjectIds: this store keeps an ID as its hex string, which MongoDB's
// order ranks as an ObjectId (after objects and arrays, before booleans),
// not as a string. Where a sort or `$group` key covers a value whose type
// holds IDs (a DICT field, a LIST item, a UNION member), the SQL passes
// the type as a code (typeCode) and the key converts the hex strings at
// ID places to oid.ID first (convertIDs), so they rank as MongoDB ranks
// them.

// tcode is the serialised part of a schema.Type that convertIDs reads.
type tcode struct {
	K schema.Kind       `json:"k"`
	I []*tcode          `json:"i,omitempty"`
	F map[string]*tcode `json:"f,omitempty"`
	V *tcode            `json:"v,omitempty"`
}

func toTcode(t *schema.Type, depth int) *tcode {
	if t == nil || depth > 32 {
		return nil
	}
	c := &tcode{K: t.Kind}
	for _, it := range t.Items {
		c.I = append(c.I, toTcode(it, depth+1))
	}
	if t.Fields != nil {
		c.F = map[string]*tcode{}
		for k, f := range t.Fields {
			c.F[k] = toTcode(f, depth+1)
		}
	}
	c.V = toTcode(t.Val, depth+1)
	return c
}

func (c *tcode) toType() *schema.Type {
	if c == nil {
		return nil
	}
	t := &schema.Type{Kind: c.K, Val: c.V.toType()}
	for _, it := range c.I {
		t.Items = append(t.Items, it.toType())
	}
	if c.F != nil {
		t.Fields = map[string]*schema.Type{}
		for k, f := range c.F {
			t.Fields[k] = f.toType()
		}
	}
	return t
}

// holdsID reports whether a value of type t can hold an ID below its top
// (an ID at the top is a plain string path, sorted by its hex text).
func holdsID(t *schema.Type, depth int) bool {
	if t == nil || depth > 32 {
		return false
	}
	if t.Kind == schema.ID {
		return depth > 0
	}
	for _, it := range t.Items {
		if holdsID(it, depth+1) {
			return true
		}
	}
	for _, f := range t.Fields {
		if holdsID(f, depth+1) {
			return true
		}
	}
	return holdsID(t.Val, depth+1)
}

// typeCode is t's code for limp_sortkey and limp_valkey, "" when t holds
// no ID.
func typeCode(t *schema.Type) string {
	if !holdsID(t, 0) && (t == nil || t.Kind != schema.ID) {
		return ""
	}
	b, err := json.Marshal(toTcode(t, 0))
	if err != nil {
		return ""
	}
	return string(b)
}

var typeCodes sync.Map // code → *schema.Type

// typeOfCode returns the type a code stands for (nil for "" or a bad
// code), cached.
func typeOfCode(code string) *schema.Type {
	if code == "" {
		return nil
	}
	if t, ok := typeCodes.Load(code); ok {
		return t.(*schema.Type)
	}
	var c tcode
	if err := json.Unmarshal([]byte(code), &c); err != nil {
		return nil
	}
	t := c.toType()
	typeCodes.Store(code, t)
	return t
}

// valKeyTyped is limp_valkey(json, type): limp_valkey of the value with
// the hex strings at type's ID places taken as ObjectIds.
func valKeyTyped(args []driver.Value) (driver.Value, error) {
	v, err := parseJSONArg(args[0])
	if err != nil {
		return nil, nil
	}
	code, _ := args[1].(string)
	return bsonorder.Key(convertIDs(typeOfCode(code), v)), nil
}
