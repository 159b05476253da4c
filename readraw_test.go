package limp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
)

type rawCat struct {
	limp.Doc
	Title  limp.Locale  `json:"title"`
	Desc   *limp.Locale `json:"desc"`
	Hidden bool         `json:"hidden" limp:"default=false"`
}

type rawPost struct {
	limp.OwnedDoc
	Status    string       `json:"status" limp:"default=draft" validate:"oneof=draft published"`
	Title     limp.Locale  `json:"title"`
	Subtitle  *limp.Locale `json:"subtitle"`
	Permalink string       `json:"permalink" limp:"unique"`
	Cat       *limp.ID     `json:"cat" limp:"ref=raw_cat"`
	Tags      []string     `json:"tags" limp:"default=[]"`
	Views     int64        `json:"views" limp:"default=0"`
	Score     *float64     `json:"score"`
	Note      *string      `json:"note"`
	Meta      *limp.M      `json:"meta"`
}

// rawApp is examples/blog's shape with more to get wrong: three locales,
// a category anonymous callers may not read (hidden), optional
// attrs, free-form meta.
func rawApp(t *testing.T, mods ...func(cat, post *limp.Module)) (*wsClient, *wsClient, *limp.App) {
	t.Helper()
	cats := limp.NewModule[rawCat]("raw_cat", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "*", QueryMod: limp.M{"hidden": false}}}},
		"create": {Permissions: limp.Perms("admin")},
		"delete": {Permissions: limp.Perms("admin"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
	})
	readPerms := []limp.Perm{
		{Privilege: "admin"},
		{Privilege: "read", QueryMod: []limp.M{{"status": "published"}, {"user": limp.VarUser}}},
		{Privilege: "*", QueryMod: limp.M{"status": "published"}},
	}
	posts := limp.NewModule[rawPost]("raw_post", limp.Methods{
		"read":   {Permissions: readPerms},
		"create": {Permissions: limp.Perms("admin")},
	})
	for _, f := range mods {
		f(cats, posts)
	}
	s := startApp(t, limp.Config{Name: "raw", Locales: []string{"ar_AE", "en_AE", "fr_FR"}, Locale: "ar_AE",
		QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1,
		AnonPrivileges: limp.Privileges{"raw_post": {"read"}, "raw_cat": {"read"}}}, cats, posts)
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	return dial(t, s.WS), admin, s.App
}

// rawCall makes a call with call_id "x" and returns the reply's bytes.
func rawCall(t *testing.T, c *wsClient, endpoint string, query []any) []byte {
	t.Helper()
	now := time.Now().Unix()
	tok := sign(t, map[string]any{"call_id": "x", "endpoint": endpoint, "sid": "f00000000000000000000012",
		"query": query, "doc": map[string]any{}, "iat": now, "exp": now + 86400}, c.key)
	c.sendRaw(string(mustJSON(map[string]any{"token": tok, "call_id": "x"})))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return data
}

