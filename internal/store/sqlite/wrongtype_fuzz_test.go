package sqlite

import (
	"slices"
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// fuzzValues draws JSON values from fuzz bytes.
type fuzzValues struct {
	b []byte
	i int
}

func (g *fuzzValues) next() byte {
	if g.i >= len(g.b) {
		return 0
	}
	g.i++
	return g.b[g.i-1]
}

// missing is the draw of no value (the attr left out).
var missing = &struct{}{}

// value draws a value of any JSON type (nested lists and objects up to
// depth 2), or missing when top.
func (g *fuzzValues) value(depth int, top bool) any {
	k := g.next() % 11
	if depth >= 2 && k >= 6 {
		k %= 6
	}
	switch k {
	case 0:
		return nil
	case 1:
		return g.next()%2 == 0
	case 2:
		return int64(g.next()%4) - 1
	case 3:
		return float64(g.next()%5) / 2
	case 4, 5:
		return []string{"a", "b", "1", "", "c", "[\"a\"]"}[g.next()%6]
	case 6, 7:
		l := []any{}
		for range g.next() % 3 {
			l = append(l, g.value(depth+1, false))
		}
		return l
	case 8:
		m := map[string]any{}
		if x := g.value(depth+1, true); x != missing {
			m["x"] = x
		}
		if y := g.value(depth+1, true); y != missing {
			m["y"] = y
		}
		return m
	}
	if top {
		return missing
	}
	return nil
}

// FuzzWrongTyped checks that values of any JSON type at declared paths
// (written under an earlier ANY schema, found by Sync's scan, and written
// after it) match every operator and sort as internal/match and MongoDB's
// sort order say, on the side-only plan, the main table's plan and over
// the documents.
func FuzzWrongTyped(f *testing.F) {
	f.Add([]byte{3, 1, 1, 2, 6, 2, 3, 1, 2, 1, 8, 3, 2, 0, 4, 0, 7, 5, 1}, uint8(0), uint8(0), []byte{3, 2})
	f.Add([]byte{1, 0, 4, 3, 6, 1, 4, 0, 8, 4, 1, 2, 3, 1, 9, 9, 9, 0, 5, 2}, uint8(7), uint8(2), []byte{4, 1})
	f.Add([]byte{6, 2, 3, 2, 1, 1, 8, 7, 1, 2, 3, 0, 1, 4, 5}, uint8(3), uint8(4), []byte{6, 2, 2, 2, 4, 1})
	paths := []string{"n", "f", "s", "b", "d", "tags"}
	fields := []string{"n", "f", "s", "b", "d.x", "d.y", "d", "tags"}
	ops := []query.Op{query.Eq, query.Ne, query.Gt, query.Gte, query.Lt, query.Lte, query.In, query.Nin, query.Bet, query.All, query.Regex}
	f.Fuzz(func(t *testing.T, data []byte, opSel, pathSel uint8, operand []byte) {
		if len(data) > 200 || len(operand) > 40 {
			return
		}
		ctx := t.Context()
		c := wrongTypeCollection()
		s, err := Open(ctx, ":memory:", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Sync(ctx, anyTyped(c)); err != nil {
			t.Fatal(err)
		}
		g := &fuzzValues{b: data}
		var before, after []map[string]any
		for d := 0; g.i < len(data) && d < 10; d++ {
			doc := map[string]any{"_id": oid.New(), "k": string(rune('a' + d))}
			for _, p := range paths {
				if v := g.value(0, true); v != missing {
					doc[p] = v
				}
			}
			if d%2 == 0 {
				before = append(before, doc)
			} else {
				after = append(after, doc)
			}
		}
		if len(before) > 0 {
			if err := s.Insert(ctx, anyTyped(c), before...); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Sync(ctx, c); err != nil {
			t.Fatal(err)
		}
		if len(after) > 0 {
			if err := s.Insert(ctx, c, after...); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.Read(ctx, c, &query.Query{})
		if err != nil {
			t.Fatal(err)
		}
		// Sync's scan (SQL) and the writes' check (Go) agree.
		var inGo []string
		for _, d := range all.Docs {
			for _, a := range mixedAttrs(c, d) {
				if !slices.Contains(inGo, a) {
					inGo = append(inGo, a)
				}
			}
		}
		slices.Sort(inGo)
		if scanned, err := scanMixed(ctx, s.db, c); err != nil || !slices.Equal(scanned, inGo) {
			t.Fatalf("Sync's scan finds %v (%v), the writes' check %v", scanned, err, inGo)
		}
		og := &fuzzValues{b: operand}
		op := ops[int(opSel)%len(ops)]
		cond := &query.Cond{Path: fields[int(pathSel)%len(fields)], Op: op, Value: og.value(0, false)}
		switch op {
		case query.In, query.Nin, query.All:
			cond.Value = []any{cond.Value, og.value(0, false)}
		case query.Bet:
			cond.Value2 = og.value(0, false)
		case query.Regex:
			cond.Value = []string{"^a", "1", "b$", "^$"}[og.next()%4]
		}
		sortPath := fields[int(opSel/16)%len(fields)]
		qs := []*query.Query{
			{Filter: cond},
			{Filter: cond, Sort: []query.Sort{{Path: sortPath, Desc: pathSel&0x80 != 0}}, Skip: int64(og.next() % 3), Limit: int64(og.next()%4) + 1},
			{Filter: query.And{cond, &query.Cond{Path: "k", Op: query.Ne, Value: "b"}}, Sort: []query.Sort{{Path: "k"}}, Limit: 5},
		}
		for _, q := range qs {
			if _, err := Compile(c, q); err != nil {
				return
			}
		}
		wrongTypePlans(func(plan string) {
			for _, q := range qs {
				checkWrongTyped(t, ctx, s, c, all.Docs, plan, q)
			}
		})
	})
}
