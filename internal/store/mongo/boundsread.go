package mongo

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/store"
)

// applyUpdateRead is applyUpdate for servers without the aggregation
// expressions the guards use (probed at Open: FerretDB v1.x has no $expr
// operators). It reads the bounded paths of the documents ids, computes
// each guard's result in Go with the update operators' semantics ($inc
// and $mul on a missing or null value start from 0, $push/$addToSet/
// $pullAll on a missing list from [], values compared as MongoDB does:
// numbers by value whatever their type), and returns a *store.BoundsError
// naming the first document (in ids order) the update would take out of
// bounds, changing nothing.
//
// Otherwise the first update document is sent as one update statement per
// document whose filter repeats the value read at each bounded path
// ({_id: id, path: {$eq: value}}, a missing value matching missing or
// null): a document changed at such a path since the read no longer
// matches, and a matched count short of len(ids) is a *store.BoundsError
// (oid.Nil, NaN) too. Inside a transaction (a replica set) that error
// rolls everything back: the update is all or nothing. Without
// transactions each document's update is atomic on its own, so no
// document is ever taken out of bounds, but the documents before the one
// that changed concurrently keep the update.
func (s *Store) applyUpdateRead(ctx context.Context, coll *mongo.Collection, ids []bson.ObjectID, docs []bson.D, guards []Guard, u *store.Update) (modified int64, err error) {
	proj := bson.D{{Key: "_id", Value: int32(1)}}
	seen := map[string]bool{}
	for _, g := range guards {
		top, _, _ := strings.Cut(g.Path, ".")
		if !seen[top] {
			seen[top] = true
			proj = append(proj, bson.E{Key: top, Value: int32(1)})
		}
	}
	cur, err := coll.Find(ctx, byIDs(ids), options.Find().SetProjection(proj))
	if err != nil {
		return 0, fmt.Errorf("check bounds: %w", err)
	}
	stored := make(map[bson.ObjectID]bson.D, len(ids))
	for cur.Next(ctx) {
		var d bson.D
		if err := cur.Decode(&d); err != nil {
			_ = cur.Close(ctx)
			return 0, fmt.Errorf("check bounds: %w", err)
		}
		if id, ok := lookup(d, "_id").(bson.ObjectID); ok {
			stored[id] = d
		}
	}
	if err := cur.Err(); err != nil {
		_ = cur.Close(ctx)
		return 0, fmt.Errorf("check bounds: %w", err)
	}
	_ = cur.Close(ctx)
	short := func() error {
		g := guards[0]
		return &store.BoundsError{Path: g.Path, Bounds: g.Bounds, Length: g.Length, Value: math.NaN()}
	}
	models := make([]mongo.WriteModel, 0, len(ids))
	for _, id := range ids {
		d, ok := stored[id]
		if !ok {
			// Gone since it was selected.
			return 0, short()
		}
		filter := bson.D{{Key: "_id", Value: id}}
		for _, g := range guards {
			start, fromDoc := startValue(u, g.Path, d)
			if res, ok := guardResult(u, g, start); ok && !g.Bounds.Holds(res) {
				return 0, &store.BoundsError{Path: g.Path, ID: oid.ID(id), Bounds: g.Bounds, Length: g.Length, Value: res}
			}
			if fromDoc {
				filter = append(filter, bson.E{Key: g.Path, Value: bson.D{{Key: "$eq", Value: start}}})
			}
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(docs[0]))
	}
	if testHookGuardedWrite != nil {
		testHookGuardedWrite(ctx)
	}
	res, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true))
	if err != nil {
		return 0, err
	}
	if res.MatchedCount < int64(len(ids)) {
		return 0, short()
	}
	modified = res.ModifiedCount
	for _, d := range docs[1:] {
		res, err := coll.UpdateMany(ctx, byIDs(ids), d)
		if err != nil {
			return 0, err
		}
		modified += res.ModifiedCount
	}
	return modified, nil
}

// testHookGuardedWrite, when set (by tests only), runs between the read
// and the guarded write of applyUpdateRead.
var testHookGuardedWrite func(ctx context.Context)

// startValue is the value at p before u's operators on p run (as
// startExpr): what u.Set or u.Unset put there, else the value stored in d
// (nil when missing); fromDoc reports the latter.
func startValue(u *store.Update, p string, d bson.D) (v any, fromDoc bool) {
	for _, q := range u.Unset {
		if q == p || strings.HasPrefix(p, q+".") {
			return nil, false
		}
	}
	for q, x := range u.Set {
		if q == p {
			b, _ := toBSON(x)
			return b, false
		}
		if rest, ok := strings.CutPrefix(p, q+"."); ok {
			sub, _ := subValue(x, rest)
			b, _ := toBSON(sub)
			return b, false
		}
	}
	return storedAt(d, p), true
}