// TestReadRawSame: the streaming read path's replies are byte for byte
// the general path's, for the example's kind of reads (anonymous and
// admin; permission query_mods; references expanded, unreadable, deleted
// or missing; locales missing, default missing, null; $attrs, $extn,
// $sort, $skip, by _id; strings needing escapes; floats) and for what it
// hands to the general path (a 24-hex upper-case string, $group).
func TestReadRawSame(t *testing.T) {
	anon, admin, app := rawApp(t)
	cat := func(doc map[string]any) string {
		return docs(t, must(t, admin.call("raw_cat/create", nil, doc)))[0]["_id"].(string)
	}
	c0 := cat(map[string]any{"title": map[string]any{"ar_AE": "تصنيف", "en_AE": "Cat 0"}})
	c1 := cat(map[string]any{"title": map[string]any{"ar_AE": "مخفي"}, "hidden": true})
	c2 := cat(map[string]any{"title": map[string]any{"ar_AE": "محذوف", "fr_FR": "Supprimé"}, "desc": map[string]any{"ar_AE": "وصف", "en_AE": "desc"}})
	gone := "6b0ccd925ed13203ee06e3dd" // never created
	titles := []map[string]any{
		{"ar_AE": "تدوينة", "en_AE": "Post", "fr_FR": "Billet"},
		{"ar_AE": "فقط"},
		{"ar_AE": "to lose its default locale", "en_AE": "no default locale"},
		{"ar_AE": "a \"quoted\" \\ back\nline\ttab \u0001 ctl \u2028 sep é 😀", "en_AE": "<b>&</b>"},
		{"ar_AE": "", "fr_FR": "vide"},
	}
	for i := range 25 {
		doc := map[string]any{
			"status":    []string{"published", "draft"}[i%2],
			"title":     titles[i%len(titles)],
			"permalink": fmt.Sprintf("p-%d", i),
			"tags":      []any{fmt.Sprintf("t%d", i%3), "x"},
			"views":     i % 4,
		}
		switch i % 5 {
		case 0:
			doc["cat"] = c0
		case 1:
			doc["cat"] = c1
		case 2:
			doc["cat"] = c2
		case 3:
			doc["cat"] = gone
		}
		if i%3 == 0 {
			doc["subtitle"] = map[string]any{"en_AE": "sub", "ar_AE": "فرعي"}
		}
		if i%4 == 1 {
			doc["score"] = []float64{1, 2.5, 1e20, -0.000123}[i%4]
		}
		if i%6 == 2 {
			doc["note"] = "6B0CCD925ED13203EE06E3DD" // upper-case hex: the general path's
		}
		if i%7 == 3 {
			doc["meta"] = map[string]any{"z": 1, "a": []any{true, nil, 1.5, map[string]any{"k": "v"}}, "ref": c0}
		}
		must(t, admin.call("raw_post/create", nil, doc))
	}
	must(t, admin.call("raw_cat/delete", []any{map[string]any{"_id": c2}}, nil))
	// Stored values create would have completed or refused: LOCALEs
	// lacking locales, lacking the default one, with a null default,
	// null.
	for path, set := range map[string]map[string]any{
		"p-2":  {"title": map[string]any{"en_AE": "no default locale"}},
		"p-7":  {"title": map[string]any{"ar_AE": nil, "en_AE": "null default"}},
		"p-12": {"subtitle": nil},
		"p-3":  {"title": map[string]any{"ar_AE": "only the default"}},
		"p-4":  {"subtitle": map[string]any{"fr_FR": "f", "ar_AE": "s"}, "title": map[string]any{"ar_AE": "a", "zz": "z"}},
		"p-17": {"title": map[string]any{"ar_AE": "x", "en_AE": "y", "fr_FR": "z", "de_DE": "extra"}},
		// An ID stored in upper case: read as an oid.ID, written in
		// lower case (the general path's).
		"p-20": {"cat": strings.ToUpper(c0), "title": map[string]any{"ar_AE": "UPPERCAT"}},
	} {
		if n, err := limp.StoreUpdateWhere(context.Background(), app, "raw_post", "permalink", path, set); err != nil || n != 1 {
			t.Fatalf("update %s: %d, %v", path, n, err)
		}
	}
	one := docs(t, must(t, admin.call("raw_post/read", []any{map[string]any{"$limit": 1}}, nil)))[0]["_id"]

	queries := []struct {
		q    []any
		fast bool
	}{
		{[]any{}, true},
		{[]any{map[string]any{"status": "published", "$limit": 5, "$sort": map[string]any{"permalink": -1}}}, true},
		{[]any{map[string]any{"$limit": 7, "$skip": 3}}, true},
		{[]any{map[string]any{"_id": one}}, true},
		{[]any{map[string]any{"$attrs": []any{"title", "cat"}}}, true},
		{[]any{map[string]any{"$attrs": []any{"views"}, "$limit": 3}}, true},
		{[]any{map[string]any{"$attrs": []any{}}}, true},
		{[]any{map[string]any{"$extn": false}}, true},
		{[]any{map[string]any{"$extn": []any{"cat"}, "views": 2}}, true},
		{[]any{map[string]any{"views": 99}}, true},
		{[]any{map[string]any{"$attrs": []any{"title.en_AE"}}}, false},
		{[]any{map[string]any{"$group": []any{map[string]any{"by": "views", "count": 2}}}}, false},
	}
	hexDocs, upperCat := false, false
	for _, who := range []struct {
		name string
		c    *wsClient
	}{{"anon", anon}, {"admin", admin}} {
		for _, tt := range queries {
			for _, ep := range []string{"raw_post/read", "raw_cat/read"} {
				if ep == "raw_cat/read" && len(tt.q) > 0 {
					continue
				}
				limp.SetRawReadOff(false)
				hits := limp.RawReadHits()
				fast := rawCall(t, who.c, ep, tt.q)
				took := limp.RawReadHits() > hits
				limp.SetRawReadOff(true)
				general := rawCall(t, who.c, ep, tt.q)
				limp.SetRawReadOff(false)
				if !bytes.Equal(fast, general) {
					t.Errorf("%s %s %v:\nstreaming %s\ngeneral   %s", who.name, ep, tt.q, fast, general)
				}
				var r reply
				if err := json.Unmarshal(general, &r); err != nil || r.Status != 200 {
					t.Fatalf("%s %s %v: %s", who.name, ep, tt.q, general)
				}
				if bytes.Contains(general, []byte("6B0CCD925ED13203EE06E3DD")) {
					hexDocs = true // a STR attr: streamed as it is
				}
				if bytes.Contains(general, []byte("UPPERCAT")) {
					upperCat = true
					if took {
						t.Errorf("%s %s %v: streamed a document with an ID in upper case", who.name, ep, tt.q)
					}
					continue
				}
				if took != tt.fast {
					t.Errorf("%s %s %v: streaming path taken %t, want %t", who.name, ep, tt.q, took, tt.fast)
				}
			}
		}
	}
	// Core modules (secret attrs stripped: the user's hashes, the
	// session's token digest), whichever path they take.
	for _, ep := range []string{"user/read", "session/read", "group/read"} {
		limp.SetRawReadOff(false)
		fast := rawCall(t, admin, ep, []any{})
		limp.SetRawReadOff(true)
		general := rawCall(t, admin, ep, []any{})
		limp.SetRawReadOff(false)
		if !bytes.Equal(fast, general) || !bytes.Contains(general, []byte(`"status":200`)) {
			t.Errorf("admin %s:\nstreaming %s\ngeneral   %s", ep, fast, general)
		}
		if bytes.Contains(general, []byte("_hash")) {
			t.Errorf("admin %s: a digest left the server: %s", ep, general)
		}
	}
	if !hexDocs || !upperCat {
		t.Errorf("replies held the upper-case hex string: %t, the upper-case ID's document: %t", hexDocs, upperCat)
	}
}

