package limp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// Job is the internal-calls test document.
type Job struct {
	limp.OwnedDoc
	Title  string   `json:"title"`
	Note   string   `json:"note" limp:"default=none"`
	Author *limp.ID `json:"author" limp:"ref=user"`
}

// invokeApp starts an app with module job (hooks, a user reference) and
// service ops, whose purge and peek methods are "__sys" only.
func invokeApp(t *testing.T) *limptest.Server {
	t.Helper()
	whoami := func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
		return limp.OK("Ran.", limp.M{"user": c.Session.UserID.Hex(), "system": c.Session.System(),
			"client_app": c.ClientApp, "ip": c.RemoteAddr}), nil
	}
	ops := limp.NewService("ops", limp.Methods{
		"purge":  {Permissions: limp.Perms("__sys"), PostMethod: true, Handler: whoami},
		"peek":   {Permissions: limp.Perms("__sys"), GetMethod: true, Handler: whoami},
		"whoami": {Permissions: limp.Perms("*"), Handler: whoami},
		"need_id": {Permissions: limp.Perms("*"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}},
			Handler: whoami},
		// relay makes an internal call with the caller's context; doc
		// {"skip": true} skips its permission check.
		"relay": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			var opts []limp.InvokeOption
			if c.Doc["skip"] == true {
				opts = append(opts, limp.SkipPermissions)
			}
			ep, _ := c.Doc["endpoint"].(string)
			return c.Invoke(ctx, ep, nil, nil, opts...)
		}},
		// steal tries to hand the system session to the client.
		"steal": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			r := limp.OK("Switched.", nil)
			c.SwitchSession(r, c.App().SystemSession())
			return r, nil
		}},
	})
	// odd declares "__sys" among its privileges: still nobody's.
	odd := limp.NewService("odd", limp.Methods{
		"dotted": {Permissions: limp.Perms("odd.__sys"), Handler: whoami},
		"plain":  {Permissions: limp.Perms("__sys"), Handler: whoami},
	})
	odd.Privileges = append(odd.Privileges, "__sys")
	jobs := limp.NewModule[Job]("job", limp.Methods{
		"read":   {Permissions: limp.Perms("admin")},
		"create": {Permissions: limp.Perms("admin")},
	})
	jobs.Hooks.PreCreate = func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
		c.Doc["note"] = "pre"
		if c.Skipped(limp.SkipArgs) {
			c.Doc["note"] = "pre, args skipped"
		}
		return nil, nil
	}
	jobs.Hooks.OnRead = func(ctx context.Context, c *limp.Call, r *limp.Result) (*limp.Result, error) {
		r.Args["on"] = true
		return r, nil
	}
	return startApp(t, limp.Config{Name: "invoke", QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1}, ops, odd, jobs)
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var e *limp.Error
	if !errors.As(err, &e) || e.Status != status || e.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
}

