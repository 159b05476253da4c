package sqlite

import (
	"database/sql/driver"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"modernc.org/sqlite"

	"github.com/limp-go/limp/internal/bsonorder"
	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// deletedField is the soft-delete marker of the store interface; this store
// keeps it in the deleted column and never in doc.
const deletedField = "__deleted"

var registerOnce sync.Once

// registerFuncs registers the SQL functions the compiled queries use:
// limp_regexp(pattern, json_quote(value)), limp_distance(lng1, lat1, lng2, lat2) and
// limp_sortkey(json, rest, desc[, type]), limp_valkey(json[, type]),
// limp_exprval(json, rest), limp_cond(json, path, op, operand) and
// limp_refs(json, path).
func registerFuncs() {
	registerOnce.Do(func() {
		sqlite.MustRegisterDeterministicScalarFunction("limp_regexp", 2, regexpFunc)
		sqlite.MustRegisterDeterministicScalarFunction("limp_distance", 4, distanceFunc)
		// Variadic: modernc registers one arity per name.
		sqlite.MustRegisterDeterministicScalarFunction("limp_sortkey", -1, sortKeyFunc)
		sqlite.MustRegisterDeterministicScalarFunction("limp_valkey", -1, valKeyFunc)
		sqlite.MustRegisterDeterministicScalarFunction("limp_exprval", 2, exprValFunc)
		sqlite.MustRegisterDeterministicScalarFunction("limp_cond", 4, condFunc)
		sqlite.MustRegisterDeterministicScalarFunction("limp_refs", 2, refsFunc)
	})
}

var regexCache = struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}{m: map[string]*regexp.Regexp{}}

// compileRegex compiles a case-insensitive `$regex` pattern, cached.
func compileRegex(p string) (*regexp.Regexp, error) {
	if len(p) > maxRegex {
		return nil, fmt.Errorf("pattern longer than %d bytes", maxRegex)
	}
	regexCache.Lock()
	re, ok := regexCache.m[p]
	regexCache.Unlock()
	if ok {
		return re, nil
	}
	re, err := regexp.Compile("(?i)" + p)
	if err != nil {
		return nil, fmt.Errorf("invalid $regex: %w", err)
	}
	regexCache.Lock()
	if len(regexCache.m) >= 256 {
		clear(regexCache.m)
	}
	regexCache.m[p] = re
	regexCache.Unlock()
	return re, nil
}

func regexpFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	p, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("limp_regexp: pattern is %T", args[0])
	}
	// The value is the JSON text of a string (json_quote): SQL text
	// reaching a Go function stops at its first NUL.
	var js []byte
	switch v := args[1].(type) {
	case string:
		js = []byte(v)
	case []byte:
		js = v
	default:
		return int64(0), nil
	}
	jv, err := jsonv.Parse(js)
	if err != nil {
		return nil, fmt.Errorf("limp_regexp: %w", err)
	}
	s, ok := jv.(string)
	if !ok {
		return int64(0), nil
	}
	re, err := compileRegex(p)
	if err != nil {
		return nil, err
	}
	if re.MatchString(s) {
		return int64(1), nil
	}
	return int64(0), nil
}

func toFloat(v driver.Value) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// distanceFunc is the haversine distance in meters between two points
// given as lng, lat degrees; NULL when a coordinate is not a number.
func distanceFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	var f [4]float64
	for i, a := range args {
		x, ok := toFloat(a)
		if !ok {
			return nil, nil
		}
		f[i] = x
	}
	return haversine(f[0], f[1], f[2], f[3]), nil
}

