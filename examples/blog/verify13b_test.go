package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// TestVerify13bBadQueries: through the websocket, queries of wrong types
// and malformed operators on the blog either answer as MongoDB would (a
// boolean or a string never equals an INT) or get a coded error, and the
// server keeps answering.
func TestVerify13bBadQueries(t *testing.T) {
	ctx := context.Background()
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	admin := s.Client(t, nil)
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	r, err := admin.Call(ctx, "blog_cat/create", nil, map[string]any{"title": map[string]any{"ar_AE": "x", "en_AE": "Tech"}})
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Docs []struct {
			ID string `json:"_id"`
		} `json:"docs"`
	}
	if err := r.DecodeArgs(&created); err != nil || len(created.Docs) != 1 {
		t.Fatal(err)
	}
	cat := created.Docs[0].ID
	for i := range 30 {
		post := map[string]any{"title": map[string]any{"ar_AE": "t"}, "content": map[string]any{"ar_AE": "c"},
			"cat": cat, "permalink": fmt.Sprintf("p-%d", i), "tags": []any{"a", fmt.Sprint(i % 3)}}
		if _, err := admin.Call(ctx, "blog/create", nil, post); err != nil {
			t.Fatal(err)
		}
	}
	// views: 0 for all; set views 1 on 10 of them.
	for i := range 10 {
		pr, err := client.Read[map[string]any](ctx, admin, "blog", []any{map[string]any{"permalink": fmt.Sprintf("p-%d", i)}})
		if err != nil || len(pr.Docs) != 1 {
			t.Fatalf("read p-%d: %v", i, err)
		}
		if _, err := admin.Call(ctx, "blog/update", []any{map[string]any{"_id": pr.Docs[0]["_id"]}}, map[string]any{"views": 1}); err != nil {
			t.Fatalf("update views: %v", err)
		}
	}
	want := map[string]int64{
		`{"views": 1}`:                   10,
		`{"views": true}`:                0,
		`{"views": false}`:               0,
		`{"views": "1"}`:                 0,
		`{"views": {"$gt": true}}`:       0,
		`{"views": {"$lt": "a"}}`:        0,
		`{"views": {"$in": [true, 1]}}`:  10,
		`{"views": {"$nin": [true, 1]}}`: 20,
		`{"views": {"$ne": true}}`:       30,
		`{"views": {"$ne": null}}`:       30,
		`{"views": null}`:                0,
		`{"views": [1]}`:                 0,
		`{"tags": "a"}`:                  30,
		`{"tags": ["a", "0"]}`:           10,
		`{"tags": 1}`:                    0,
		`{"tags": {"$all": ["a", "1"]}}`: 10,
		`{"status": 1}`:                  0,
		`{"cat": true}`:                  0,
	}
	for q, n := range want {
		var filter any
		if err := jsonUnmarshal(q, &filter); err != nil {
			t.Fatal(err)
		}
		rr, err := client.Read[map[string]any](ctx, admin, "blog", []any{filter})
		switch {
		case err != nil && client.CodeOf(err) == "":
			t.Errorf("%s: uncoded error %v", q, err)
		case err != nil:
			t.Logf("%s: coded error %s (%v)", q, client.CodeOf(err), err)
		case int64(rr.Total) != n:
			t.Errorf("%s: total %d, want %d (MongoDB)", q, rr.Total, n)
		}
	}
	bad := []string{
		`{"views": {"$foo": 1}}`, `{"views": {"$in": 3}}`, `{"views": {"$regex": "("}}`, `{"$or": 3}`, `{"$or": []}`,
		`{"views": {"$gt": [1]}}`, `{"views": {"$gt": {"a": 1}}}`, `{"$sort": {"views": 5}}`, `{"$sort": "views"}`,
		`{"$limit": -1}`, `{"$skip": -5}`, `{"$limit": "x"}`, `{"a..b": 1}`, `{"views.": 1}`, `{"": 1}`, `{"$where": "1"}`,
		`{"views": {"$bet": [1]}}`, `{"views": {"$bet": 1}}`, `{"$group": [{"by": "views", "count": -1}]}`,
		`{"title.ar_AE": {"$regex": "["}}`, `{"_id": "zz"}`, `{"_id": {"$in": ["zz"]}}`, `{"$limit": 1e300}`,
		`{"$sort": {"views": 1, "a..b": -1}}`, `{"views": {"$all": 1}}`,
		`{"` + strings.Repeat("a.", 300) + `a": 1}`,
	}
	for _, q := range bad {
		var filter any
		if err := jsonUnmarshal(q, &filter); err != nil {
			t.Fatal(err)
		}
		rr, err := client.Read[map[string]any](ctx, admin, "blog", []any{filter})
		switch {
		case err != nil && client.CodeOf(err) == "":
			t.Errorf("%s: uncoded error %v", q, err)
		case err != nil:
			t.Logf("%s: %s", q, client.CodeOf(err))
		default:
			t.Logf("%s: answered, total %d, %d docs", q, rr.Total, len(rr.Docs))
		}
	}
	// Deep nesting.
	deep := `{"views": 1}`
	for range 200 {
		deep = `{"$or": [` + deep + `]}`
	}
	var filter any
	if err := jsonUnmarshal(deep, &filter); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Read[map[string]any](ctx, admin, "blog", []any{filter}); err != nil && client.CodeOf(err) == "" {
		t.Errorf("deep: uncoded %v", err)
	} else {
		t.Logf("deep: %v", err)
	}
	rr, err := client.Read[map[string]any](ctx, admin, "blog", []any{map[string]any{"views": 1}})
	if err != nil || rr.Total != 10 {
		t.Fatalf("after the bad inputs: %v %+v", err, rr)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
