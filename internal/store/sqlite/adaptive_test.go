package sqlite

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// adaptiveStore opens a file store of blog-like documents (n of them,
// views = i % 10, published in runs of 10) with the given adaptive bound
// and thresholds (scans reads, minRows documents).
func adaptiveStore(t *testing.T, path string, max, scans int, minRows int64, log *bytes.Buffer) (*Store, *schema.Collection) {
	t.Helper()
	o := &Options{AdaptiveIndexes: max}
	if log != nil {
		o.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	s, err := Open(t.Context(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.adapt.scans, s.adapt.minRows = scans, minRows
	c := blogCollection()
	if err := s.Sync(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return s, c
}

func adaptiveDocs(t *testing.T, s *Store, c *schema.Collection, from, n int) {
	t.Helper()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	docs := make([]map[string]any, n)
	for j := range docs {
		i := from + j
		docs[j] = map[string]any{
			"_id": oid.NewAt(base.Add(time.Duration(i) * time.Second)), "title": fmt.Sprintf("Title %d", i),
			"status": []string{"published", "draft"}[(i/10)%2], "created": base.Add(time.Duration(i*7919%100000) * time.Minute).Format("2006-01-02T15:04:05"),
			"views": int64(i % 10), "score": float64(i) / 3, "pinned": i%5 == 0, "cat": oid.NewAt(base),
		}
	}
	if err := s.Insert(t.Context(), c, docs...); err != nil {
		t.Fatal(err)
	}
}

// adaptiveList is examples/blog's anonymous list: views = v and the read
// permission's OR, newest first, 20 and the total.
func adaptiveList(v any, sort string) *query.Query {
	perm := query.Or{&query.Cond{Path: "status", Op: query.Eq, Value: "published"}, &query.Cond{Path: "cat", Op: query.Eq, Value: oid.ID{}}}
	return &query.Query{Filter: query.And{&query.Cond{Path: "views", Op: query.Eq, Value: v}, perm},
		Sort: []query.Sort{{Path: sort, Desc: true}}, Limit: 20}
}

// adaptiveIndexes lists the adaptive indexes of the file and of
// limp_meta.
func adaptiveIndexes(t *testing.T, s *Store) (indexes, meta []string) {
	t.Helper()
	for _, q := range []struct {
		sql string
		out *[]string
	}{
		{"SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'k\\_blog\\_a\\_%' ESCAPE '\\' ORDER BY name", &indexes},
		{"SELECT substr(key, 15) FROM limp_meta WHERE key LIKE 'adaptive:blog:%' ORDER BY 1", &meta},
	} {
		rows, err := s.db.QueryContext(t.Context(), q.sql)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			*q.out = append(*q.out, n)
		}
		rows.Close()
	}
	return indexes, meta
}

// readN reads q n times, then waits for a build it started.
func readN(t *testing.T, s *Store, c *schema.Collection, q *query.Query, n int) *store.Result {
	t.Helper()
	var res *store.Result
	var err error
	for range n {
		if res, err = s.Read(t.Context(), c, q); err != nil {
			t.Fatal(err)
		}
	}
	s.adapt.wg.Wait()
	return res
}

// usesIndex reports whether the page and the count of q run on index
// (EXPLAIN QUERY PLAN of the statements Read runs).
func usesIndex(t *testing.T, s *Store, c *schema.Collection, q *query.Query, index string) bool {
	t.Helper()
	p, err := Compile(c, q)
	if err != nil {
		t.Fatal(err)
	}
	s.adaptRead(c, q, p)
	sel, args := p.Select("id, doc")
	cnt, cargs := p.Count()
	for _, st := range []struct {
		sql  string
		args []any
	}{{sel, args}, {cnt, cargs}} {
		used, err := planUses(t.Context(), s.db, st.sql, st.args, index)
		if err != nil {
			t.Fatal(err)
		}
		if !used {
			if testing.Verbose() {
				rows, _ := s.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+st.sql, st.args...)
				for rows.Next() {
					var a, b, c any
					var d string
					rows.Scan(&a, &b, &c, &d)
					t.Logf("%s: %s", st.sql, d)
				}
				rows.Close()
			}
			return false
		}
	}
	return true
}

// TestAdaptiveIndex: a shape read NOT INDEXED scans times gets its index
// (built once, recorded, logged), which its page and count then use, with
// the same answers, for other values too; it survives a reopen and a
// rebuild of the side table (a schema change), and goes when its column
// does.
func TestAdaptiveIndex(t *testing.T) {
	path := t.TempDir() + "/a.db"
	var log bytes.Buffer
	s, c := adaptiveStore(t, path, 0, 5, 500, &log)
	adaptiveDocs(t, s, c, 0, 1000)
	q := adaptiveList(int64(3), "created")
	before := readN(t, s, c, q, 4)
	if ix, meta := adaptiveIndexes(t, s); len(ix)+len(meta) > 0 {
		t.Fatalf("after 4 reads (threshold 5): indexes %v, records %v", ix, meta)
	}
	readN(t, s, c, q, 1)
	ix, meta := adaptiveIndexes(t, s)
	if len(ix) != 1 || !slices.Equal(ix, meta) {
		t.Fatalf("after 5 reads: indexes %v, records %v; want one of each", ix, meta)
	}
	if !strings.Contains(log.String(), "adaptive index built") || !strings.Contains(log.String(), ix[0]) {
		t.Errorf("no log line of the build: %q", log.String())
	}
	for _, v := range []any{int64(3), int64(0), int64(9), 2.5} {
		q := adaptiveList(v, "created")
		if !usesIndex(t, s, c, q, ix[0]) {
			t.Errorf("views = %v: page and count do not use %s", v, ix[0])
		}
	}
	after := readN(t, s, c, q, 1)
	if fmt.Sprint(docIDs(after.Docs), after.Total) != fmt.Sprint(docIDs(before.Docs), before.Total) || before.Total != 50 {
		t.Errorf("with the index: %v %d; before: %v %d (want total 50)", docIDs(after.Docs), after.Total, docIDs(before.Docs), before.Total)
	}
	// Another sort is another shape, not using this index.
	if usesIndex(t, s, c, adaptiveList(int64(3), "score"), ix[0]) {
		t.Error("sorted on score: uses the index of the sort on created")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened: in use at once.
	s, c = adaptiveStore(t, path, 0, 1000, 500, nil)
	if !usesIndex(t, s, c, q, ix[0]) {
		t.Error("reopened: the index is not used")
	}
	// The side table rebuilt (a new declared attr): the index is back.
	c.Attrs["extra2"] = &schema.Type{Kind: schema.Int}
	if err := s.Sync(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if got, meta := adaptiveIndexes(t, s); !slices.Equal(got, ix) || !slices.Equal(meta, ix) {
		t.Errorf("side table rebuilt: indexes %v, records %v; want %v", got, meta, ix)
	}
	if !usesIndex(t, s, c, q, ix[0]) {
		t.Error("side table rebuilt: the index is not used")
	}
	// Its column gone: so is the index, and its record.
	delete(c.Attrs, "pinned")
	delete(c.Attrs, "views")
	if err := s.Sync(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if got, meta := adaptiveIndexes(t, s); len(got)+len(meta) > 0 {
		t.Errorf("views undeclared: indexes %v, records %v", got, meta)
	}
}

// TestAdaptiveIndexThresholds: no index under the read count, on a small
// collection (counted again after), past the bound, for one-off shapes
// or when turned off; turned off, Sync drops those built before.
func TestAdaptiveIndexThresholds(t *testing.T) {
	t.Run("small", func(t *testing.T) {
		s, c := adaptiveStore(t, t.TempDir()+"/a.db", 0, 3, 2000, nil)
		adaptiveDocs(t, s, c, 0, 1000)
		readN(t, s, c, adaptiveList(int64(3), "created"), 10)
		if ix, meta := adaptiveIndexes(t, s); len(ix)+len(meta) > 0 {
			t.Fatalf("1000 documents, 2000 needed: indexes %v, records %v", ix, meta)
		}
		adaptiveDocs(t, s, c, 1000, 1000) // now 2000: the next 3 reads build it
		readN(t, s, c, adaptiveList(int64(3), "created"), 3)
		if ix, _ := adaptiveIndexes(t, s); len(ix) != 1 {
			t.Fatalf("2000 documents: indexes %v, want one", ix)
		}
	})
	t.Run("one-off shapes", func(t *testing.T) {
		s, c := adaptiveStore(t, t.TempDir()+"/a.db", 0, 3, 100, nil)
		adaptiveDocs(t, s, c, 0, 500)
		for _, sort := range []string{"created", "score", "title", "pinned", "views", "body.words"} {
			readN(t, s, c, adaptiveList(int64(3), sort), 2)
		}
		if ix, meta := adaptiveIndexes(t, s); len(ix)+len(meta) > 0 {
			t.Fatalf("6 shapes read twice each: indexes %v, records %v", ix, meta)
		}
	})
	t.Run("window", func(t *testing.T) {
		s, c := adaptiveStore(t, t.TempDir()+"/a.db", 0, 3, 100, nil)
		adaptiveDocs(t, s, c, 0, 500)
		s.adapt.window = time.Nanosecond // every read comes too late after the last
		readN(t, s, c, adaptiveList(int64(3), "created"), 10)
		if ix, meta := adaptiveIndexes(t, s); len(ix)+len(meta) > 0 {
			t.Fatalf("reads further apart than the window: indexes %v, records %v", ix, meta)
		}
	})
	t.Run("bound", func(t *testing.T) {
		path := t.TempDir() + "/a.db"
		s, c := adaptiveStore(t, path, 2, 2, 100, nil)
		adaptiveDocs(t, s, c, 0, 500)
		for _, sort := range []string{"created", "score", "pinned"} {
			readN(t, s, c, adaptiveList(int64(3), sort), 2)
		}
		ix, meta := adaptiveIndexes(t, s)
		if len(ix) != 2 || len(meta) != 2 {
			t.Fatalf("bound 2, 3 shapes: indexes %v, records %v", ix, meta)
		}
		s.Close()
		s, c = adaptiveStore(t, path, 1, 2, 100, nil)
		if ix, meta := adaptiveIndexes(t, s); len(ix) != 1 || len(meta) != 1 {
			t.Fatalf("reopened with bound 1: indexes %v, records %v", ix, meta)
		}
		if !usesIndex(t, s, c, adaptiveList(int64(3), "created"), ix[0]) {
			t.Error("bound 1: the first index built is not the one kept")
		}
		s.Close()
		s, c = adaptiveStore(t, path, -1, 2, 100, nil)
		if ix, meta := adaptiveIndexes(t, s); len(ix)+len(meta) > 0 {
			t.Fatalf("reopened with adaptive indexes off: indexes %v, records %v", ix, meta)
		}
		readN(t, s, c, adaptiveList(int64(3), "created"), 5)
		if ix, meta := adaptiveIndexes(t, s); len(ix)+len(meta) > 0 {
			t.Fatalf("off: indexes %v, records %v", ix, meta)
		}
	})
}

// TestAdaptiveIndexDiff: random paged reads (every operator, values of
// every type at declared scalar paths, sorts, skips) answer the same on a
// store that built an adaptive index for every shape it was asked (each
// read twice, thresholds 1) as on a store with adaptive indexes off,
// before and after random writes.
func TestAdaptiveIndexDiff(t *testing.T) {
	ctx := t.Context()
	c := sideDiffCollection()
	on, err := Open(ctx, ":memory:", &Options{AdaptiveIndexes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer on.Close()
	on.adapt.scans, on.adapt.minRows = 1, 0
	off, err := Open(ctx, ":memory:", &Options{AdaptiveIndexes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	stores := []*Store{on, off}
	for _, s := range stores {
		if err := s.Sync(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pools := sideDiffPools(base)
	paths := slices.Sorted(maps.Keys(pools))
	rng := rand.New(rand.NewPCG(13, 29))
	seq := 0
	insert := func(n int) {
		var docs []map[string]any
		for range n {
			seq++
			docs = append(docs, sideDiffDoc(rng, pools, oid.NewAt(base.Add(time.Duration(seq)*time.Second)), seq, true))
		}
		for _, s := range stores {
			if err := s.Insert(ctx, c, docs...); err != nil {
				t.Fatal(err)
			}
		}
	}
	randVal := func(p string) any { pool := pools[p]; return pool[rng.IntN(len(pool))] }
	randCond := func() query.Node {
		p := paths[rng.IntN(len(paths))]
		switch rng.IntN(7) {
		case 0, 1:
			return &query.Cond{Path: p, Op: query.Eq, Value: randVal(p)}
		case 2:
			return &query.Cond{Path: p, Op: query.In, Value: []any{randVal(p), randVal(p)}}
		case 3:
			return &query.Cond{Path: p, Op: []query.Op{query.Gt, query.Gte, query.Lt, query.Lte}[rng.IntN(4)], Value: randVal(p)}
		case 4:
			return &query.Cond{Path: p, Op: query.Bet, Value: randVal(p), Value2: randVal(p)}
		case 5:
			return &query.Cond{Path: p, Op: query.Ne, Value: randVal(p)}
		}
		return query.Or{&query.Cond{Path: p, Op: query.Eq, Value: randVal(p)}, &query.Cond{Path: paths[rng.IntN(len(paths))], Op: query.Ne, Value: nil}}
	}
	read := func(s *Store, q *query.Query) string {
		res, err := s.Read(ctx, c, q)
		if err != nil {
			t.Fatalf("read %s: %v", describeNode(q.Filter), err)
		}
		var ids []string
		for _, d := range res.Docs {
			ids = append(ids, d["u"].(string))
		}
		return fmt.Sprint(ids, res.Total)
	}
	used := 0
	compare := func(step string) {
		for range 40 {
			f := query.And{randCond()}
			for range rng.IntN(3) {
				f = append(f, randCond())
			}
			q := &query.Query{Filter: f, Limit: int64(1 + rng.IntN(15)), Skip: int64(rng.IntN(3) * rng.IntN(10))}
			for range rng.IntN(3) {
				q.Sort = append(q.Sort, query.Sort{Path: append(paths, "_id")[rng.IntN(len(paths)+1)], Desc: rng.IntN(2) == 0})
			}
			read(on, q) // counts the shape, builds its index
			on.adapt.wg.Wait()
			p, err := Compile(c, q)
			if err != nil {
				t.Fatal(err)
			}
			on.adaptRead(c, q, p)
			if p.Side != "" && p.SideIndexed && !sideIndexed(c, q, columnByPath(c)) {
				used++
			}
			if got, want := read(on, q), read(off, q); got != want {
				t.Fatalf("%s: %s sort %v skip %d limit %d: adaptive %s, off %s", step, describeNode(q.Filter), q.Sort, q.Skip, q.Limit, got, want)
			}
		}
	}
	insert(300)
	compare("insert")
	for step := range 6 {
		p := paths[rng.IntN(len(paths))]
		v := randVal(p)
		sel := &query.Query{Filter: &query.Cond{Path: paths[rng.IntN(len(paths))], Op: query.Eq, Value: randVal(p)}}
		for _, s := range stores {
			if _, err := s.Update(ctx, c, sel, &store.Update{Set: map[string]any{p: v}}); err != nil && !strings.Contains(err.Error(), "duplicate") {
				t.Logf("update: %v", err)
			}
			if _, err := s.Delete(ctx, c, &query.Query{Filter: &query.Cond{Path: "n", Op: query.Eq, Value: int64(step % 3)}, Limit: 3}, step%2 == 0); err != nil {
				t.Fatal(err)
			}
		}
		insert(20)
		compare(fmt.Sprint("step ", step))
	}
	if used < 20 {
		t.Fatalf("only %d reads used an adaptive index: a weak test", used)
	}
	var n int
	if err := on.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'k_sd_a_%'").Scan(&n); err != nil || n == 0 {
		t.Fatalf("%d adaptive indexes (%v)", n, err)
	}
}
