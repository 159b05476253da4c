package mongo

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/limp-go/limp/internal/store"
)

// $add and $multiply past a 64-bit integer. MongoDB refuses such an $inc
// or $mul ("Failed to apply $inc operations to current value
// ((NumberLong)9223372036854775807) for document {...}", BadValue), and
// FerretDB answers the same text. The store returns it as
// *store.OverflowError, as the embedded store does, so that the client
// gets 400 *_INVALID_ATTR rather than a 500:
//   - with transactions, the server's error aborts the update's
//     transaction (nothing is written) and is mapped (overflowError);
//   - without, an updateMany the server stops half-way would leave the
//     documents before the failing one changed, so the stored values are
//     read and the results computed first (checkOverflow), and nothing
//     is written when one would overflow. A concurrent write between
//     that read and the update can still make the server refuse part
//     way: the error is mapped all the same.

// reFailedToApply matches the server's refusal and captures the operator
// and the current value.
var reFailedToApply = regexp.MustCompile(`Failed to apply \$(inc|mul) operations to current value \(\((?:NumberLong|NumberInt)\)(-?[0-9]+)\)`)

// overflowError maps the server's refusal of an integer $inc or $mul (see
// above) to *store.OverflowError; other errors pass through.
func overflowError(err error, u *store.Update) error {
	if err == nil || u == nil {
		return err
	}
	m := reFailedToApply.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	ops, sym := u.Add, "+"
	if m[1] == "mul" {
		ops, sym = u.Mul, "*"
	}
	keys := sortedKeys(ops)
	if len(keys) == 0 {
		return err
	}
	// The message names no path: with several, name the first one that
	// overflows from the reported value.
	path := keys[0]
	cur, _ := strconv.ParseInt(m[2], 10, 64)
	for _, p := range keys {
		if _, ok := arith(sym, num{isInt: true, i: cur}, ops[p]); !ok {
			path = p
			break
		}
	}
	return &store.OverflowError{Path: path, Expr: fmt.Sprintf("%s %s %v", m[2], sym, ops[path])}
}

// arith applies one operator to n; ok is false on an integer overflow.
func arith(sym string, n num, operand any) (num, bool) {
	o, ok := toNum(operand)
	if !ok {
		return n, true // not a number: the server answers that itself
	}
	if sym == "+" {
		return n.add(o)
	}
	return n.mul(o)
}

// intArith reports whether u adds to or multiplies a path by an integer.
func intArith(u *store.Update) bool {
	for _, ops := range []map[string]any{u.Add, u.Mul} {
		for _, v := range ops {
			switch v.(type) {
			case int64, int32, int:
				return true
			}
		}
	}
	return false
}

// checkOverflow reads the documents ids of coll and returns an
// *store.OverflowError when u's $inc or $mul would take an integer of one
// of them past 64 bits (applied as the server applies them: $inc, then
// $mul, on the stored value or the value u sets).
func (s *Store) checkOverflow(ctx context.Context, coll *mongo.Collection, ids []bson.ObjectID, u *store.Update) error {
	proj := bson.D{{Key: "_id", Value: int32(1)}}
	seen := map[string]bool{}
	paths := append(sortedKeys(u.Add), sortedKeys(u.Mul)...)
	for _, p := range paths {
		top, _, _ := strings.Cut(p, ".")
		if !seen[top] {
			seen[top] = true
			proj = append(proj, bson.E{Key: top, Value: int32(1)})
		}
	}
	cur, err := coll.Find(ctx, byIDs(ids), options.Find().SetProjection(proj))
	if err != nil {
		return fmt.Errorf("check overflow: %w", err)
	}
	defer func() { _ = cur.Close(ctx) }()
	for cur.Next(ctx) {
		var d bson.D
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("check overflow: %w", err)
		}
		done := map[string]bool{}
		for _, p := range paths {
			if done[p] {
				continue
			}
			done[p] = true
			start, _ := startValue(u, p, d)
			n, ok := toNum(start)
			if !ok || !n.isInt {
				continue
			}
			expr := strconv.FormatInt(n.i, 10)
			if v, add := u.Add[p]; add {
				if n, ok = arith("+", n, v); !ok {
					return &store.OverflowError{Path: p, Expr: fmt.Sprintf("%s + %v", expr, v)}
				}
				expr = strconv.FormatInt(n.i, 10)
			}
			if v, mul := u.Mul[p]; mul {
				if _, ok = arith("*", n, v); !ok {
					return &store.OverflowError{Path: p, Expr: fmt.Sprintf("%s * %v", expr, v)}
				}
			}
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("check overflow: %w", err)
	}
	return nil
}
