package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/limp-go/limp/internal/bsonorder"
	lmatch "github.com/limp-go/limp/internal/match"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// verifyKey is MongoDB's sort key of d on path (see mongoSort).
func verifyKey(d map[string]any, path string, desc bool) (empty bool, v any) {
	found := false
	hasEmpty := false
	for _, x := range lmatch.Values(d, path) {
		var cands []any
		switch l := x.(type) {
		case []any:
			if len(l) == 0 {
				hasEmpty = true
			}
			cands = l
		default:
			if lmatch.IsMissing(x) {
				x = nil
			}
			cands = []any{x}
		}
		for _, c := range cands {
			if !found || !desc && bsonorder.Compare(c, v) < 0 || desc && bsonorder.Compare(c, v) > 0 {
				v, found = c, true
			}
		}
	}
	return hasEmpty && !found, v
}

// verifyMultiSort orders docs by MongoDB's multi-key sort, then _id desc.
func verifyMultiSort(docs []map[string]any, sorts []query.Sort) {
	slices.SortStableFunc(docs, func(a, b map[string]any) int {
		for _, s := range sorts {
			ae, av := verifyKey(a, s.Path, s.Desc)
			be, bv := verifyKey(b, s.Path, s.Desc)
			var c int
			switch {
			case ae && be:
				c = 0
			case ae:
				c = -1
			case be:
				c = 1
			default:
				c = bsonorder.Compare(av, bv)
			}
			if s.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return -bsonorder.Compare(a["_id"], b["_id"])
	})
}

func verifyCheck(t *testing.T, ctx context.Context, s *Store, c *schema.Collection, docs []map[string]any, plan string, q *query.Query) bool {
	t.Helper()
	var want []map[string]any
	for _, d := range docs {
		if lmatch.Match(q.Filter, d, nil) {
			want = append(want, d)
		}
	}
	total := len(want)
	verifyMultiSort(want, q.Sort)
	want = want[min(int(q.Skip), len(want)):]
	if q.Limit > 0 {
		want = want[:min(int(q.Limit), len(want))]
	}
	res, err := s.Read(ctx, c, q)
	if err != nil {
		t.Errorf("%s plan, %s: %v", plan, describeNode(q.Filter), err)
		return false
	}
	keys := func(ds []map[string]any) string {
		var out []string
		for _, d := range ds {
			out = append(out, d["k"].(string))
		}
		return strings.Join(out, " ")
	}
	if got, exp := keys(res.Docs), keys(want); got != exp || res.Total != int64(total) {
		t.Errorf("%s plan, %s, sort %v skip %d limit %d: store [%s] total %d, internal/match [%s] total %d",
			plan, describeNode(q.Filter), q.Sort, q.Skip, q.Limit, got, res.Total, exp, total)
		return false
	}
	return true
}

// TestVerify13bWrongTypedCombos: values of other types than declared under
// filters that combine conditions (AND / OR of two or three, negations
// included) and sorts on two keys (both of mixed attrs), on each plan, as
// internal/match and MongoDB's sort order answer.
func TestVerify13bWrongTypedCombos(t *testing.T) {
	ctx := t.Context()
	s, c, docs := wrongTypeStore(t, ":memory:")
	filters := wrongTypeFilters()
	rng := rand.New(rand.NewPCG(13, verifySeed))
	paths := []string{"n", "f", "s", "b", "d.x", "d.y", "tags", "k"}
	fails := 0
	wrongTypePlans(func(plan string) {
		for i := 0; i < int(verifyIters) && fails < 10; i++ {
			var f query.Node
			a, b, x := filters[rng.IntN(len(filters))], filters[rng.IntN(len(filters))], filters[rng.IntN(len(filters))]
			switch rng.IntN(4) {
			case 0:
				f = query.And{a, b}
			case 1:
				f = query.Or{a, b}
			case 2:
				f = query.Or{query.And{a, b}, x}
			default:
				f = query.And{query.Or{a, b}, x}
			}
			q := &query.Query{Filter: f, Sort: []query.Sort{{Path: paths[rng.IntN(len(paths))], Desc: rng.IntN(2) == 0}, {Path: paths[rng.IntN(len(paths))], Desc: rng.IntN(2) == 0}}}
			if q.Sort[0].Path == q.Sort[1].Path {
				q.Sort = q.Sort[:1]
			}
			if rng.IntN(2) == 0 {
				q.Skip, q.Limit = int64(rng.IntN(3)), int64(rng.IntN(5)+1)
			}
			if _, err := Compile(c, q); err != nil {
				continue
			}
			if !verifyCheck(t, ctx, s, c, docs, plan, q) {
				fails++
			}
		}
	})
	_ = fmt.Sprint
}

var verifySeed, verifyIters uint64 = 2, 400

func init() {
	if v := os.Getenv("VERIFY13B_SEED"); v != "" {
		verifySeed, _ = strconv.ParseUint(v, 10, 64)
		verifyIters = 3000
	}
}

// TestVerify13bMixedPerCollectionValue: the mixed-attr knowledge is keyed
// by the *schema.Collection pointer; a second value describing the same
// collection (same name, same types) that was scanned before another
// value's write made an attr mixed keeps compiling typed SQL.
func TestVerify13bMixedPerCollectionValue(t *testing.T) {
	ctx := t.Context()
	c := wrongTypeCollection()
	s, err := Open(ctx, ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	docs := []map[string]any{{"_id": oid.New(), "k": "one", "n": int64(1)}, {"_id": oid.New(), "k": "two", "n": int64(2)}}
	if err := s.Insert(ctx, c, docs...); err != nil {
		t.Fatal(err)
	}
	c2 := wrongTypeCollection()
	if _, err := s.Read(ctx, c2, &query.Query{Filter: &query.Cond{Path: "n", Op: query.Eq, Value: int64(1)}}); err != nil {
		t.Fatal(err)
	}
	bad := map[string]any{"_id": oid.New(), "k": "true", "n": true}
	if err := s.Insert(ctx, c, bad); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, bad)
	for _, plan := range []string{"side", "main"} {
		sidePlanOff.Store(plan != "side")
		verifyCheck(t, ctx, s, c2, docs, plan+" (second value)", &query.Query{Filter: &query.Cond{Path: "n", Op: query.Eq, Value: int64(1)}, Sort: []query.Sort{{Path: "k"}}})
		verifyCheck(t, ctx, s, c, docs, plan+" (writer's value)", &query.Query{Filter: &query.Cond{Path: "n", Op: query.Eq, Value: int64(1)}, Sort: []query.Sort{{Path: "k"}}})
	}
	sidePlanOff.Store(false)
}