// storedAt returns the value at the update path p of d, nil when missing:
// a numeric segment indexes an array (as the update operators read it) or
// names a key of an embedded document.
func storedAt(d bson.D, p string) any {
	var cur any = d
	for seg := range strings.SplitSeq(p, ".") {
		switch x := cur.(type) {
		case bson.D:
			cur = lookup(x, seg)
		case bson.M:
			cur = x[seg]
		case bson.A:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			cur = x[i]
		default:
			return nil
		}
	}
	return cur
}

// guardResult computes the value (or list length) g.Path holds after u,
// from start; ok is false when the operators fail on start anyway (a
// non-numeric value under $inc, a non-list under $push, an int64
// overflow): the update then fails with the server's error.
func guardResult(u *store.Update, g Guard, start any) (res float64, ok bool) {
	if g.Length {
		var l bson.A
		switch x := start.(type) {
		case nil:
		case bson.A:
			l = append(l, x...)
		default:
			return 0, false
		}
		if a, app := u.Append[g.Path]; app {
			b, err := toBSON(a.Values)
			vals, isA := b.(bson.A)
			if err != nil || !isA {
				return 0, false
			}
			for _, v := range vals {
				if !a.Unique || !containsEq(l, v) {
					l = append(l, v)
				}
			}
			if a.Keep > 0 && !a.Unique && len(l) > a.Keep {
				l = l[len(l)-a.Keep:]
			}
		}
		if rm, remove := u.Remove[g.Path]; remove {
			b, err := toBSON(rm)
			vals, isA := b.(bson.A)
			if err != nil || !isA {
				return 0, false
			}
			kept := l[:0]
			for _, v := range l {
				if !containsEq(vals, v) {
					kept = append(kept, v)
				}
			}
			l = kept
		}
		return float64(len(l)), true
	}
	n, ok := toNum(start)
	if !ok {
		return 0, false
	}
	if v, add := u.Add[g.Path]; add {
		d, ok := toNum(v)
		if !ok {
			return 0, false
		}
		if n, ok = n.add(d); !ok {
			return 0, false
		}
	}
	if v, mul := u.Mul[g.Path]; mul {
		m, ok := toNum(v)
		if !ok {
			return 0, false
		}
		if n, ok = n.mul(m); !ok {
			return 0, false
		}
	}
	return n.float(), true
}

// num is a BSON number: an integer (int32 or int64) or a double.
type num struct {
	isInt bool
	i     int64
	f     float64
}

func toNum(v any) (num, bool) {
	switch x := v.(type) {
	case nil:
		return num{isInt: true}, true
	case int32:
		return num{isInt: true, i: int64(x)}, true
	case int64:
		return num{isInt: true, i: x}, true
	case float64:
		return num{f: x}, true
	case bson.Decimal128:
		f, err := strconv.ParseFloat(x.String(), 64)
		return num{f: f}, err == nil
	}
	return num{}, false
}

func (n num) float() float64 {
	if n.isInt {
		return float64(n.i)
	}
	return n.f
}

func (n num) add(o num) (num, bool) {
	if n.isInt && o.isInt {
		s := n.i + o.i
		if (s > n.i) != (o.i > 0) {
			return num{}, false
		}
		return num{isInt: true, i: s}, true
	}
	return num{f: n.float() + o.float()}, true
}

func (n num) mul(o num) (num, bool) {
	if n.isInt && o.isInt {
		if n.i == 0 || o.i == 0 {
			return num{isInt: true}, true
		}
		p := n.i * o.i
		if p/o.i != n.i || (n.i == -1 && o.i == math.MinInt64) || (o.i == -1 && n.i == math.MinInt64) {
			return num{}, false
		}
		return num{isInt: true, i: p}, true
	}
	return num{f: n.float() * o.float()}, true
}

// containsEq reports whether l holds a value equal to v (bsonEqual).
func containsEq(l bson.A, v any) bool {
	for _, x := range l {
		if bsonEqual(x, v) {
			return true
		}
	}
	return false
}

// bsonEqual compares two BSON values as MongoDB's $addToSet, $pullAll and
// $in do: numbers by value whatever their type, documents by their fields
// in order, arrays element by element, anything else exactly.
func bsonEqual(a, b any) bool {
	if na, ok := toNum(a); ok && a != nil {
		nb, ok := toNum(b)
		if !ok || b == nil {
			return false
		}
		if na.isInt && nb.isInt {
			return na.i == nb.i
		}
		if na.isInt != nb.isInt {
			i, f := na, nb
			if !i.isInt {
				i, f = nb, na
			}
			// Exact: the double must be integral and the same integer.
			return f.f == math.Trunc(f.f) && f.f >= -(1<<63) && f.f < 1<<63 && int64(f.f) == i.i
		}
		return na.f == nb.f
	}
	switch x := a.(type) {
	case bson.D:
		y, ok := b.(bson.D)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i].Key != y[i].Key || !bsonEqual(x[i].Value, y[i].Value) {
				return false
			}
		}
		return true
	case bson.A:
		y, ok := b.(bson.A)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !bsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
