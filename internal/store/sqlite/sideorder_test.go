package sqlite

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/bsonorder"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// TestSideSortOrder proves that sorting on the side table's "a:" columns
// (the side-only plan) orders documents as MongoDB does (bsonorder) when
// each value has the declared type, is null or is missing: INT, FLOAT,
// BOOL, strings, DATETIME, ID and a typed DICT's field, both directions,
// ties broken by _id descending. Values of another type than declared
// cannot be written through the app (validation); the side-only plan sorts
// them as the main table's plan always has (the same json_extract value,
// see TestSidePlanResults).
func TestSideSortOrder(t *testing.T) {
	defer sidePlanOff.Store(false)
	c := &schema.Collection{Name: "o", Attrs: map[string]*schema.Type{
		"n": {Kind: schema.Int}, "f": {Kind: schema.Float}, "b": {Kind: schema.Bool}, "s": {Kind: schema.Str},
		"dt": {Kind: schema.Datetime}, "r": {Kind: schema.ID},
		"d": {Kind: schema.Dict, Fields: map[string]*schema.Type{"x": {Kind: schema.Int}}},
	}, Indexes: [][]schema.IndexKey{{{Path: "s"}, {Path: "n", Desc: true}}}}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pools := map[string][]any{
		"n":   {int64(0), int64(-1), int64(1), int64(1) << 62, -(int64(1) << 62), int64(1)<<53 + 1, int64(7)},
		"f":   {0.0, -1.5, 2.5, 3.0, 1e300, -1e-300, 9007199254740993.0, 0.1},
		"b":   {true, false},
		"s":   {"", "a", "B", "é", "z", "éa", "日本", "a b", "A", "ab", "\u00ff", "\U0001F600"},
		"dt":  {"2025-01-01T00:00:00", "2024-12-31T23:59:59", "2025-01-01T00:00:00.5", "1999-01-01T00:00:00"},
		"r":   {oid.NewAt(base), oid.NewAt(base.Add(time.Hour)), oid.NewAt(base.Add(-time.Hour)), oid.NewAt(base.Add(time.Minute))},
		"d.x": {int64(3), int64(-3), int64(0)},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var docs []map[string]any
	for i := range 120 {
		d := map[string]any{"_id": oid.NewAt(base.Add(time.Duration(i) * time.Second))}
		dict := map[string]any{}
		for p, pool := range pools {
			var v any
			switch k := rng.IntN(len(pool) + 2); {
			case k == len(pool):
				v = nil
			case k == len(pool)+1:
				continue // missing
			default:
				v = pool[k]
			}
			if p == "d.x" {
				dict["x"] = v
				continue
			}
			d[p] = v
		}
		if rng.IntN(4) > 0 {
			d["d"] = dict
		}
		docs = append(docs, d)
	}
	value := func(d map[string]any, p string) any {
		if p == "d.x" {
			m, _ := d["d"].(map[string]any)
			return m["x"]
		}
		return d[p]
	}
	for _, plan := range []string{"side", "main"} {
		sidePlanOff.Store(plan == "main")
		s := openTest(t)
		if err := s.Sync(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		if err := s.Insert(t.Context(), c, docs...); err != nil {
			t.Fatal(err)
		}
		for p := range pools {
			for _, desc := range []bool{false, true} {
				all := query.Or{&query.Cond{Path: p, Op: query.Eq, Value: nil}, &query.Cond{Path: p, Op: query.Ne, Value: nil}}
				q := &query.Query{Filter: all, Sort: []query.Sort{{Path: p, Desc: desc}}, Limit: 1000}
				cp, err := Compile(c, q)
				if err != nil {
					t.Fatal(err)
				}
				if (cp.Side != "") != (plan == "side") {
					t.Fatalf("%s %s: side-only plan %q", plan, p, cp.Side)
				}
				res, err := s.Read(t.Context(), c, q)
				if err != nil {
					t.Fatal(err)
				}
				want := slices.Clone(docs)
				slices.SortStableFunc(want, func(a, b map[string]any) int {
					r := bsonorder.Compare(value(a, p), value(b, p))
					if desc {
						r = -r
					}
					if r == 0 { // the default tie-break: _id descending
						r = -bsonorder.Compare(a["_id"], b["_id"])
					}
					return r
				})
				if len(res.Docs) != len(want) {
					t.Fatalf("%s %s: %d docs, want %d", plan, p, len(res.Docs), len(want))
				}
				for i := range want {
					if res.Docs[i]["_id"] != want[i]["_id"] {
						t.Errorf("%s plan, sort %s desc=%v: position %d holds %v (%v), MongoDB's order %v (%v)", plan, p, desc, i,
							res.Docs[i]["_id"], value(res.Docs[i], p), want[i]["_id"], value(want[i], p))
						break
					}
				}
			}
		}
	}
}
