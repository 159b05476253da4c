package limp_test

import (
	"context"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/internal/feed"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
	"github.com/limp-go/limp/limptest"
)

// ExpCat and ExpPost: a post references a category, as in examples/blog.
type ExpCat struct {
	limp.Doc
	Title  string `json:"title"`
	Public bool   `json:"public" limp:"default=true"`
}

type ExpPost struct {
	limp.Doc
	Title string   `json:"title"`
	Cat   *limp.ID `json:"cat" limp:"ref=exp_cat"`
}

// expandApp: anyone reads posts; ANON reads public categories only,
// ADMIN every category; anyone writes. The post's On hook changes the
// expanded category it is given (never what is cached).
func expandApp(t *testing.T, cfg limp.Config) *limptest.Server {
	t.Helper()
	cats := limp.NewModule[ExpCat]("exp_cat", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "*", QueryMod: limp.M{"public": true}}}},
		"create": {Permissions: limp.Perms("*")}, "update": {Permissions: limp.Perms("*")},
		"delete": {Permissions: limp.Perms("*")},
	})
	posts := limp.NewModule[ExpPost]("exp_post", limp.Methods{
		"read": {Permissions: limp.Perms("*")}, "create": {Permissions: limp.Perms("*")},
	})
	posts.Hooks.OnRead = func(ctx context.Context, c *limp.Call, r *limp.Result) (*limp.Result, error) {
		for _, d := range r.Args["docs"].([]any) {
			if cat, ok := d.(limp.M)["cat"].(map[string]any); ok {
				cat["title"] = cat["title"].(string) + "!"
			}
		}
		return r, nil
	}
	cfg.Name = "expcache"
	cfg.QuotaAnonMin, cfg.QuotaIPMin, cfg.QuotaAuthMin = -1, -1, -1
	if cfg.Locale == "" {
		cfg.Locale = "en_AE"
	}
	app := limp.New(limptest.Config(t, cfg))
	app.Register("test", cats, posts)
	return limptest.Start(t, app)
}

// catTitle reads post id and returns its expanded category's title ("" for
// a category not expanded: null).
func catTitle(t *testing.T, c *client.Client, id any) string {
	t.Helper()
	r := call(t, c, "exp_post/read", []any{limp.M{"_id": id}}, nil)
	docs := r.Args["docs"].([]any)
	if len(docs) != 1 {
		t.Fatalf("read %v: %d docs", id, len(docs))
	}
	cat, ok := docs[0].(map[string]any)["cat"].(map[string]any)
	if !ok {
		return ""
	}
	return cat["title"].(string)
}

func created(t *testing.T, r *client.Response) any {
	t.Helper()
	return r.Args["docs"].([]any)[0].(map[string]any)["_id"]
}

// TestExpandCache: the read that expands a reference is cached (one entry
// for any number of reads); each write to the referenced collection —
// update, delete, create, from a client or from Go code — drops it, so no
// read sees an old category; the caller's hooks change copies only.
func TestExpandCache(t *testing.T) {
	s := expandApp(t, limp.Config{})
	c := s.Client(t, nil)
	cat := created(t, call(t, c, "exp_cat/create", nil, limp.M{"title": "Tech"}))
	post := created(t, call(t, c, "exp_post/create", nil, limp.M{"title": "P", "cat": cat}))
	for range 3 {
		if got := catTitle(t, c, post); got != "Tech!" {
			t.Fatalf("cat title %q, want Tech! (the hook's change on a fresh copy)", got)
		}
	}
	if n, _ := limp.CacheStats(s.App); n != 1 {
		t.Fatalf("%d cache entries after 3 reads, want 1 (the expansion read)", n)
	}

	call(t, c, "exp_cat/update", []any{limp.M{"_id": cat}}, limp.M{"title": "Science"})
	if n, _ := limp.CacheStats(s.App); n != 0 {
		t.Fatalf("%d cache entries after the update, want 0", n)
	}
	if got := catTitle(t, c, post); got != "Science!" {
		t.Fatalf("after update: cat title %q, want Science!", got)
	}

	// A write from Go code through the App drops it too.
	ctx := context.Background()
	if _, err := s.App.Invoke(ctx, nil, "exp_cat/update", limp.NewQuery(limp.M{"_id": cat}), limp.M{"title": "Art"}); err != nil {
		t.Fatal(err)
	}
	if got := catTitle(t, c, post); got != "Art!" {
		t.Fatalf("after Invoke update: cat title %q, want Art!", got)
	}

	// A create in the collection drops it (a later read of the same ids
	// may now find more).
	catTitle(t, c, post)
	call(t, c, "exp_cat/create", nil, limp.M{"title": "Other"})
	if n, _ := limp.CacheStats(s.App); n != 0 {
		t.Fatalf("%d cache entries after a create, want 0", n)
	}

	call(t, c, "exp_cat/delete", []any{limp.M{"_id": cat}}, nil)
	if got := catTitle(t, c, post); got != "" {
		t.Fatalf("after delete: cat title %q, want none (null)", got)
	}
}

