package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := NewApp(limp.Config{}).RunArgs(context.Background(), []string{"--version"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "blog 1.0.0") {
		t.Fatalf("--version printed %q", out.String())
	}
}

func TestGenerateRef(t *testing.T) {
	var out bytes.Buffer
	if err := NewApp(limp.Config{}).RunArgs(context.Background(), []string{"--generate-ref", "-"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## blog", "`permalink`", "references `blog_cat`", "#### `blog/create`",
		"## setting", "## diff", "## analytic", "#### `blog/history`", "Diff: every update", "Analytics: 1 set(s)", "#### `user/read_privileges`"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("reference lacks %q", want)
		}
	}
}

// TestBlog walks the example as a user would: ADMIN creates a category,
// a reader signs up and posts, ANON sees only published posts.
func TestBlog(t *testing.T) {
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	walkBlog(t, func() *client.Client { return s.Client(t, nil) })
}

// walkBlog is TestBlog's walk through the app, on clients from dial.
func walkBlog(t *testing.T, dial func() *client.Client) {
	ctx := context.Background()

	admin := dial()
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatalf("admin auth: %v", err)
	}
	r, err := admin.Call(ctx, "blog_cat/create", nil, map[string]any{"title": map[string]any{"ar_AE": "تقنية", "en_AE": "Tech"}})
	if err != nil {
		t.Fatalf("create cat: %v", err)
	}
	var created struct {
		Docs []struct {
			ID string `json:"_id"`
		} `json:"docs"`
	}
	if err := r.DecodeArgs(&created); err != nil || len(created.Docs) != 1 {
		t.Fatalf("create cat args: %v %v", r.Args, err)
	}
	cat := created.Docs[0].ID

	// Sign up, then sign in.
	anon := dial()
	hash, err := client.Hash("5.6", "email", "reader@example.com", "secret", limp.DefaultAnonToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Call(ctx, "user/create", nil, map[string]any{"name": map[string]any{"ar_AE": "قارئ"},
		"email": "reader@example.com", "email_hash": hash}); err != nil {
		t.Fatalf("sign-up: %v", err)
	}
	reader := dial()
	if _, err := reader.Auth(ctx, "email", "reader@example.com", "secret"); err != nil {
		t.Fatalf("reader auth: %v", err)
	}
	post := map[string]any{"title": map[string]any{"ar_AE": "مرحبا"}, "content": map[string]any{"ar_AE": "..."},
		"cat": cat, "permalink": "hello"}
	if _, err := reader.Call(ctx, "blog/create", nil, post); err != nil {
		t.Fatalf("reader posts: %v", err)
	}
	// Views are the server's on create too (issue 10 item 7).
	sneaky := map[string]any{"title": map[string]any{"ar_AE": "x"}, "content": map[string]any{"ar_AE": "..."},
		"cat": cat, "permalink": "sneaky", "views": 1000000}
	if _, err := reader.Call(ctx, "blog/create", nil, sneaky); err != nil {
		t.Fatalf("reader posts with views: %v", err)
	}
	sr, err := client.Read[map[string]any](ctx, reader, "blog", []any{map[string]any{"permalink": "sneaky"}})
	if err != nil || sr.Total != 1 {
		t.Fatalf("read sneaky: %v %+v", err, sr)
	}
	if v := fmt.Sprint(sr.Docs[0]["views"]); v != "0" {
		t.Fatalf("a reader set views = %s on create", v)
	}
	if _, err := admin.Call(ctx, "blog/delete", []any{map[string]any{"_id": sr.Docs[0]["_id"]}}, nil); err != nil {
		t.Fatalf("delete sneaky: %v", err)
	}
	// A duplicate permalink is refused.
	if _, err := reader.Call(ctx, "blog/create", nil, post); client.CodeOf(err) != "BLOG_BLOG_DUPLICATE_DOC" {
		t.Fatalf("duplicate permalink: %v", err)
	}
	// ANON sees no draft; the author does.
	rr, err := client.Read[map[string]any](ctx, anon, "blog", nil)
	if err != nil || rr.Total != 0 {
		t.Fatalf("ANON read drafts: %v %+v", err, rr)
	}
	rr, err = client.Read[map[string]any](ctx, reader, "blog", nil)
	if err != nil || rr.Total != 1 {
		t.Fatalf("author read: %v %+v", err, rr)
	}
	id := rr.Docs[0]["_id"]
	// The author cannot publish (status is protected); ADMIN can.
	if _, err := reader.Call(ctx, "blog/update", []any{map[string]any{"_id": id}}, map[string]any{"status": "published"}); err != nil {
		t.Fatalf("author update: %v", err)
	}
	if rr, _ = client.Read[map[string]any](ctx, anon, "blog", nil); rr.Total != 0 {
		t.Fatal("author published their own post")
	}
	if _, err := admin.Call(ctx, "blog/update", []any{map[string]any{"_id": id}}, map[string]any{"status": "published"}); err != nil {
		t.Fatalf("admin publishes: %v", err)
	}
	rr, err = client.Read[map[string]any](ctx, anon, "blog", nil)
	if err != nil || rr.Total != 1 {
		t.Fatalf("ANON reads published: %v %+v", err, rr)
	}
	// The category is expanded on read.
	if c, ok := rr.Docs[0]["cat"].(map[string]any); !ok || c["_id"] != cat {
		t.Fatalf("cat not expanded: %v", rr.Docs[0]["cat"])
	}
	// Another user cannot edit the post.
	if _, err := anon.Call(ctx, "blog/update", []any{map[string]any{"_id": id}}, map[string]any{"permalink": "x"}); client.CodeOf(err) != limp.CodeForbidden {
		t.Fatalf("ANON edits a post: %v", err)
	}
	// The author deletes the post (soft): it is gone, and its permalink
	// is free again, once.
	if _, err := reader.Call(ctx, "blog/delete", []any{map[string]any{"_id": id}}, nil); err != nil {
		t.Fatalf("author deletes: %v", err)
	}
	if rr, err = client.Read[map[string]any](ctx, anon, "blog", nil); err != nil || rr.Total != 0 {
		t.Fatalf("ANON reads after delete: %v %+v", err, rr)
	}
	if _, err := reader.Call(ctx, "blog/create", nil, post); err != nil {
		t.Fatalf("re-create over a deleted post: %v", err)
	}
	if _, err := reader.Call(ctx, "blog/create", nil, post); client.CodeOf(err) != "BLOG_BLOG_DUPLICATE_DOC" {
		t.Fatalf("duplicate permalink after re-create: %v", err)
	}
}

