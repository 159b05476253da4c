package sqlite

import (
	"math"
	"sort"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/store"
)

// checkBounds checks the updated document doc against u.Bounds: the
// number at each bounded $add/$multiply path, the number of items at each
// bounded $append/$remove path. Update runs it inside its write
// transaction (BEGIN IMMEDIATE) between applying u and writing the row, so
// no other write can come between the check and the write.
func checkBounds(id oid.ID, doc map[string]any, u *store.Update) error {
	if len(u.Bounds) == 0 {
		return nil
	}
	paths := make([]string, 0, len(u.Bounds))
	for p := range u.Bounds {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		b := u.Bounds[p]
		_, add := u.Add[p]
		_, mul := u.Mul[p]
		_, app := u.Append[p]
		_, rm := u.Remove[p]
		v, _ := getPath(doc, p)
		switch {
		case add || mul:
			var n float64
			switch x := v.(type) {
			case int64:
				n = float64(x)
			case float64:
				n = x
			default:
				continue
			}
			if math.IsNaN(n) || !b.Holds(n) {
				return &store.BoundsError{Path: p, ID: id, Bounds: b, Value: n}
			}
		case app || rm:
			l, ok := v.([]any)
			if !ok {
				continue
			}
			if n := float64(len(l)); !b.Holds(n) {
				return &store.BoundsError{Path: p, ID: id, Bounds: b, Length: true, Value: n}
			}
		}
	}
	return nil
}