func haversine(lng1, lat1, lng2, lat2 float64) float64 {
	const r = 6378100.0 // MongoDB's earth radius in meters
	rad := math.Pi / 180
	dlat := (lat2 - lat1) * rad
	dlng := (lng2 - lng1) * rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlng/2)*math.Sin(dlng/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// encodeDoc returns d's id and the JSON stored in doc (d without _id and
// __deleted). A document inserted with "__deleted": true is stored
// deleted: the caller checks d itself.
func encodeDoc(d map[string]any) (oid.ID, []byte, error) {
	id, ok := d["_id"].(oid.ID)
	if !ok {
		return id, nil, fmt.Errorf("_id is %T, not an oid.ID", d["_id"])
	}
	body := make(map[string]any, len(d))
	for k, v := range d {
		if k == "_id" || k == deletedField {
			continue
		}
		if k == "" || strings.ContainsAny(k, ".") || strings.HasPrefix(k, "$") {
			return id, nil, fmt.Errorf("invalid attr name %q", k)
		}
		body[k] = v
	}
	b, err := jsonv.Marshal(body)
	if err != nil {
		return id, nil, err
	}
	return id, b, nil
}

// decodeDoc parses a stored row back to a document, with values at ID
// paths as oid.ID.
func decodeDoc(c *schema.Collection, id string, doc []byte) (map[string]any, error) {
	v, err := jsonv.Parse(doc)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("stored document is %T", v)
	}
	delete(m, deletedField)
	for k, x := range m {
		if t := c.Attrs[k]; t != nil {
			m[k] = convertIDs(t, x)
		}
	}
	oidv, err := oid.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("stored id %q: %w", id, err)
	}
	m["_id"] = oidv
	return m, nil
}

// convertIDs turns hex strings at ID-typed places of v (typed t) into oid.ID.
func convertIDs(t *schema.Type, v any) any {
	if t == nil || v == nil {
		return v
	}
	switch t.Kind {
	case schema.ID:
		if s, ok := v.(string); ok {
			if id, err := oid.Parse(s); err == nil {
				return id
			}
		}
	case schema.List:
		l, ok := v.([]any)
		if !ok {
			return v
		}
		for i, x := range l {
			if len(t.Items) == 1 {
				l[i] = convertIDs(t.Items[0], x)
			} else {
				l[i] = convertUnion(t.Items, x)
			}
		}
	case schema.Dict:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		for k, x := range m {
			if t.Fields != nil {
				m[k] = convertIDs(t.Fields[k], x)
			} else {
				m[k] = convertIDs(t.Val, x)
			}
		}
	case schema.Union:
		return convertUnion(t.Items, v)
	}
	return v
}

// convertUnion converts v by the first member of a UNION (or a LIST's item
// types) it fits: a hex string fits ID, an object a DICT, an array a LIST.
func convertUnion(ts []*schema.Type, v any) any {
	for _, t := range ts {
		switch x := v.(type) {
		case string:
			if t.Kind == schema.ID && oid.IsHex(x) {
				return convertIDs(t, v)
			}
		case map[string]any:
			if t.Kind == schema.Dict {
				return convertIDs(t, v)
			}
		case []any:
			if t.Kind == schema.List {
				return convertIDs(t, v)
			}
		}
	}
	return v
}

// project keeps _id and attrs (dotted paths keep nested values).
func project(doc map[string]any, attrs []string) map[string]any {
	out := map[string]any{"_id": doc["_id"]}
	for _, a := range attrs {
		projectPath(doc, out, strings.Split(a, "."))
	}
	return out
}

func projectPath(src, dst map[string]any, segs []string) {
	v, ok := src[segs[0]]
	if !ok {
		return
	}
	if len(segs) == 1 {
		dst[segs[0]] = v
		return
	}
	switch x := v.(type) {
	case map[string]any:
		sub, ok := dst[segs[0]].(map[string]any)
		if !ok {
			if _, exists := dst[segs[0]]; exists {
				return // the whole value is kept already
			}
			sub = map[string]any{}
			dst[segs[0]] = sub
		}
		projectPath(x, sub, segs[1:])
	case []any:
		// MongoDB projects "list.field" onto each object element.
		if _, exists := dst[segs[0]]; exists {
			if _, partial := dst[segs[0]].([]any); !partial {
				return
			}
		}
		prev, _ := dst[segs[0]].([]any)
		out := make([]any, 0, len(x))
		j := 0
		for _, e := range x {
			em, ok := e.(map[string]any)
			if !ok {
				continue
			}
			var sub map[string]any
			if j < len(prev) {
				sub, _ = prev[j].(map[string]any)
			}
			if sub == nil {
				sub = map[string]any{}
			}
			projectPath(em, sub, segs[1:])
			out = append(out, sub)
			j++
		}
		dst[segs[0]] = out
	}
}

