package mongo

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/store"
)

// updateOps are the update operators CompileUpdates emits, in the order
// the embedded store applies an update (Set, Unset, Add, Mul, Append,
// Remove) and the order they appear in each update document.
var updateOps = []string{"$set", "$unset", "$inc", "$mul", "$push", "$addToSet", "$pullAll"}

// updateEntry is one operator on one path.
type updateEntry struct {
	op, path string
	val      any
}

// CompileUpdates translates u to the MongoDB update documents that apply
// it (spec §8.5), to run one after the other on the same documents.
//
// MongoDB refuses an update document that names one path twice, or a path
// and its parent, under two operators ("Updating the path 'x' would create
// a conflict at 'x'"), e.g. $push and $pullAll on the same list, or $set
// on "meta" with $inc on "meta.n". CompileUpdates puts such paths in
// separate documents, in the order the embedded store applies them ($set,
// $unset, $inc, $mul, then $append/$remove by path, then $pullAll; paths
// sorted within each), so both stores answer the same. An update without
// conflicts compiles to one document; an empty one to none.
func CompileUpdates(u *store.Update) ([]bson.D, error) {
	if u.Empty() {
		return nil, nil
	}
	var entries []updateEntry
	add := func(op string, m map[string]any, conv func(any) (any, error)) error {
		for _, k := range sortedKeys(m) {
			if err := checkUpdatePath(k); err != nil {
				return fmt.Errorf("compile update %s: %w", op, err)
			}
			v, err := conv(m[k])
			if err != nil {
				return fmt.Errorf("compile update %s %q: %w", op, k, err)
			}
			entries = append(entries, updateEntry{op, k, v})
		}
		return nil
	}
	number := func(v any) (any, error) {
		switch v.(type) {
		case int64, float64:
			return v, nil
		}
		return nil, fmt.Errorf("needs an int64 or float64, got %T", v)
	}
	each := func(v any) (any, error) {
		vals, err := toBSON(v.([]any))
		if err != nil {
			return nil, err
		}
		return bson.D{{Key: "$each", Value: vals}}, nil
	}
	if err := add("$set", u.Set, toBSON); err != nil {
		return nil, err
	}
	if len(u.Unset) > 0 {
		for _, p := range u.Unset {
			if err := checkUpdatePath(p); err != nil {
				return nil, fmt.Errorf("compile update $unset: %w", err)
			}
		}
		unset := slices.Clone(u.Unset)
		slices.Sort(unset)
		for _, p := range slices.Compact(unset) {
			entries = append(entries, updateEntry{"$unset", p, ""})
		}
	}
	if err := add("$inc", u.Add, number); err != nil {
		return nil, err
	}
	if err := add("$mul", u.Mul, number); err != nil {
		return nil, err
	}
	for _, p := range sortedKeys(u.Append) {
		a := u.Append[p]
		op := "$push"
		conv := each
		if a.Unique {
			op = "$addToSet"
		} else if a.Keep > 0 {
			conv = func(v any) (any, error) {
				d, err := each(v)
				if err != nil {
					return nil, err
				}
				return append(d.(bson.D), bson.E{Key: "$slice", Value: -a.Keep}), nil
			}
		}
		if err := add(op, map[string]any{p: a.Values}, conv); err != nil {
			return nil, err
		}
	}
	rm := make(map[string]any, len(u.Remove))
	for p, vs := range u.Remove {
		rm[p] = vs
	}
	if err := add("$pullAll", rm, func(v any) (any, error) { return toBSON(v.([]any)) }); err != nil {
		return nil, err
	}
	// Greedy split: an entry joins the last document unless it conflicts
	// with a path already there.
	var groups [][]updateEntry
	for _, e := range entries {
		n := len(groups)
		if n == 0 || slices.ContainsFunc(groups[n-1], func(o updateEntry) bool { return pathsConflict(o.path, e.path) }) {
			groups = append(groups, nil)
			n++
		}
		groups[n-1] = append(groups[n-1], e)
	}
	out := make([]bson.D, len(groups))
	for i, g := range groups {
		for _, op := range updateOps {
			var d bson.D
			for _, e := range g {
				if e.op == op {
					d = append(d, bson.E{Key: e.path, Value: e.val})
				}
			}
			if d != nil {
				slices.SortFunc(d, func(a, b bson.E) int { return strings.Compare(a.Key, b.Key) })
				out[i] = append(out[i], bson.E{Key: op, Value: d})
			}
		}
	}
	return out, nil
}

