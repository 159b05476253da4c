package limp_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// CachedNote is the read cache test document.
type CachedNote struct {
	limp.OwnedDoc
	Title  string   `json:"title"`
	Author *limp.ID `json:"author" limp:"ref=user"`
}

func cacheApp(t *testing.T, cfg limp.Config, clk *limp.FakeClock, period time.Duration) *limptest.Server {
	t.Helper()
	notes := limp.NewModule[CachedNote]("note", limp.Methods{
		"read": {Permissions: limp.Perms("*")}, "create": {Permissions: limp.Perms("*")},
		"update": {Permissions: limp.Perms("*")}, "delete": {Permissions: limp.Perms("*")},
	})
	notes.Cache = []limp.CacheSet{{Period: period}}
	// The On hook changes what it is given: never what is cached.
	notes.Hooks.OnRead = func(ctx context.Context, c *limp.Call, r *limp.Result) (*limp.Result, error) {
		for _, d := range r.Args["docs"].([]any) {
			d.(limp.M)["title"] = d.(limp.M)["title"].(string) + "!"
		}
		return r, nil
	}
	if cfg.Locale == "" {
		cfg.Locale = "en_AE"
	}
	app := limp.New(limptest.Config(t, cfg))
	if clk != nil {
		limp.SetClock(app, clk)
	}
	app.Register("test", notes)
	return limptest.Start(t, app)
}

func call(t *testing.T, c *client.Client, ep string, q, doc any) *client.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Call(ctx, ep, q, doc)
	if err != nil {
		t.Fatalf("%s: %v", ep, err)
	}
	return r
}

func titles(r *client.Response) []string {
	var out []string
	for _, d := range r.Args["docs"].([]any) {
		out = append(out, fmt.Sprint(d.(map[string]any)["title"]))
	}
	return out
}