func TestExplain(t *testing.T) {
	var out bytes.Buffer
	q := `[{"status":"published","cat.title.en_AE":"Tech"},{"$sort":{"create_time":-1},"$limit":10}]`
	if err := NewApp(limp.Config{}).RunArgs(context.Background(), []string{"--explain", "blog", q}, &out); err != nil {
		t.Fatal(err)
	}
	var e struct {
		Mongo map[string]any `json:"mongo"`
		SQL   string         `json:"sql"`
		Args  []any          `json:"args"`
	}
	if err := json.Unmarshal(out.Bytes(), &e); err != nil {
		t.Fatalf("--explain printed %s: %v", out.String(), err)
	}
	if e.Mongo["pipeline"] == nil || !strings.Contains(e.SQL, "ORDER BY") || !strings.Contains(e.SQL, `"c_blog_cat"`) || len(e.Args) < 3 {
		t.Fatalf("explanation = %+v", e)
	}
	p, _ := json.Marshal(e.Mongo["pipeline"])
	if !strings.Contains(string(p), `"$lookup"`) {
		t.Fatalf("the join is not a $lookup: %s", p)
	}
	// A bad query is a clear error, not a panic.
	if err := NewApp(limp.Config{}).RunArgs(context.Background(), []string{"--explain", "blog", `[{"$where":"1"}]`}, &out); err == nil {
		t.Fatal("--explain accepted $where")
	}
}

