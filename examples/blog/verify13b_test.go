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

// PostV1 is an earlier app version's post: views of any type.
type PostV1 struct {
	limp.Doc
	Name  string `json:"name"`
	Views any    `json:"views"`
}

// PostV2 is the next version's: views an INT.
type PostV2 struct {
	limp.Doc
	Name  string `json:"name"`
	Views int64  `json:"views"`
}

// TestVerify13bTypeChangeOverWebsocket: posts stored by an app version
// that declared views of any type (a boolean, a string, a list) are read
// over the websocket by the next version, which declares views an INT, on
// the same file: views = 3 and views > 1 answer as MongoDB would (the
// boolean never equals a number, the list matches by element), every post
// still reads, and a list sorted on views keeps them all.
func TestVerify13bTypeChangeOverWebsocket(t *testing.T) {
	ctx := context.Background()
	file := t.TempDir() + "/vt.db"
	methods := func() limp.Methods {
		return limp.Methods{"read": {Permissions: limp.Perms("*")}, "create": {Permissions: limp.Perms("*")}}
	}
	start := func(m *limp.Module) (*limptest.Server, *client.Client) {
		app := limp.New(limptest.Config(t, limp.Config{Data: file, Name: "vt", Version: "1.0.0"}))
		app.Register("vt", m)
		s := limptest.Start(t, app)
		c := s.Client(t, nil)
		if _, err := c.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
			t.Fatal(err)
		}
		return s, c
	}
	s1, c1 := start(limp.NewModule[PostV1]("post", methods()))
	for _, v := range []any{3, true, "3", []any{1, 3}, 5, nil, map[string]any{"a": 3}, 0} {
		if _, err := c1.Call(ctx, "post/create", nil, map[string]any{"name": fmt.Sprintf("%v", v), "views": v}); err != nil {
			t.Fatalf("v1 create %v: %v", v, err)
		}
	}
	c1.Close()
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	_, c2 := start(limp.NewModule[PostV2]("post", methods()))
	for q, want := range map[string]int{`{}`: 8, `{"views": 3}`: 2, `{"views": {"$gt": 1}}`: 3, `{"views": {"$lte": 0}}`: 1,
		`{"views": {"$in": [1, 3]}}`: 2, `{"views": {"$ne": 3}}`: 6, `{"$sort": {"views": 1}}`: 8, `{"$sort": {"views": -1}, "$limit": 3}`: 8} {
		var filter any
		if err := json.Unmarshal([]byte(q), &filter); err != nil {
			t.Fatal(err)
		}
		rr, err := client.Read[map[string]any](ctx, c2, "post", []any{filter})
		if err != nil {
			t.Errorf("v2 %s: %v", q, err)
			continue
		}
		if rr.Total != want {
			var names []string
			for _, d := range rr.Docs {
				names = append(names, fmt.Sprint(d["name"]))
			}
			t.Errorf("v2 %s: total %d %v, want %d (MongoDB)", q, rr.Total, names, want)
		}
	}
}