// searchText is what the FTS table holds for doc (see ftsEntry), from the
// string values at c.Search paths (every value of a LOCALE attr).
func searchText(c *schema.Collection, doc map[string]any) ftsEntry {
	var parts []string
	for _, p := range c.Search {
		collectStrings(doc, strings.Split(p, "."), &parts)
	}
	return newFTSEntry(parts)
}

func collectStrings(v any, segs []string, out *[]string) {
	if len(segs) == 0 {
		allStrings(v, out)
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if y, ok := x[segs[0]]; ok {
			collectStrings(y, segs[1:], out)
		}
	case []any:
		if i, err := strconv.Atoi(segs[0]); err == nil {
			if i >= 0 && i < len(x) {
				collectStrings(x[i], segs[1:], out)
			}
			return
		}
		for _, e := range x {
			collectStrings(e, segs, out)
		}
	}
}

func allStrings(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			allStrings(x[k], out)
		}
	case []any:
		for _, e := range x {
			allStrings(e, out)
		}
	}
}

// normalize converts a canonical value to its stored form (oid.ID to hex
// string, recursively), so that it compares with parsed stored values.
func normalize(v any) any {
	switch x := v.(type) {
	case oid.ID:
		return x.Hex()
	case int:
		return int64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	}
	return v
}

// equal compares stored-form values; int64 1 equals float64 1.0.
func equal(a, b any) bool {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y
		case float64:
			return float64(x) == y
		}
		return false
	case float64:
		switch y := b.(type) {
		case int64:
			return x == float64(y)
		case float64:
			return x == y
		}
		return false
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, equal)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, e := range x {
			f, ok := y[k]
			if !ok || !equal(e, f) {
				return false
			}
		}
		return true
	}
	return a == b
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// applyUpdate applies u to doc (stored form) in MongoDB's operator order.
func applyUpdate(doc map[string]any, u *store.Update) error {
	for _, p := range sortedKeys(u.Set) {
		if err := setPath(doc, p, normalize(u.Set[p])); err != nil {
			return err
		}
	}
	for _, p := range u.Unset {
		unsetPath(doc, p)
	}
	arith := func(m map[string]any, mul bool) error {
		for _, p := range sortedKeys(m) {
			cur, _ := getPath(doc, p)
			v, err := arithmetic(cur, m[p], mul)
			if oe, ok := err.(*store.OverflowError); ok {
				oe.Path = p
				return oe
			}
			if err != nil {
				return fmt.Errorf("%q: %w", p, err)
			}
			if err := setPath(doc, p, v); err != nil {
				return err
			}
		}
		return nil
	}
	if err := arith(u.Add, false); err != nil {
		return err
	}
	if err := arith(u.Mul, true); err != nil {
		return err
	}
	for _, p := range sortedKeys(u.Append) {
		a := u.Append[p]
		cur, ok := getPath(doc, p)
		var list []any
		if ok && cur != nil {
			if list, ok = cur.([]any); !ok {
				return fmt.Errorf("$append to %q: not a list", p)
			}
		}
		for _, v := range a.Values {
			v = normalize(v)
			if a.Unique && slices.ContainsFunc(list, func(x any) bool { return equal(x, v) }) {
				continue
			}
			list = append(list, v)
		}
		if list == nil {
			list = []any{}
		}
		if a.Keep > 0 && !a.Unique && len(list) > a.Keep {
			list = list[len(list)-a.Keep:]
		}
		if err := setPath(doc, p, list); err != nil {
			return err
		}
	}
	for _, p := range sortedKeys(u.Remove) {
		cur, ok := getPath(doc, p)
		if !ok || cur == nil {
			continue
		}
		list, ok := cur.([]any)
		if !ok {
			return fmt.Errorf("$remove from %q: not a list", p)
		}
		rm := make([]any, len(u.Remove[p]))
		for i, v := range u.Remove[p] {
			rm[i] = normalize(v)
		}
		out := make([]any, 0, len(list))
		for _, x := range list {
			if !slices.ContainsFunc(rm, func(r any) bool { return equal(x, r) }) {
				out = append(out, x)
			}
		}
		if err := setPath(doc, p, out); err != nil {
			return err
		}
	}
	return nil
}