// pathsConflict reports whether MongoDB refuses a and b in one update
// document: the same path, or one a prefix of the other.
func pathsConflict(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return a == b || strings.HasPrefix(b, a) && b[len(a)] == '.'
}

// Guard is the check of one Update.Bounds path: Violation is an
// aggregation expression, true for a document (as it is before the
// update) that the update would take out of bounds; Result is the value
// (or list length) the update would produce.
type Guard struct {
	Path      string
	Bounds    store.Bounds
	Length    bool
	Result    any
	Violation any
}

// CompileGuards returns a Guard per bounded path of u ($add/$multiply
// paths bound the number, $append/$remove paths the number of items), in
// path order. Bounds on paths u does not change with those operators are
// ignored: values u sets were checked before the store saw them.
func CompileGuards(u *store.Update) ([]Guard, error) {
	var out []Guard
	for _, p := range sortedKeys(u.Bounds) {
		b := u.Bounds[p]
		if b.Min == nil && b.Max == nil {
			continue
		}
		if err := checkUpdatePath(p); err != nil {
			return nil, fmt.Errorf("compile bounds: %w", err)
		}
		_, add := u.Add[p]
		_, mul := u.Mul[p]
		a, app := u.Append[p]
		rm, remove := u.Remove[p]
		g := Guard{Path: p, Bounds: b}
		start := startExpr(u, p)
		switch {
		case add || mul:
			v := any(bson.D{{Key: "$ifNull", Value: bson.A{start, int64(0)}}})
			if add {
				v = bson.D{{Key: "$add", Value: bson.A{v, bson.D{{Key: "$literal", Value: u.Add[p]}}}}}
			}
			if mul {
				v = bson.D{{Key: "$multiply", Value: bson.A{v, bson.D{{Key: "$literal", Value: u.Mul[p]}}}}}
			}
			g.Result = v
		case app || remove:
			l := any(bson.D{{Key: "$ifNull", Value: bson.A{start, bson.A{}}}})
			if app {
				vals, err := toBSON(a.Values)
				if err != nil {
					return nil, fmt.Errorf("compile bounds %q: %w", p, err)
				}
				lit := bson.D{{Key: "$literal", Value: vals}}
				if a.Unique {
					// $addToSet adds each value not already present, once.
					l = bson.D{{Key: "$concatArrays", Value: bson.A{l, bson.D{{Key: "$setDifference", Value: bson.A{lit, l}}}}}}
				} else {
					l = bson.D{{Key: "$concatArrays", Value: bson.A{l, lit}}}
				}
			}
			if remove {
				vals, err := toBSON(rm)
				if err != nil {
					return nil, fmt.Errorf("compile bounds %q: %w", p, err)
				}
				l = bson.D{{Key: "$filter", Value: bson.D{
					{Key: "input", Value: l},
					{Key: "cond", Value: bson.D{{Key: "$not", Value: bson.A{bson.D{{Key: "$in", Value: bson.A{"$$this", bson.D{{Key: "$literal", Value: vals}}}}}}}}},
				}}}
			}
			g.Length = true
			g.Result = bson.D{{Key: "$size", Value: l}}
		default:
			continue
		}
		var or bson.A
		if b.Min != nil {
			or = append(or, bson.D{{Key: "$lt", Value: bson.A{g.Result, *b.Min}}})
		}
		if b.Max != nil {
			or = append(or, bson.D{{Key: "$gt", Value: bson.A{g.Result, *b.Max}}})
		}
		g.Violation = bson.D{{Key: "$or", Value: or}}
		out = append(out, g)
	}
	return out, nil
}

// startExpr is the value at p before u's operators on p run: what u.Set
// or u.Unset put there (at p or a parent), else the stored value.
func startExpr(u *store.Update, p string) any {
	for _, q := range u.Unset {
		if q == p || strings.HasPrefix(p, q+".") {
			return nil
		}
	}
	for q, v := range u.Set {
		if q == p {
			return literal(v)
		}
		if rest, ok := strings.CutPrefix(p, q+"."); ok {
			sub, _ := subValue(v, rest)
			return literal(sub)
		}
	}
	return fieldExpr(p)
}