// TestReadRawEligible: what makes a read take the general path — a hook
// or interceptor that sees the result — and what does not: an
// interceptor returning next unchanged (examples/blog's readOnly when
// off).
func TestReadRawEligible(t *testing.T) {
	passthrough := func(next limp.Handler) limp.Handler { return next }
	wrapping := func(next limp.Handler) limp.Handler {
		return func(ctx context.Context, c *limp.Call) (*limp.Result, error) { return next(ctx, c) }
	}
	onRead := func(ctx context.Context, c *limp.Call, r *limp.Result) (*limp.Result, error) { return r, nil }
	tests := []struct {
		name string
		mod  func(cat, post *limp.Module)
		fast bool
	}{
		{"plain", func(cat, post *limp.Module) {}, true},
		{"passthrough interceptor", func(cat, post *limp.Module) { post.Use(passthrough) }, true},
		{"wrapping interceptor", func(cat, post *limp.Module) { post.Use(wrapping) }, false},
		{"OnRead hook", func(cat, post *limp.Module) { post.Hooks.OnRead = onRead }, false},
		{"cache set", func(cat, post *limp.Module) { post.Cache = []limp.CacheSet{{}} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			anon, admin, _ := rawApp(t, tt.mod)
			must(t, admin.call("raw_post/create", nil, map[string]any{"status": "published", "title": map[string]any{"ar_AE": "x"}, "permalink": "p"}))
			hits := limp.RawReadHits()
			r := rawCall(t, anon, "raw_post/read", []any{map[string]any{"$limit": 1}})
			if !bytes.Contains(r, []byte(`"count":1`)) {
				t.Fatalf("reply %s", r)
			}
			if took := limp.RawReadHits() > hits; took != tt.fast {
				t.Errorf("streaming path taken %t, want %t", took, tt.fast)
			}
		})
	}
}

// TestAbsorbPermissionOr: examples/blog's anonymous read permission adds
// status = "published" OR user = $user; on a list of published posts the
// disjunction is implied and dropped, so the count over the store's
// (status, ...) index does not evaluate it for every published post
// (issue 13: the count was half of the list call). A query without the
// condition keeps it.
func TestAbsorbPermissionOr(t *testing.T) {
	_, _, app := rawApp(t)
	ex, err := app.ExplainFor(context.Background(), nil, "raw_post", `[{"status": "published", "$limit": 20}]`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ex.SQL, "user") || !strings.Contains(ex.SQL, "status") {
		t.Errorf("published list: SQL %s", ex.SQL)
	}
	ex, err = app.ExplainFor(context.Background(), nil, "raw_post", `[{"views": 3, "$limit": 20}]`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ex.SQL, "user") || !strings.Contains(ex.SQL, " OR ") {
		t.Errorf("views list: the permission's OR is gone: %s", ex.SQL)
	}
}