// arithmetic is $inc (mul false) or $mul: int64 when both are integers
// (an overflow is an error, as in MongoDB), else float64; a missing value
// counts as 0.
func arithmetic(cur, by any, mul bool) (any, error) {
	switch b := by.(type) {
	case int64, float64:
	case int:
		by = int64(b)
	default:
		return nil, fmt.Errorf("operand is %T, not a number", by)
	}
	if cur == nil {
		cur = int64(0)
	}
	switch cur.(type) {
	case int64, float64:
	default:
		return nil, fmt.Errorf("value is %T, not a number", cur)
	}
	ci, cInt := cur.(int64)
	bi, bInt := by.(int64)
	if cInt && bInt {
		// MongoDB refuses an int64 overflow rather than wrap.
		if mul {
			r := ci * bi
			if ci != 0 && (r/ci != bi || ci == -1 && bi == math.MinInt64 || bi == -1 && ci == math.MinInt64) {
				return nil, &store.OverflowError{Expr: fmt.Sprintf("%d * %d", ci, bi)}
			}
			return r, nil
		}
		r := ci + bi
		if ci > 0 && bi > 0 && r < 0 || ci < 0 && bi < 0 && r >= 0 {
			return nil, &store.OverflowError{Expr: fmt.Sprintf("%d + %d", ci, bi)}
		}
		return r, nil
	}
	cf, bf := num(cur), num(by)
	if mul {
		return cf * bf, nil
	}
	return cf + bf, nil
}