// TestExpandCachePerCaller: permissions apply to each caller: ANON sees a
// private category as null, ADMIN sees it, whoever read first.
func TestExpandCachePerCaller(t *testing.T) {
	s := expandApp(t, limp.Config{})
	anon := s.Client(t, nil)
	admin := s.Client(t, nil)
	if _, err := admin.Auth(context.Background(), "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	cat := created(t, call(t, admin, "exp_cat/create", nil, limp.M{"title": "Hidden", "public": false}))
	post := created(t, call(t, admin, "exp_post/create", nil, limp.M{"title": "P", "cat": cat}))
	for range 2 {
		if got := catTitle(t, admin, post); got != "Hidden!" {
			t.Fatalf("admin: cat title %q, want Hidden!", got)
		}
		if got := catTitle(t, anon, post); got != "" {
			t.Fatalf("anon: cat title %q, want none (not public)", got)
		}
	}
	call(t, admin, "exp_cat/update", []any{limp.M{"_id": cat}}, limp.M{"public": true})
	if got := catTitle(t, anon, post); got != "Hidden!" {
		t.Fatalf("anon after the category went public: %q, want Hidden!", got)
	}
}

// TestExpandCacheOff: a negative Config.CacheMaxBytes turns it off.
func TestExpandCacheOff(t *testing.T) {
	s := expandApp(t, limp.Config{CacheMaxBytes: -1})
	c := s.Client(t, nil)
	cat := created(t, call(t, c, "exp_cat/create", nil, limp.M{"title": "Tech"}))
	post := created(t, call(t, c, "exp_post/create", nil, limp.M{"title": "P", "cat": cat}))
	if got := catTitle(t, c, post); got != "Tech!" {
		t.Fatalf("cat title %q, want Tech!", got)
	}
	if n, _ := limp.CacheStats(s.App); n != 0 {
		t.Fatalf("%d cache entries with the cache off, want 0", n)
	}
}

// catSource is a cross-node feed source emitting, on exp_cat, what
// another node would have written.
type catSource struct{ events chan []oid.ID }

func (f *catSource) run(ctx context.Context, coll string, emit func(feed.Oper, []oid.ID)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ids := <-f.events:
			if coll == "exp_cat" {
				emit(feed.Update, ids)
			}
		}
	}
}

// TestExpandCacheFeed: with a cross-node feed (MongoDB change streams),
// the cache subscribes to the referenced collection, and a write another
// node made there drops the cached expansion.
func TestExpandCacheFeed(t *testing.T) {
	src := &catSource{events: make(chan []oid.ID, 8)}
	cats := limp.NewModule[ExpCat]("exp_cat", limp.Methods{"read": {Permissions: limp.Perms("*")}, "create": {Permissions: limp.Perms("*")}})
	posts := limp.NewModule[ExpPost]("exp_post", limp.Methods{"read": {Permissions: limp.Perms("*")}, "create": {Permissions: limp.Perms("*")}})
	app := limp.New(limptest.Config(t, noQuotas(limp.Config{Name: "expfeed", Locale: "en_AE"})))
	limp.SetFeedSource(app, src.run)
	app.Register("test", cats, posts)
	s := limptest.Start(t, app)
	if !limp.FeedWatched(app, "exp_cat") {
		t.Fatal("the cache did not subscribe to the referenced collection's feed")
	}
	c := s.Client(t, nil)
	cat := created(t, call(t, c, "exp_cat/create", nil, limp.M{"title": "Tech"}))
	post := created(t, call(t, c, "exp_post/create", nil, limp.M{"title": "P", "cat": cat}))
	catTitle(t, c, post)
	deadline := time.Now().Add(5 * time.Second)
	for n, _ := limp.CacheStats(s.App); n != 1; n, _ = limp.CacheStats(s.App) {
		// The node's own creates come back through the source too.
		if time.Now().After(deadline) {
			t.Fatalf("%d cache entries, want 1", n)
		}
		time.Sleep(5 * time.Millisecond)
		catTitle(t, c, post)
	}
	src.events <- []oid.ID{oid.New()}
	for n, _ := limp.CacheStats(s.App); n != 0; n, _ = limp.CacheStats(s.App) {
		if time.Now().After(deadline) {
			t.Fatalf("%d cache entries after another node's write, want 0", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestExpandCacheOnMongo: on MongoDB, expansion reads are cached only
// when the change feed carries other nodes' writes (change streams); a
// server without them (FerretDB v1) reads every time. Either way a read
// after an update sees the new category.
func TestExpandCacheOnMongo(t *testing.T) {
	s := expandApp(t, limp.Config{Data: mongotest.URI(t)})
	c := s.Client(t, nil)
	cat := created(t, call(t, c, "exp_cat/create", nil, limp.M{"title": "Tech"}))
	post := created(t, call(t, c, "exp_post/create", nil, limp.M{"title": "P", "cat": cat}))
	for range 2 {
		if got := catTitle(t, c, post); got != "Tech!" {
			t.Fatalf("cat title %q, want Tech!", got)
		}
	}
	if !limp.FeedHasSource(s.App) {
		if n, _ := limp.CacheStats(s.App); n != 0 {
			t.Fatalf("%d cache entries without change streams, want 0", n)
		}
	}
	call(t, c, "exp_cat/update", []any{limp.M{"_id": cat}}, limp.M{"title": "Science"})
	deadline := time.Now().Add(5 * time.Second)
	for got := catTitle(t, c, post); got != "Science!"; got = catTitle(t, c, post) {
		if time.Now().After(deadline) {
			t.Fatalf("after update: cat title %q, want Science!", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