// TestInvokeOptions: Go code runs "__sys" methods with the system
// session or SkipPermissions, and skips args, hooks and extensions as
// LIMP's internal calls do (spec §5.4, §6.8); nothing else runs them.
func TestInvokeOptions(t *testing.T) {
	app := invokeApp(t).App
	ctx := t.Context()
	sys := app.SystemSession()

	// __sys: refused to ANON, run by the system session or without the
	// permission check.
	_, err := app.Invoke(ctx, nil, "ops/purge", nil, nil)
	wantCode(t, err, 403, limp.CodeForbidden)
	res, err := app.Invoke(ctx, sys, "ops/purge", nil, nil)
	if err != nil || res.Args["user"] != limp.SystemUserID.Hex() || res.Args["system"] != true || res.Args["client_app"] != "__sys" {
		t.Fatalf("system session: %+v %v", res, err)
	}
	res, err = app.Invoke(ctx, nil, "ops/purge", nil, nil, limp.SkipPermissions)
	if err != nil || res.Args["user"] != limp.AnonUserID.Hex() {
		t.Fatalf("SkipPermissions: %+v %v", res, err)
	}

	// Args.
	_, err = app.Invoke(ctx, sys, "ops/need_id", nil, nil)
	wantCode(t, err, 400, "TEST_OPS_INVALID_QUERY")
	if _, err := app.Invoke(ctx, sys, "ops/need_id", nil, nil, limp.SkipArgs); err != nil {
		t.Fatalf("SkipArgs: %v", err)
	}

	// Pre hooks, and q and doc left as given.
	q := limp.NewQuery(limp.M{"$soft": true})
	doc := limp.M{"title": "a", "author": limp.AdminUserID.Hex()}
	before, _ := json.Marshal([]any{q.Steps(), doc})
	res, err = app.Invoke(ctx, sys, "job/create", q, doc)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal([]any{q.Steps(), doc}); string(after) != string(before) {
		t.Fatalf("Invoke changed its arguments: %s, was %s", after, before)
	}
	created := res.Args["docs"].([]any)[0].(map[string]any)
	if created["note"] != "pre" || created["user"] != limp.SystemUserID {
		t.Fatalf("created by the system session: %v", created)
	}
	res, err = app.Invoke(ctx, sys, "job/create", limp.NewQuery(limp.M{"$soft": true}), limp.M{"title": "c", "user": limp.AdminUserID.Hex()}, limp.SkipArgs)
	if err != nil || res.Args["docs"].([]any)[0].(map[string]any)["note"] != "pre, args skipped" {
		t.Fatalf("Call.Skipped in a hook: %+v %v", res, err)
	}
	res, err = app.Invoke(ctx, sys, "job/create", limp.NewQuery(limp.M{"$soft": true}), limp.M{"title": "b"}, limp.SkipPreHooks)
	if err != nil || res.Args["docs"].([]any)[0].(map[string]any)["note"] != "none" {
		t.Fatalf("SkipPreHooks: %+v %v", res, err)
	}

	// On hooks and extensions.
	read := limp.NewQuery(limp.M{"title": "a"})
	res, err = app.Invoke(ctx, sys, "job/read", read, nil)
	if err != nil || res.Args["on"] != true {
		t.Fatalf("read: %+v %v", res, err)
	}
	if a, ok := res.Args["docs"].([]any)[0].(map[string]any)["author"].(map[string]any); !ok || a["_id"] != limp.AdminUserID {
		t.Fatalf("author not expanded: %v", res.Args["docs"])
	}
	res, err = app.Invoke(ctx, sys, "job/read", read, nil, limp.SkipOnHooks|limp.SkipExtensions)
	if err != nil || res.Args["on"] != nil {
		t.Fatalf("SkipOnHooks: %+v %v", res, err)
	}
	if a := res.Args["docs"].([]any)[0].(map[string]any)["author"]; a != limp.AdminUserID {
		t.Fatalf("SkipExtensions: author = %v", a)
	}

	// The system session holds every privilege, "__sys" included; it is
	// a fresh value each time.
	job := app.Module("job")
	if !sys.HasPrivilege(job, "__sys") || !sys.HasPrivilege(job, "admin") || !sys.System() {
		t.Fatal("system session lacks a privilege")
	}
	sys.Privileges["*"] = nil
	if !app.SystemSession().HasPrivilege(job, "admin") {
		t.Fatal("changing one system session changed the next")
	}
	var anon *limp.Session
	if anon.System() || anon.HasPrivilege(job, "__sys") {
		t.Fatal("a nil session is the system session")
	}
	if _, err := app.Invoke(ctx, nil, "ops/nope", nil, nil); err == nil {
		t.Fatal("unknown method ran")
	}
}

// TestSysUnreachableByClients: no client reaches a "__sys" method, over
// the websocket or HTTP, as ANON or ADMIN, directly or through a public
// method calling it with the client's context; the system session is
// never handed to a client (issue 10 item 6).
func TestSysUnreachableByClients(t *testing.T) {
	s := invokeApp(t)
	anon := dial(t, s.WS)
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	for name, c := range map[string]*wsClient{"ANON": anon, "ADMIN": admin} {
		for _, ep := range []string{"ops/purge", "odd/dotted", "odd/plain"} {
			if r := c.call(ep, nil, nil); r.Status != 403 || r.code() != limp.CodeForbidden {
				t.Errorf("%s: %s = %+v, want 403 %s", name, ep, r, limp.CodeForbidden)
			}
		}
		wantErr(t, c.call("ops/relay", nil, map[string]any{"endpoint": "ops/purge"}), 403, limp.CodeForbidden)
		// A handler may decide to skip the check for its caller.
		r := must(t, c.call("ops/relay", nil, map[string]any{"endpoint": "ops/purge", "skip": true}))
		if r.Args["system"] != false || r.Args["client_app"] != "__public" || r.Args["ip"] != "127.0.0.1" {
			t.Fatalf("%s: inner call context %v, want the client's", name, r.Args)
		}
		// The system session is never switched to.
		r = c.call("ops/steal", nil, nil)
		if r.Status != 500 || r.code() != limp.CodeServerError || r.Args["session"] != nil {
			t.Fatalf("%s: steal = %+v, want a 500 without a session", name, r)
		}
		r = must(t, c.call("ops/whoami", nil, nil))
		if r.Args["system"] != false || r.Args["user"] == limp.SystemUserID.Hex() {
			t.Fatalf("%s: after steal the connection runs as %v", name, r.Args)
		}
	}
	// HTTP: GET and POST methods that are "__sys" only.
	for _, req := range []struct{ method, path string }{{"GET", "/ops/peek"}, {"POST", "/ops/purge"}} {
		r, _ := http.NewRequest(req.method, s.URL+req.path, strings.NewReader("{}"))
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 403 || !strings.Contains(string(body), limp.CodeForbidden) {
			t.Fatalf("%s %s: %d %s, want 403 %s", req.method, req.path, res.StatusCode, body, limp.CodeForbidden)
		}
	}
}
