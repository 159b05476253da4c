package limp

import (
	"errors"
	"slices"
	"strings"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/query"
)

// Query is a call's query in LIMP's wire form (spec §7): a list of steps
// joined by AND, nested lists as OR, `$` special keys. Hooks and handlers
// read and extend it; base methods parse it against the module's attrs.
// Not safe for concurrent use.
type Query struct {
	steps []any // jsonv values: objects as jsonv.Object
	// legacy holds a pre-v5 object-form query (spec §7.10) as received.
	legacy jsonv.Object
}

// NewQuery returns a query of the given steps. A step is an M (one
// condition object), a []M (an OR group) or any value the wire accepts.
func NewQuery(steps ...any) *Query {
	q := &Query{}
	for _, s := range steps {
		q.Append(s)
	}
	return q
}

// queryFromWire wraps a decoded wire query (nil, a list, or a legacy
// object).
func queryFromWire(v any) (*Query, error) {
	switch x := v.(type) {
	case nil:
		return &Query{}, nil
	case []any:
		return &Query{steps: x}, nil
	case jsonv.Object:
		return &Query{legacy: x}, nil
	}
	return nil, errors.New("query must be a list of steps")
}

// Append adds a step (AND-ed with the others). Specials in later steps
// override earlier ones, so permission modifiers appended after the
// client's query win.
func (q *Query) Append(step any) {
	q.steps = append(q.steps, toOrdered(step))
}

// Steps returns the query's steps in wire form.
func (q *Query) Steps() []any { return q.steps }

// Values returns every equality value of attr anywhere in the query
// (including OR groups), in order; q.Values("_id")[0] is the usual "the
// _id the client asked for".
func (q *Query) Values(attr string) []any {
	var out []any
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case jsonv.Object:
			for _, m := range x {
				switch {
				case m.Key == attr:
					if o, ok := m.Value.(jsonv.Object); ok && len(o) == 1 && strings.HasPrefix(o[0].Key, "$") {
						if o[0].Key == "$eq" {
							out = append(out, o[0].Value)
						}
						continue
					}
					out = append(out, m.Value)
				case strings.HasPrefix(m.Key, "__or"):
					walk(m.Value)
				}
			}
		}
	}
	walk(q.steps)
	if q.legacy != nil {
		if v, ok := q.legacy.Get(attr); ok {
			if o, ok := v.(jsonv.Object); ok {
				if val, ok := o.Get("val"); ok {
					out = append(out, val)
				}
			} else {
				out = append(out, v)
			}
		}
	}
	return out
}

// Special returns the value of a special key ("$limit"): its last
// occurrence anywhere in the query.
func (q *Query) Special(key string) (any, bool) {
	var val any
	found := false
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case jsonv.Object:
			for _, m := range x {
				if m.Key == key {
					val, found = m.Value, true
				} else if strings.HasPrefix(m.Key, "__or") {
					walk(m.Value)
				}
			}
		}
	}
	if q.legacy != nil {
		walk(q.legacy)
	}
	walk(q.steps)
	return val, found
}

// MarshalJSON encodes the query in wire form.
func (q *Query) MarshalJSON() ([]byte, error) {
	if q.legacy != nil && len(q.steps) == 0 {
		return jsonv.Marshal(q.legacy)
	}
	if q.steps == nil {
		return []byte("[]"), nil
	}
	return jsonv.Marshal(q.steps)
}

// parse parses the query against a module's attrs into the store form.
// A legacy object-form query is converted to steps and parsed with the
// steps appended to it (permission modifiers), whose specials then win:
// the last occurrence of a special counts.
func (q *Query) parse(m *Module) (*query.Query, error) {
	steps := q.steps
	if q.legacy != nil {
		legacy, err := query.Legacy(q.legacy)
		if err != nil {
			return nil, m.queryError(err)
		}
		steps = append(legacy, q.steps...)
	}
	pq, err := query.Parse(steps, m.coll)
	return pq, m.queryError(err)
}

// queryError turns a parser error into a 400 <PKG>_<MODULE>_INVALID_QUERY.
func (m *Module) queryError(err error) error {
	if err == nil {
		return nil
	}
	var qe *query.Error
	if errors.As(err, &qe) {
		return m.Errorf(400, CodeInvalidQuery, "Invalid query step %s: %s", qe.Step, qe.Msg)
	}
	return m.Errorf(400, CodeInvalidQuery, "Invalid query: %v", err)
}

// toOrdered converts Go-built values (M, []M) to the ordered wire form,
// with keys sorted.
func toOrdered(v any) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		o := make(jsonv.Object, len(keys))
		for i, k := range keys {
			o[i] = jsonv.Member{Key: k, Value: toOrdered(x[k])}
		}
		return o
	case []M:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toOrdered(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toOrdered(e)
		}
		return out
	case Var:
		return string(x)
	}
	return v
}

// toMap converts ordered wire values to plain maps (for docs).
func toMap(v any) any {
	switch x := v.(type) {
	case jsonv.Object:
		m := make(map[string]any, len(x))
		for _, e := range x {
			m[e.Key] = toMap(e.Value)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = toMap(e)
		}
		return x
	}
	return v
}