func num(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func getPath(doc map[string]any, p string) (any, bool) {
	var cur any = doc
	for seg := range strings.SplitSeq(p, ".") {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// setPath sets the value at a dotted path, creating missing objects on the
// way; numeric segments index lists (padding with nulls, as MongoDB).
func setPath(doc map[string]any, p string, v any) error {
	segs := strings.Split(p, ".")
	if segs[0] == "_id" || segs[0] == deletedField {
		return fmt.Errorf("attr %q cannot be updated", p)
	}
	var set func(cur any, segs []string) (any, error)
	set = func(cur any, segs []string) (any, error) {
		if len(segs) == 0 {
			return v, nil
		}
		switch x := cur.(type) {
		case nil:
			m := map[string]any{}
			nv, err := set(nil, segs[1:])
			if err != nil {
				return nil, err
			}
			m[segs[0]] = nv
			return m, nil
		case map[string]any:
			nv, err := set(x[segs[0]], segs[1:])
			if err != nil {
				return nil, err
			}
			x[segs[0]] = nv
			return x, nil
		case []any:
			i, err := strconv.Atoi(segs[0])
			if err != nil || i < 0 || i > 1<<20 {
				return nil, fmt.Errorf("cannot set %q: %q is not a list index", p, segs[0])
			}
			for len(x) <= i {
				x = append(x, nil)
			}
			nv, err := set(x[i], segs[1:])
			if err != nil {
				return nil, err
			}
			x[i] = nv
			return x, nil
		}
		return nil, fmt.Errorf("cannot set %q: a %T is in the way", p, cur)
	}
	_, err := set(doc, segs)
	return err
}

func unsetPath(doc map[string]any, p string) {
	segs := strings.Split(p, ".")
	var cur any = doc
	for i, seg := range segs {
		last := i == len(segs)-1
		switch x := cur.(type) {
		case map[string]any:
			if last {
				delete(x, seg)
				return
			}
			cur = x[seg]
		case []any:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || n >= len(x) {
				return
			}
			if last {
				x[n] = nil // MongoDB's $unset on an element sets null
				return
			}
			cur = x[n]
		default:
			return
		}
	}
}

// rankEmpty is the sort key of an empty array at the end of a sort path:
// it sorts before null (bsonorder's ranks start above it).
const rankEmpty = 1

// sortKeyFunc is limp_sortkey(json, rest, desc[, type]): the sort key, as
// a BLOB that orders bytewise, of the value at the dotted path rest inside
// json (the JSON text of a top-level attr, NULL when missing), IDs ranked
// as ObjectIds where the attr's type code places them (see typeCode). See
// sortKey.
func sortKeyFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	if len(args) != 3 && len(args) != 4 {
		return nil, fmt.Errorf("limp_sortkey: %d arguments", len(args))
	}
	var v any
	switch x := args[0].(type) {
	case nil:
	case string:
		p, err := jsonv.Parse([]byte(x))
		if err != nil {
			return nil, fmt.Errorf("limp_sortkey: %w", err)
		}
		v = p
	case []byte:
		p, err := jsonv.Parse(x)
		if err != nil {
			return nil, fmt.Errorf("limp_sortkey: %w", err)
		}
		v = p
	default:
		return nil, fmt.Errorf("limp_sortkey: value is %T", args[0])
	}
	rest, _ := args[1].(string)
	var segs []string
	if rest != "" {
		segs = strings.Split(rest, ".")
	}
	desc, _ := args[2].(int64)
	if len(args) > 3 {
		code, _ := args[3].(string)
		v = convertIDs(typeOfCode(code), v)
	}
	return sortKey(v, segs, desc != 0), nil
}

// sortKey is MongoDB's sort key of the values at segs inside v, encoded so
// that bytewise order is MongoDB's order (bsonorder.Key: null or missing
// < numbers < strings < objects < arrays < booleans, numbers as numbers,
// objects field by field, arrays element by element). A path crossing a
// list applies to each element (an element without the field counts as
// null); an array at the end of the path sorts by its least element
// ascending and its greatest descending, and an empty array before null.
func sortKey(v any, segs []string, desc bool) []byte {
	var best []byte
	empty := false
	consider := func(k []byte) {
		if best == nil || (!desc && string(k) < string(best)) || (desc && string(k) > string(best)) {
			best = k
		}
	}
	var walk func(v any, segs []string, present bool)
	walk = func(v any, segs []string, present bool) {
		if len(segs) == 0 {
			if l, ok := v.([]any); ok {
				if len(l) == 0 {
					empty = true
				}
				for _, e := range l {
					consider(encodeSortValue(e))
				}
				return
			}
			if !present {
				v = nil
			}
			consider(encodeSortValue(v))
			return
		}
		switch x := v.(type) {
		case map[string]any:
			y, ok := x[segs[0]]
			walk(y, segs[1:], ok)
		case []any:
			if isIndex(segs[0]) {
				i, _ := strconv.Atoi(segs[0])
				if i < len(x) {
					walk(x[i], segs[1:], true)
				} else {
					walk(nil, segs[1:], false)
				}
				return
			}
			if len(x) == 0 {
				walk(nil, nil, false)
			}
			for _, e := range x {
				if _, ok := e.(map[string]any); ok {
					walk(e, segs, true)
				}
			}
		default:
			walk(nil, nil, false)
		}
	}
	walk(v, segs, v != nil)
	if best == nil {
		if empty {
			return []byte{rankEmpty}
		}
		return bsonorder.Key(nil)
	}
	return best
}

// encodeSortValue encodes one value for sortKey (an array is one nested
// in the sorted array, compared as a whole).
func encodeSortValue(v any) []byte { return bsonorder.Key(v) }
