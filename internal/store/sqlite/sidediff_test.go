package sqlite

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	lmatch "github.com/limp-go/limp/internal/match"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// sideDiffCollection declares a scalar of every kind, a typed DICT, a
// LOCALE and a LIST, with a plain index, a compound index and a unique
// set over declared scalars.
func sideDiffCollection() *schema.Collection {
	return &schema.Collection{Name: "sd", Attrs: map[string]*schema.Type{
		"n": {Kind: schema.Int}, "f": {Kind: schema.Float}, "b": {Kind: schema.Bool}, "s": {Kind: schema.Str},
		"dt": {Kind: schema.Datetime}, "r": {Kind: schema.ID}, "u": {Kind: schema.Str},
		"d":    {Kind: schema.Dict, Fields: map[string]*schema.Type{"x": {Kind: schema.Int}, "y": {Kind: schema.Str}}},
		"loc":  {Kind: schema.Locale},
		"tags": {Kind: schema.List, Items: []*schema.Type{{Kind: schema.Str}}},
	}, Locales: []string{"en", "ar"},
		Indexes: [][]schema.IndexKey{{{Path: "s"}, {Path: "n", Desc: true}}, {{Path: "dt"}}},
		Unique:  [][]string{{"u"}}}
}

// sideDiffPools are the values a path may take: the declared type, null,
// and values of other types (raw store writes bypass validation).
func sideDiffPools(base time.Time) map[string][]any {
	rid := oid.NewAt(base)
	return map[string][]any{
		"n":      {int64(0), int64(1), int64(2), int64(-3), 2.0, "2", true, nil, []any{int64(2)}, map[string]any{"a": int64(2)}},
		"f":      {0.5, 1.0, int64(1), -2.5, "x", false, nil, []any{1.0, 2.5}},
		"b":      {true, false, int64(1), int64(0), "true", nil, []any{true}},
		"s":      {"a", "b", "B", "é", "", "2", int64(2), true, nil, []any{"a", "b"}, map[string]any{"a": "b"}},
		"dt":     {"2025-01-01T00:00:00", "2025-01-02T00:00:00", "2024-12-31T23:00:00", int64(5), nil},
		"r":      {rid.Hex(), oid.NewAt(base.Add(time.Hour)).Hex(), "zz", nil},
		"d.x":    {int64(1), int64(2), "1", nil, []any{int64(1)}},
		"d.y":    {"a", "b", int64(3), nil},
		"loc.en": {"hello", "world", int64(1), nil},
		"loc.ar": {"مرحبا", "a", nil},
	}
}

func sideDiffDoc(rng *rand.Rand, pools map[string][]any, id oid.ID, u int, odd bool) map[string]any {
	d := map[string]any{"_id": id, "u": fmt.Sprintf("u%d", u)}
	for _, p := range slices.Sorted(maps.Keys(pools)) {
		pool := pools[p]
		k := rng.IntN(len(pool) + 1)
		if k == len(pool) {
			continue // missing
		}
		setDotted(d, p, pool[k])
	}
	switch rng.IntN(5) {
	case 0:
		if !odd {
			break
		}
		d["d"] = []any{map[string]any{"x": int64(1)}} // a DICT stored as a list
	case 1:
		d["d"] = nil
	case 2:
		if !odd {
			break
		}
		d["loc"] = "plain"
	}
	if rng.IntN(2) == 0 {
		d["tags"] = []any{"a", "b"}
	}
	return d
}

func setDotted(d map[string]any, p string, v any) {
	head, rest, ok := strings.Cut(p, ".")
	if !ok {
		d[p] = v
		return
	}
	m, _ := d[head].(map[string]any)
	if m == nil {
		m = map[string]any{}
		d[head] = m
	}
	m[rest] = v
}