// TestEnvDev: the quick start's `--env dev --debug` runs (the example
// declares dev and prod), on loopback with the default credentials.
func TestEnvDev(t *testing.T) {
	var logs syncBuf
	app := NewApp(limp.Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.RunArgs(ctx, []string{"--env", "dev", "--debug", "-p", "0", "--data", ":memory:"}, io.Discard)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "msg=serving") {
		select {
		case err := <-done:
			t.Fatalf("--env dev --debug: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("did not serve:\n%s", logs.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "addr=127.0.0.1:") || strings.Contains(logs.String(), "not declared") {
		t.Fatalf("logs:\n%s", logs.String())
	}
	// prod refuses the defaults.
	t.Setenv("BLOG_ADMIN_PASSWORD", "")
	err := NewApp(limp.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).RunArgs(context.Background(), []string{"--env", "prod", "--data", ":memory:", "--listen", "127.0.0.1:0"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "refused in production") {
		t.Fatalf("--env prod with the defaults: %v", err)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBlogServices: the count method's message is a global setting, every
// change to a post is in its history (diff), and reads are counted in
// analytics, all through the Go client.
func TestBlogServices(t *testing.T) {
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	ctx := context.Background()
	admin := s.Client(t, nil)
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatalf("admin auth: %v", err)
	}
	anon := s.Client(t, nil)
	count := func() string { // GET /blog/count
		t.Helper()
		resp, err := http.Get(s.URL + "/blog/count")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Msg string `json:"msg"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out.Msg
	}
	if m := count(); m != "Count of posts you may read." {
		t.Fatalf("count without the setting: %q", m)
	}
	if _, err := admin.Call(ctx, "setting/create", nil, map[string]any{"var": "count_msg", "val": "Posts:", "type": "global"}); err != nil {
		t.Fatalf("setting/create: %v", err)
	}
	if m := count(); m != "Posts:" {
		t.Fatalf("count with the setting: %q", m)
	}

	cr, err := admin.Call(ctx, "blog_cat/create", nil, map[string]any{"title": map[string]any{"ar_AE": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	cat := cr.Args["docs"].([]any)[0].(map[string]any)["_id"]
	pr, err := admin.Call(ctx, "blog/create", nil, map[string]any{"title": map[string]any{"ar_AE": "a"}, "content": map[string]any{"ar_AE": "b"},
		"cat": cat, "permalink": "p1", "status": "published"})
	if err != nil {
		t.Fatal(err)
	}
	id := pr.Args["docs"].([]any)[0].(map[string]any)["_id"]
	if _, err := admin.Call(ctx, "blog/update", []any{map[string]any{"_id": id}}, map[string]any{"permalink": "p2"}); err != nil {
		t.Fatal(err)
	}
	type diff struct {
		Oper     string         `json:"oper"`
		Vars     map[string]any `json:"vars"`
		Prev     map[string]any `json:"prev"`
		Endpoint string         `json:"endpoint"`
	}
	h, err := client.Read[diff](ctx, anon, "blog", []any{map[string]any{"_id": id}})
	if err != nil || h.Total != 1 {
		t.Fatalf("anon reads the published post: %v %+v", err, h)
	}
	hr, err := anon.Call(ctx, "blog/history", []any{map[string]any{"_id": id}}, nil)
	if err != nil {
		t.Fatalf("blog/history: %v", err)
	}
	var hist struct {
		Docs []diff `json:"docs"`
	}
	if err := hr.DecodeArgs(&hist); err != nil || len(hist.Docs) != 1 {
		t.Fatalf("history: %v %v", hr.Args, err)
	}
	if d := hist.Docs[0]; d.Oper != "update" || d.Vars["permalink"] != "p2" || d.Prev["permalink"] != "p1" || d.Endpoint != "blog/update" {
		t.Fatalf("diff = %+v", d)
	}

	// Analytics are written off the call's path: wait (bounded) for them.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := s.App.Invoke(ctx, s.App.SystemSession(), "analytic/read", limp.NewQuery(limp.M{"event": "BLOG_READ", "user": limp.AnonUserID}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if docs := res.Args["docs"].([]any); len(docs) == 1 && len(docs[0].(map[string]any)["occurrences"].([]any)) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BLOG_READ not recorded: %v", res.Args["docs"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReadOnly: with BLOG_READ_ONLY set, the example's interceptor refuses
// writes and lets reads through.
func TestReadOnly(t *testing.T) {
	t.Setenv("BLOG_READ_ONLY", "1")
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	ctx := context.Background()
	c := s.Client(t, nil)
	if _, err := c.Call(ctx, "blog/read", nil, nil); err != nil {
		t.Fatalf("read while read-only: %v", err)
	}
	if _, err := c.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatalf("sign-in while read-only: %v", err)
	}
	_, err := c.Call(ctx, "blog_cat/create", nil, map[string]any{"title": map[string]any{"ar_AE": "x", "en_AE": "x"}})
	if client.CodeOf(err) != "BLOG_READ_ONLY" {
		t.Fatalf("create while read-only: %v, want BLOG_READ_ONLY", err)
	}
}
