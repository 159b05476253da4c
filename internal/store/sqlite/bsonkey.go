package sqlite

import (
	"database/sql/driver"
	"fmt"

	"modernc.org/sqlite"

	"github.com/limp-go/limp/internal/bsonorder"
	"github.com/limp-go/limp/internal/jsonv"
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