func literal(v any) any {
	b, err := toBSON(v)
	if err != nil {
		return nil
	}
	return bson.D{{Key: "$literal", Value: b}}
}

// subValue returns the value at a dotted path inside v.
func subValue(v any, p string) (any, bool) {
	for seg := range strings.SplitSeq(p, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// fieldExpr is the aggregation expression of the value at an update path:
// "$a.b" when no segment is numeric; else a chain where a numeric segment
// indexes an array (as the update operators do) or names an object key.
func fieldExpr(p string) any {
	segs := strings.Split(p, ".")
	numeric := func(s string) bool {
		_, err := strconv.Atoi(s)
		return err == nil
	}
	if !slices.ContainsFunc(segs, numeric) {
		return "$" + p
	}
	var e any = "$" + segs[0]
	for _, s := range segs[1:] {
		field := bson.D{{Key: "$getField", Value: bson.D{{Key: "field", Value: bson.D{{Key: "$literal", Value: s}}}, {Key: "input", Value: e}}}}
		if n, err := strconv.Atoi(s); err == nil {
			e = bson.D{{Key: "$cond", Value: bson.D{
				{Key: "if", Value: bson.D{{Key: "$isArray", Value: bson.A{e}}}},
				{Key: "then", Value: bson.D{{Key: "$arrayElemAt", Value: bson.A{e, int64(n)}}}},
				{Key: "else", Value: field},
			}}}
		} else {
			e = field
		}
	}
	return e
}

// applyUpdate runs the compiled update on the documents ids, inside the
// caller's transaction when there is one. With bounds, it first looks for
// a document the update would take out of bounds (and returns a
// *store.BoundsError naming it, changing nothing); the first update
// document repeats the guards in its filter, so a document changed since
// that look is never taken out of bounds either: a mismatch in the count
// of matched documents is a *store.BoundsError too (inside a transaction,
// which is then rolled back, nothing changed). On a server without the
// aggregation expressions the guards use, applyUpdateRead checks them in
// Go instead.
func (s *Store) applyUpdate(ctx context.Context, coll *mongo.Collection, ids []bson.ObjectID, docs []bson.D, guards []Guard, u *store.Update) (modified int64, err error) {
	if len(guards) > 0 && s.readGuards {
		return s.applyUpdateRead(ctx, coll, ids, docs, guards, u)
	}
	for _, g := range guards {
		stages := []bson.D{
			{{Key: "$match", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "$expr", Value: g.Violation}}}},
			{{Key: "$limit", Value: int64(1)}},
			{{Key: "$project", Value: bson.D{{Key: "_id", Value: int32(1)}, {Key: "v", Value: g.Result}}}},
		}
		var out []bson.D
		if err := aggregate(ctx, coll, stages, &out); err != nil {
			return 0, fmt.Errorf("check bounds of %q: %w", g.Path, err)
		}
		if len(out) > 0 {
			be := &store.BoundsError{Path: g.Path, Bounds: g.Bounds, Length: g.Length, Value: math.NaN()}
			if id, ok := lookup(out[0], "_id").(bson.ObjectID); ok {
				be.ID = oid.ID(id)
			}
			switch v := lookup(out[0], "v").(type) {
			case int32:
				be.Value = float64(v)
			case int64:
				be.Value = float64(v)
			case float64:
				be.Value = v
			}
			return 0, be
		}
	}
	for i, d := range docs {
		filter := byIDs(ids)
		if i == 0 && len(guards) > 0 {
			nor := make(bson.A, len(guards))
			for j, g := range guards {
				nor[j] = bson.D{{Key: "$expr", Value: g.Violation}}
			}
			filter = append(filter, bson.E{Key: "$nor", Value: nor})
		}
		res, err := coll.UpdateMany(ctx, filter, d)
		if err != nil {
			return 0, err
		}
		if i == 0 && len(guards) > 0 && res.MatchedCount < int64(len(ids)) {
			g := guards[0]
			return 0, &store.BoundsError{Path: g.Path, Bounds: g.Bounds, Length: g.Length, Value: math.NaN()}
		}
		modified += res.ModifiedCount
	}
	return modified, nil
}
