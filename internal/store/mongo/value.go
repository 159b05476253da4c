package mongo

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
)

// toBSON converts a canonical value (nil, bool, int64, float64, string,
// oid.ID, []any, map[string]any) to its BSON form: oid.ID becomes an
// ObjectID, ints are always int64, maps become bson.D with sorted keys (so
// compiled pipelines are deterministic). Go ints of other sizes are
// widened to int64.
func toBSON(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, int64, float64, string:
		return v, nil
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case float32:
		return float64(v), nil
	case oid.ID:
		return bson.ObjectID(v), nil
	case []any:
		out := make(bson.A, len(v))
		for i, x := range v {
			y, err := toBSON(x)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = y
		}
		return out, nil
	case []oid.ID:
		out := make(bson.A, len(v))
		for i, x := range v {
			out[i] = bson.ObjectID(x)
		}
		return out, nil
	case []string:
		out := make(bson.A, len(v))
		for i, x := range v {
			out[i] = x
		}
		return out, nil
	case map[string]any:
		return docToBSON(v)
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

// docToBSON converts a canonical document to a bson.D with sorted keys.
func docToBSON(m map[string]any) (bson.D, error) {
	keys := sortedKeys(m)
	out := make(bson.D, 0, len(keys))
	for _, k := range keys {
		v, err := toBSON(m[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, bson.E{Key: k, Value: v})
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fromBSON converts a decoded BSON value back to its canonical form:
// ObjectID → oid.ID, int32 → int64, double → float64, documents →
// map[string]any, arrays → []any, DateTime → an ISO 8601 UTC string
// (LIMP stores datetimes as strings; a DateTime only appears in data
// written by other tools), Decimal128 → float64.
func fromBSON(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, int64, float64, string:
		return v, nil
	case int32:
		return int64(v), nil
	case bson.ObjectID:
		return oid.ID(v), nil
	case bson.D:
		return docFromBSON(v)
	case bson.M:
		out := make(map[string]any, len(v))
		for k, x := range v {
			y, err := fromBSON(x)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = y
		}
		return out, nil
	case bson.A:
		return listFromBSON(v)
	case []any:
		return listFromBSON(v)
	case bson.DateTime:
		return isoTime(v.Time()), nil
	case bson.Decimal128:
		f, err := strconv.ParseFloat(v.String(), 64)
		if err != nil {
			return nil, fmt.Errorf("decimal128 %s: %w", v, err)
		}
		return f, nil
	case bson.Null, bson.Undefined:
		return nil, nil
	}
	return nil, fmt.Errorf("unsupported BSON value type %T", v)
}

func listFromBSON(v []any) ([]any, error) {
	out := make([]any, len(v))
	for i, x := range v {
		y, err := fromBSON(x)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = y
	}
	return out, nil
}

func docFromBSON(d bson.D) (map[string]any, error) {
	out := make(map[string]any, len(d))
	for _, e := range d {
		y, err := fromBSON(e.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Key, err)
		}
		out[e.Key] = y
	}
	return out, nil
}

// isoTime formats t as Python's datetime.isoformat() does for a naive UTC
// time: microseconds only when non-zero.
func isoTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

// readDoc converts a stored document to the canonical form the store
// returns: internal fields dropped, hex strings at ID-typed top-level
// paths (data written by other tools) turned into oid.ID.
func readDoc(c *schema.Collection, d bson.D) (map[string]any, error) {
	doc, err := docFromBSON(d)
	if err != nil {
		return nil, err
	}
	for k := range doc {
		if k == deletedField || k == distanceField || k == scoreField || len(k) > len(joinPrefix) && k[:len(joinPrefix)] == joinPrefix {
			delete(doc, k)
		}
	}
	if c == nil {
		return doc, nil
	}
	for k, v := range doc {
		t := c.Lookup(k)
		switch {
		case t == nil:
		case t.Kind == schema.ID:
			doc[k] = hexToID(v)
		case t.IsIDList():
			if l, ok := v.([]any); ok {
				for i, x := range l {
					l[i] = hexToID(x)
				}
			}
		}
	}
	return doc, nil
}

func hexToID(v any) any {
	if s, ok := v.(string); ok {
		if id, err := oid.Parse(s); err == nil {
			return id
		}
	}
	return v
}

// toInt64 converts a numeric BSON value (a $count or $bucketAuto count) to
// int64.
func toInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case float64:
		if v == math.Trunc(v) {
			return int64(v), true
		}
	}
	return 0, false
}