// checkSideRows reports every row of the side table that differs from
// what its document holds (value, type, deleted flag), and rows present
// on one side only.
func checkSideRows(t *testing.T, s *Store, c *schema.Collection, step string) {
	t.Helper()
	var conds []string
	for _, col := range columns(c) {
		conds = append(conds, "k."+col.name+" IS NOT json_extract(c.doc, '"+col.jp+"')",
			"k."+col.typ+" IS NOT json_type(c.doc, '"+col.jp+"')")
	}
	q := "SELECT (SELECT count(*) FROM c_sd AS c LEFT JOIN k_sd AS k ON k.rid = c.rid WHERE k.rid IS NULL OR k.id IS NOT c.id OR k.deleted IS NOT c.deleted OR " +
		strings.Join(conds, " OR ") + ") + (SELECT count(*) FROM k_sd AS k WHERE k.rid NOT IN (SELECT rid FROM c_sd))"
	var n int
	if err := s.db.QueryRowContext(t.Context(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%s: %d side rows disagree with their documents", step, n)
	}
}

// TestSideDiff drives random inserts, updates of every kind, soft and hard
// deletes, rolled-back transactions and group-committed inserts (some
// failing on the unique set) over values of every type at declared
// scalar paths, and checks after each step that the side table holds
// exactly what the documents hold, and that random paged reads answer the
// same on the side-only plan, the main plan with typed columns and the
// main plan over the documents alone.
func TestSideDiff(t *testing.T) {
	for seed := range uint64(sideDiffSeeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { sideDiff(t, seed, false) })
	}
}

var sideDiffSeeds = 2

func sideDiff(t *testing.T, seed uint64, valid bool) {
	sideDiffFrom(t, seed, valid, false)
}

