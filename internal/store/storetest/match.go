package storetest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/limp-go/limp/internal/match"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// checkMatch is the differential test of internal/match (the in-process
// evaluator of live queries, spec §6.12): every filtered read the suite
// makes (no $search, $geo_near, $soft, paging) is matched again in Go
// against every live document of the collection, references resolved by
// reading the referenced collection from the same store; both must select
// the same documents.
func checkMatch(t *testing.T, s store.Store, c *schema.Collection, q *query.Query, res *store.Result) {
	t.Helper()
	if q == nil || q.Filter == nil || q.Search != "" || q.GeoNear != nil || q.Soft || q.Skip != 0 || q.Limit != 0 || res.Docs == nil {
		return
	}
	ctx := t.Context()
	all, err := s.Read(ctx, c, &query.Query{})
	if err != nil {
		t.Fatalf("match check: read all: %v", err)
	}
	targets := map[string]*schema.Collection{}
	for _, e := range c.Extns {
		if e.Target != nil {
			targets[e.Target.Name] = e.Target
		}
	}
	refs := map[string]map[oid.ID]map[string]any{}
	resolve := func(coll string, id oid.ID) map[string]any {
		docs, ok := refs[coll]
		if !ok {
			tc := targets[coll]
			if tc == nil {
				tc = &schema.Collection{Name: coll}
			}
			r, err := s.Read(ctx, tc, &query.Query{})
			if err != nil {
				t.Fatalf("match check: read %s: %v", coll, err)
			}
			docs = map[oid.ID]map[string]any{}
			for _, d := range r.Docs {
				docs[d["_id"].(oid.ID)] = d
			}
			refs[coll] = docs
		}
		return docs[id]
	}
	var got, want []oid.ID
	for _, d := range all.Docs {
		if match.Match(q.Filter, d, resolve) {
			got = append(got, d["_id"].(oid.ID))
		}
	}
	for _, d := range res.Docs {
		if id, ok := d["_id"].(oid.ID); ok {
			want = append(want, id)
		}
	}
	slices.SortFunc(got, func(a, b oid.ID) int { return bytes.Compare(a[:], b[:]) })
	slices.SortFunc(want, func(a, b oid.ID) int { return bytes.Compare(a[:], b[:]) })
	if !slices.Equal(got, want) {
		t.Errorf("internal/match disagrees with the store on %s: match %v, store %v", describe(q), got, want)
	}
}