func TestCacheHitAndInvalidation(t *testing.T) {
	s := cacheApp(t, limp.Config{Name: "cache"}, nil, 0)
	c := s.Client(t, nil)
	call(t, c, "note/create", nil, limp.M{"title": "a"})

	r1 := call(t, c, "note/read", nil, nil)
	if _, ok := r1.Args["cache"]; ok {
		t.Fatalf("first read answered from cache: %v", r1.Args)
	}
	r2 := call(t, c, "note/read", nil, nil)
	if _, ok := r2.Args["cache"].(string); !ok {
		t.Fatalf("second read: no args.cache: %v", r2.Args)
	}
	if got := fmt.Sprint(titles(r2)); got != "[a!]" {
		t.Fatalf("cached titles = %s, want [a!] (the On hook's change must not reach the cache)", got)
	}
	if n, _ := limp.CacheStats(s.App); n != 1 {
		t.Fatalf("entries = %d, want 1", n)
	}
	// $extn: false is another key.
	if r := call(t, c, "note/read", []any{limp.M{"$extn": false}}, nil); r.Args["cache"] != nil {
		t.Fatalf("$extn:false read shared the expanded read's entry")
	}
	// A write drops the entries.
	call(t, c, "note/create", nil, limp.M{"title": "b"})
	if n, _ := limp.CacheStats(s.App); n != 0 {
		t.Fatalf("entries after a write = %d, want 0", n)
	}
	r3 := call(t, c, "note/read", nil, nil)
	if r3.Args["cache"] != nil || len(titles(r3)) != 2 {
		t.Fatalf("read after a write = %v (cache %v), want 2 fresh docs", titles(r3), r3.Args["cache"])
	}
	// A write to a collection the extensions read (users) drops them too.
	call(t, c, "note/read", nil, nil)
	admin := s.Client(t, nil)
	if _, err := admin.Auth(context.Background(), "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	call(t, admin, "user/update", []any{limp.M{"_id": limp.AdminUserID.Hex()}}, limp.M{"name": limp.M{"en_AE": "Boss"}})
	if n, _ := limp.CacheStats(s.App); n != 0 {
		t.Fatalf("entries after a user write = %d, want 0", n)
	}
	// An invalidation from a change feed (a write on another node).
	call(t, c, "note/read", nil, nil)
	limp.CacheInvalidate(s.App, "note")
	if r := call(t, c, "note/read", nil, nil); r.Args["cache"] != nil {
		t.Fatalf("read after a feed invalidation was a hit")
	}
}

func TestCachePeriod(t *testing.T) {
	clk := limp.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := cacheApp(t, limp.Config{Name: "cacheperiod"}, clk, time.Minute)
	c := s.Client(t, nil)
	call(t, c, "note/read", nil, nil)
	if r := call(t, c, "note/read", nil, nil); r.Args["cache"] != "2026-01-01T00:00:00.000000" {
		t.Fatalf("args.cache = %v", r.Args["cache"])
	}
	clk.Set(clk.Now().Add(time.Minute))
	if r := call(t, c, "note/read", nil, nil); r.Args["cache"] != nil {
		t.Fatalf("expired entry served: %v", r.Args["cache"])
	}
}

func TestCacheMemoryBound(t *testing.T) {
	const bound = 16 << 10
	s := cacheApp(t, limp.Config{Name: "cachebound", CacheMaxBytes: bound, QuotaAnonMin: -1, QuotaIPMin: -1}, nil, 0)
	c := s.Client(t, nil)
	for i := range 20 {
		call(t, c, "note/create", nil, limp.M{"title": fmt.Sprintf("%0200d", i)})
	}
	for i := 1; i <= 60; i++ {
		call(t, c, "note/read", []any{limp.M{"$limit": i}}, nil)
		if _, b := limp.CacheStats(s.App); b > bound {
			t.Fatalf("cache holds %d bytes, bound %d", b, bound)
		}
	}
	n, b := limp.CacheStats(s.App)
	if n == 0 || n >= 60 || b == 0 {
		t.Fatalf("entries = %d (%d bytes): want some evicted, some kept", n, b)
	}
	// The most recent read is still a hit.
	if r := call(t, c, "note/read", []any{limp.M{"$limit": 60}}, nil); r.Args["cache"] == nil {
		t.Fatal("most recent entry evicted")
	}
}

// Memo is owned: each user reads only their own (a query_mod on the user).
type Memo struct {
	limp.OwnedDoc
	Text string `json:"text"`
}

// TestCachePerUser: the key is the query after permission modifiers, so a
// user never gets another user's cached read.
func TestCachePerUser(t *testing.T) {
	memo := limp.NewModule[Memo]("memo", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "read", QueryMod: limp.M{"user": limp.VarUser}}}},
		"create": {Permissions: limp.Perms("create")},
	})
	memo.Cache = []limp.CacheSet{{}}
	s := startApp(t, limp.Config{Name: "cacheusers", DefaultPrivileges: limp.Privileges{"memo": {"read", "create"}}}, memo)
	ctx := context.Background()
	admin := s.Client(t, nil)
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	var users []*client.Client
	for _, email := range []string{"u1@example.com", "u2@example.com"} {
		call(t, admin, "user/create", nil, limp.M{"name": limp.M{"en_AE": email}, "email": email,
			"email_hash": authHash(t, email, "pw-"+email)})
		c := s.Client(t, nil)
		if _, err := c.Auth(ctx, "email", email, "pw-"+email); err != nil {
			t.Fatal(err)
		}
		call(t, c, "memo/create", nil, limp.M{"text": email})
		users = append(users, c)
	}
	for round := range 2 {
		for i, c := range users {
			r := call(t, c, "memo/read", nil, nil)
			docs := r.Args["docs"].([]any)
			want := []string{"u1@example.com", "u2@example.com"}[i]
			if len(docs) != 1 || docs[0].(map[string]any)["text"] != want {
				t.Fatalf("round %d: user %d read %v, want only %s", round, i, docs, want)
			}
			if hit := r.Args["cache"] != nil; hit != (round == 1) {
				t.Errorf("round %d: user %d hit = %v", round, i, hit)
			}
		}
	}
}

type dynDoc struct {
	limp.Doc
	Kind string   `json:"kind"`
	Ref  *limp.ID `json:"ref"`
}

// TestCacheDepsDynamicExtn: a per-document extension may read any module,
// so writes to any collection drop the entries.
func TestCacheDepsDynamicExtn(t *testing.T) {
	dyn := limp.NewModule[dynDoc]("dyn", limp.Methods{"read": {Permissions: limp.Perms("*")}})
	dyn.Extns = map[string]*limp.Extn{"ref": {Module: "$__doc.kind"}}
	dyn.Cache = []limp.CacheSet{{}}
	plain := limp.NewModule[CachedNote]("plainnote", limp.Methods{"read": {Permissions: limp.Perms("*")}})
	plain.Extns = map[string]*limp.Extn{}
	s := startApp(t, limp.Config{Name: "dyn"}, dyn, plain)
	deps := limp.CacheDeps(s.App, "dyn")
	for _, want := range []string{"dyn", "plainnote", "users", "groups", "sessions"} {
		if !slices.Contains(deps, want) {
			t.Errorf("deps %v lack %s", deps, want)
		}
	}
}