// sideDiffFrom is sideDiff; migrated starts from a file of the first
// layout (no rid, no side table) holding the documents, synced then.
func sideDiffFrom(t *testing.T, seed uint64, valid, migrated bool) {
	defer columnsOff.Store(false)
	defer sidePlanOff.Store(false)
	ctx := t.Context()
	c := sideDiffCollection()
	path := ":memory:"
	if migrated {
		path = t.TempDir() + "/old.db"
	}
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !migrated {
		if err := s.Sync(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pools := sideDiffPools(base)
	if valid {
		pools = sideDiffValid(base)
	}
	paths := slices.Sorted(maps.Keys(pools))
	rng := rand.New(rand.NewPCG(13, seed))
	seq := 0
	newDoc := func() map[string]any {
		seq++
		return sideDiffDoc(rng, pools, oid.NewAt(base.Add(time.Duration(seq)*time.Second)), seq, !valid)
	}
	randVal := func(p string) any { pool := pools[p]; return pool[rng.IntN(len(pool))] }
	randCond := func() query.Node {
		p := paths[rng.IntN(len(paths))]
		switch rng.IntN(9) {
		case 0:
			return &query.Cond{Path: p, Op: query.Eq, Value: randVal(p)}
		case 1:
			return &query.Cond{Path: p, Op: query.Ne, Value: randVal(p)}
		case 2:
			return &query.Cond{Path: p, Op: query.In, Value: []any{randVal(p), randVal(p)}}
		case 3:
			return &query.Cond{Path: p, Op: query.Nin, Value: []any{randVal(p), randVal(p)}}
		case 4:
			return &query.Cond{Path: p, Op: []query.Op{query.Gt, query.Gte, query.Lt, query.Lte}[rng.IntN(4)], Value: randVal(p)}
		case 5:
			return &query.Cond{Path: p, Op: query.Bet, Value: randVal(p), Value2: randVal(p)}
		case 6:
			if p == "r" && valid {
				p = "s" // the parser refuses $regex on an ID
			}
			return &query.Cond{Path: p, Op: query.Regex, Value: []string{"^a", "B", "o", "^$"}[rng.IntN(4)]}
		case 7:
			return query.Or{&query.Cond{Path: p, Op: query.Eq, Value: randVal(p)}, &query.Cond{Path: paths[rng.IntN(len(paths))], Op: query.Ne, Value: nil}}
		}
		return query.And{&query.Cond{Path: p, Op: query.Ne, Value: nil}, &query.Cond{Path: paths[rng.IntN(len(paths))], Op: query.Eq, Value: nil}}
	}
	randQuery := func() *query.Query {
		var f query.And
		for range 1 + rng.IntN(3) {
			f = append(f, randCond())
		}
		q := &query.Query{Filter: f, Limit: int64(1 + rng.IntN(15)), Skip: int64(rng.IntN(3) * rng.IntN(20))}
		for range rng.IntN(3) {
			q.Sort = append(q.Sort, query.Sort{Path: append(paths, "_id")[rng.IntN(len(paths)+1)], Desc: rng.IntN(2) == 0})
		}
		return q
	}
	type answer struct {
		ids   string
		total int64
	}
	read := func(q *query.Query) answer {
		res, err := s.Read(ctx, c, q)
		if err != nil {
			t.Fatalf("read %v: %v", q, err)
		}
		var ids []string
		for _, d := range res.Docs {
			ids = append(ids, d["u"].(string))
		}
		return answer{strings.Join(ids, ","), res.Total}
	}
	sideSeen := 0
	compare := func(step string) {
		t.Helper()
		checkSideRows(t, s, c, step)
		for range 30 {
			q := randQuery()
			p, err := Compile(c, q)
			if err != nil {
				t.Fatal(err)
			}
			if p.Side != "" {
				sideSeen++
			}
			got := read(q)
			sidePlanOff.Store(true)
			mainCols := read(q)
			columnsOff.Store(true)
			docs := read(q)
			sidePlanOff.Store(false)
			columnsOff.Store(false)
			if got != docs || mainCols != docs {
				t.Fatalf("%s: %s sort %v skip %d limit %d:\nside plan %v: %+v\nmain plan with columns: %+v\ndocuments only: %+v",
					step, describeNode(q.Filter), q.Sort, q.Skip, q.Limit, p.Side != "", got, mainCols, docs)
			}
			// MongoDB semantics: internal/match over every live document.
			all, err := s.Read(ctx, c, &query.Query{})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, d := range all.Docs {
				if lmatch.Match(q.Filter, d, nil) {
					want = append(want, d["u"].(string))
				}
			}
			whole := read(&query.Query{Filter: q.Filter, Limit: 10000})
			have := strings.Split(whole.ids, ",")
			if whole.ids == "" {
				have = nil
			}
			slices.Sort(have)
			slices.Sort(want)
			if valid && !slices.Equal(have, want) {
				t.Errorf("%s: %s: store %v, internal/match %v", step, describeNode(q.Filter), have, want)
			}
		}
	}
	var live []oid.ID
	if migrated {
		if _, err := s.db.ExecContext(ctx, "CREATE TABLE c_sd (id TEXT PRIMARY KEY, doc TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 40 {
		d := newDoc()
		if migrated {
			id, body, err := encodeDoc(d)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.ExecContext(ctx, "INSERT INTO c_sd (id, doc, deleted) VALUES (?, ?, ?)", id.Hex(), string(body), i%7 == 0); err != nil {
				t.Fatal(err)
			}
		} else if err := s.Insert(ctx, c, d); err != nil {
			t.Fatal(err)
		}
		live = append(live, d["_id"].(oid.ID))
	}
	if migrated {
		if err := s.Sync(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	compare("insert")
	pick := func() *query.Query {
		if rng.IntN(3) == 0 {
			return &query.Query{Filter: randCond(), Limit: int64(rng.IntN(3))}
		}
		return &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: live[rng.IntN(len(live))]}}
	}
	for step := range 60 {
		var name string
		err = nil
		switch rng.IntN(9) {
		case 0:
			p := paths[rng.IntN(len(paths))]
			name = "set " + p
			_, err = s.Update(ctx, c, pick(), &store.Update{Set: map[string]any{p: randVal(p)}})
		case 1:
			p := []string{"d", "loc", "n", "s", "d.x"}[rng.IntN(5)]
			name = "unset " + p
			_, err = s.Update(ctx, c, pick(), &store.Update{Unset: []string{p}})
		case 2:
			name = "set whole dict"
			_, err = s.Update(ctx, c, pick(), &store.Update{Set: map[string]any{"d": map[string]any{"x": randVal("d.x")}, "loc": map[string]any{"en": randVal("loc.en")}}})
		case 3:
			p := []string{"n", "f", "d.x"}[rng.IntN(3)]
			name = "add/mul " + p
			if rng.IntN(2) == 0 {
				_, err = s.Update(ctx, c, &query.Query{Filter: query.And{pick().Filter, &query.Cond{Path: p, Op: query.In, Value: []any{int64(0), int64(1), int64(2), -2.5, 0.5}}}}, &store.Update{Add: map[string]any{p: int64(3)}})
			} else {
				_, err = s.Update(ctx, c, &query.Query{Filter: query.And{pick().Filter, &query.Cond{Path: p, Op: query.In, Value: []any{int64(0), int64(1), int64(2), -2.5, 0.5}}}}, &store.Update{Mul: map[string]any{p: 1.5}})
			}
		case 4:
			name = "append/remove tags"
			if rng.IntN(2) == 0 {
				_, err = s.Update(ctx, c, pick(), &store.Update{Append: map[string]store.Append{"tags": {Values: []any{"z"}}}})
			} else {
				_, err = s.Update(ctx, c, pick(), &store.Update{Remove: map[string][]any{"tags": {"a"}}})
			}
		case 5:
			name = "soft delete"
			_, err = s.Delete(ctx, c, pick(), false)
		case 6:
			name = "purge"
			_, err = s.Delete(ctx, c, pick(), true)
		case 7:
			name = "rolled back tx"
			err = s.Tx(ctx, func(ctx context.Context) error {
				if _, err := s.Update(ctx, c, pick(), &store.Update{Set: map[string]any{"n": int64(99), "s": "zz"}}); err != nil {
					return err
				}
				if _, err := s.Delete(ctx, c, pick(), rng.IntN(2) == 0); err != nil {
					return err
				}
				if err := s.Insert(ctx, c, newDoc()); err != nil {
					return err
				}
				return fmt.Errorf("roll back")
			})
			if err != nil && err.Error() == "roll back" {
				err = nil
			}
		case 8:
			name = "group commit with a duplicate"
			dup := newDoc()
			dup["u"] = "u1"
			ok1, ok2 := newDoc(), newDoc()
			errs := make(chan error, 3)
			for _, d := range []map[string]any{ok1, dup, ok2} {
				go func() { errs <- s.Insert(ctx, c, d) }()
			}
			var fails int
			for range 3 {
				if e := <-errs; e != nil {
					fails++
				}
			}
			if fails > 1 {
				err = fmt.Errorf("%d inserts failed", fails)
			}
			live = append(live, ok1["_id"].(oid.ID), ok2["_id"].(oid.ID))
		}
		if err != nil {
			var dup *store.DuplicateError
			if !errors.As(err, &dup) && (valid || !strings.HasPrefix(name, "set") && !strings.HasPrefix(name, "add")) {
				t.Fatalf("step %d %s: %v", step, name, err)
			}
		}
		compare(fmt.Sprintf("step %d %s", step, name))
	}
	if sideSeen == 0 {
		t.Fatal("no query took the side-only plan: a weak test")
	}
}

func describeNode(n query.Node) string {
	switch n := n.(type) {
	case query.And:
		var p []string
		for _, x := range n {
			p = append(p, describeNode(x))
		}
		return "AND(" + strings.Join(p, ", ") + ")"
	case query.Or:
		var p []string
		for _, x := range n {
			p = append(p, describeNode(x))
		}
		return "OR(" + strings.Join(p, ", ") + ")"
	case *query.Cond:
		if n.Op == query.Bet {
			return fmt.Sprintf("%s %s %#v..%#v", n.Path, n.Op, n.Value, n.Value2)
		}
		return fmt.Sprintf("%s %s %#v", n.Path, n.Op, n.Value)
	}
	return fmt.Sprintf("%T", n)
}

// sideDiffValid are values valid for each path's declared type (and null).
func sideDiffValid(base time.Time) map[string][]any {
	return map[string][]any{
		"n":      {int64(0), int64(1), int64(2), int64(-3), int64(7), nil},
		"f":      {0.5, 1.0, -2.5, 3.25, nil},
		"b":      {true, false, nil},
		"s":      {"a", "b", "B", "é", "", "2", nil},
		"dt":     {"2025-01-01T00:00:00", "2025-01-02T00:00:00", "2024-12-31T23:00:00", nil},
		"r":      {oid.NewAt(base), oid.NewAt(base.Add(time.Hour)), nil},
		"d.x":    {int64(1), int64(2), nil},
		"d.y":    {"a", "b", nil},
		"loc.en": {"hello", "world", nil},
		"loc.ar": {"مرحبا", "a", nil},
	}
}

// TestSideDiffValid is TestSideDiff over values of the declared types
// (and null), also checked against internal/match (MongoDB semantics).
func TestSideDiffValid(t *testing.T) {
	for seed := range uint64(sideDiffSeeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { sideDiff(t, seed, true) })
	}
}

// TestSideDiffMigrated is TestSideDiff from a file of the first layout
// holding values of every type (soft-deleted documents too), converted by
// Sync.
func TestSideDiffMigrated(t *testing.T) {
	sideDiffFrom(t, 7, false, true)
}
