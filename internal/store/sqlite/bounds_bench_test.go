package sqlite

import (
	"testing"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// BenchmarkUpdateBounds measures an $add on 10 documents (out of 1,000)
// with Update.Bounds and without (baseline): the cost of the bounds check.
func BenchmarkUpdateBounds(b *testing.B) {
	lo, hi := -1e18, 1e18
	for _, bounded := range []bool{false, true} {
		c := testCollection()
		s := benchStore(b, c, 1000)
		q := &query.Query{Filter: &query.Cond{Path: "n", Op: query.Bet, Value: int64(100), Value2: int64(109)}}
		u := &store.Update{Add: map[string]any{"f": int64(1)}}
		name := "baseline"
		if bounded {
			u.Bounds = map[string]store.Bounds{"f": {Min: &lo, Max: &hi}}
			name = "bounded"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Update(b.Context(), c, q, u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
