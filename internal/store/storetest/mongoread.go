package storetest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// MongoRead is the collection of testdata/mongoread.json: an ANY, a typed
// DICT, a LIST of STR, a LIST of DICT with ANY values, a STR holding
// control characters and a searchable STR.
func MongoRead() *schema.Collection {
	return &schema.Collection{
		Name:   "st_mread",
		Module: "mread",
		Attrs: map[string]*schema.Type{
			"name": str,
			"meta": {Kind: schema.Any},
			"dict": {Kind: schema.Dict, Fields: map[string]*schema.Type{"label": str, "score": {Kind: schema.Float}}},
			"tags": {Kind: schema.List, Items: []*schema.Type{str}},
			"lines": {Kind: schema.List, Items: []*schema.Type{{Kind: schema.Dict, Fields: map[string]*schema.Type{
				"label": str, "score": {Kind: schema.Any}}}}},
			"s":    str,
			"body": str,
			"own":  {Kind: schema.Dict, Fields: map[string]*schema.Type{"a": {Kind: schema.ID}, "b": str}},
		},
		Search: []string{"body"},
	}
}

// testMongoRead runs testdata/mongoread.json (issue 11 items 1-6): wire
// queries parsed by internal/query, answers as MongoDB gives them.
//
// On a server without store.FeatureNestedArrays the documents holding a
// list inside a list are left out, and so is their part of the dataset:
// the cases whose query holds one, paged cases and $group cases (whose
// answers depend on every document) skip with "server lacks nested
// arrays"; every other case runs with the left-out documents removed from
// its answer (a filter and a sort answer each document on its own).
func testMongoRead(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := MongoRead()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	b, err := testdata.ReadFile("testdata/mongoread.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jsonv.ParseOrdered(b)
	if err != nil {
		t.Fatal(err)
	}
	top := raw.(jsonv.Object)
	get := func(o jsonv.Object, k string) any { v, _ := o.Get(k); return v }
	var docs []map[string]any
	for i, x := range plain(get(top, "docs")).([]any) {
		d, ok := x.(map[string]any)
		if !ok {
			t.Fatalf("document %d is not an object", i)
		}
		for k, v := range d {
			if k == "_id" {
				d[k] = toIDs(&schema.Type{Kind: schema.ID}, v)
			} else {
				d[k] = toIDs(c.Attrs[k], v)
			}
		}
		docs = append(docs, d)
	}
	nested := store.Supports(s, store.FeatureNestedArrays)
	leftOut := map[string]bool{}
	if !nested {
		kept := docs[:0]
		for _, d := range docs {
			if hasNestedList(d, false) {
				leftOut[d["name"].(string)] = true
			} else {
				kept = append(kept, d)
			}
		}
		docs = kept
	}
	lacks := func(t *testing.T) {
		t.Helper()
		t.Skip("server lacks " + store.FeatureNestedArrays)
	}
	if err := s.Insert(ctx, c, docs...); err != nil {
		t.Fatal(err)
	}
	names := map[oid.ID]string{}
	for _, d := range docs {
		names[d["_id"].(oid.ID)] = d["name"].(string)
	}
	strs := func(v any) []string {
		out := []string{}
		for _, x := range v.([]any) {
			if s := x.(string); !leftOut[s] {
				out = append(out, s)
			}
		}
		return out
	}
	for _, x := range get(top, "cases").([]any) {
		tc := x.(jsonv.Object)
		name := get(tc, "name").(string)
		t.Run(name, func(t *testing.T) {
			if !nested {
				// The wire query is a list of conditions: look inside
				// each.
				for _, x := range plain(get(tc, "query")).([]any) {
					if hasNestedList(x, false) {
						lacks(t)
					}
				}
			}
			q, err := query.Parse(get(tc, "query"), c)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if q.Search != "" {
				needs(t, s, store.FeatureText)
			}
			if len(leftOut) > 0 && (q.Skip > 0 || q.Limit > 0) {
				lacks(t)
			}
			knownBug(t, "")
			got := []string{}
			for _, d := range read(t, s, c, q).Docs {
				got = append(got, names[d["_id"].(oid.ID)])
			}
			if w, ok := tc.Get("want_set"); ok {
				want := strs(w)
				g := slices.Clone(got)
				slices.Sort(g)
				slices.Sort(want)
				if !slices.Equal(g, want) {
					t.Errorf("%s: got %v, want the set %v", describe(q), got, want)
				}
				return
			}
			if want := strs(get(tc, "want")); !slices.Equal(got, want) {
				t.Errorf("%s: got %v, want %v", describe(q), got, want)
			}
		})
	}
	for _, x := range get(top, "groups").([]any) {
		tc := x.(jsonv.Object)
		name := get(tc, "name").(string)
		t.Run("group "+name, func(t *testing.T) {
			needs(t, s, store.FeatureBucketAuto)
			if len(leftOut) > 0 {
				lacks(t)
			}
			knownBug(t, "")
			q, err := query.Parse(get(tc, "query"), c)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			by := get(tc, "by").(string)
			want := []store.Bucket{}
			for _, w := range plain(get(tc, "want")).([]any) {
				m := w.(map[string]any)
				want = append(want, store.Bucket{Min: m["min"], Max: m["max"], Count: m["count"].(int64)})
			}
			res := read(t, s, c, q)
			var sum int64
			for _, b := range res.Groups[by] {
				sum += b.Count
			}
			if got := res.Groups[by]; !reflect.DeepEqual(got, want) || sum != res.Total {
				t.Errorf("%s: buckets %v (total %d), want %v", describe(q), got, res.Total, want)
			}
		})
	}
}

// plain converts jsonv.Object values to maps, recursively.
func plain(v any) any {
	switch x := v.(type) {
	case jsonv.Object:
		m := make(map[string]any, len(x))
		for _, e := range x {
			m[e.Key] = plain(e.Value)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

// hasNestedList reports whether v (plain Go values: maps, []any) holds a
// list directly inside a list; inList is true when v is a list's item.
func hasNestedList(v any, inList bool) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if hasNestedList(e, false) {
				return true
			}
		}
	case []any:
		if inList {
			return true
		}
		for _, e := range x {
			if hasNestedList(e, true) {
				return true
			}
		}
	}
	return false
}
