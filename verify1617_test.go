package limp_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

type v1617Note struct {
	limp.Doc
	Title  string            `json:"title"`
	Public bool              `json:"public"`
	Tags   []string          `json:"tags" limp:"default=[]"`
	Meta   map[string]string `json:"meta" limp:"default={}"`
}

// TestVerify1617CacheHookMutation: an On hook that mutates the cached
// result in place (nested list, nested dict, the docs list itself) must
// not change what later hits return; a hit carries args.cache; ANON and
// ADMIN (different permission modifiers) never share an entry.
func TestVerify1617CacheHookMutation(t *testing.T) {
	ctx := context.Background()
	notes := limp.NewModule[v1617Note]("vnote", limp.Methods{
		"read": {Permissions: []limp.Perm{
			{Privilege: "admin"},
			{Privilege: "*", QueryMod: limp.M{"public": true}},
		}},
		"create": {Permissions: limp.Perms("admin")},
	})
	notes.Cache = []limp.CacheSet{{}}
	notes.Hooks.OnRead = func(ctx context.Context, c *limp.Call, r *limp.Result) (*limp.Result, error) {
		docs, _ := r.Args["docs"].([]any)
		for _, d := range docs {
			m, ok := d.(limp.M)
			if !ok {
				continue
			}
			switch tags := m["tags"].(type) {
			case []any:
				if len(tags) > 0 {
					tags[0] = "MUTATED"
				}
			case []string:
				if len(tags) > 0 {
					tags[0] = "MUTATED"
				}
			}
			switch meta := m["meta"].(type) {
			case limp.M:
				meta["k"] = "MUTATED"
			}
			m["title"] = "MUTATED"
		}
		r.Args["docs"] = append(docs, limp.M{"title": "EXTRA"})
		return r, nil
	}
	app := limp.New(limptest.Config(t, limp.Config{Name: "v1617", Locale: "en_AE", Locales: []string{"en_AE"},
		AnonPrivileges: limp.Privileges{"vnote": {"read"}}}))
	app.Register("v1617", notes)
	s := limptest.Start(t, app)
	for _, d := range []limp.M{
		{"title": "pub", "public": true, "tags": []any{"a"}, "meta": limp.M{"k": "v"}},
		{"title": "priv", "public": false, "tags": []any{"b"}, "meta": limp.M{"k": "w"}},
	} {
		if _, err := app.Invoke(ctx, app.SystemSession(), "vnote/create", nil, d); err != nil {
			t.Fatal(err)
		}
	}
	anon := s.Client(t, nil)
	admin := s.Client(t, nil)
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	q := []any{map[string]any{"$sort": map[string]any{"title": 1}}}
	for i := 0; i < 3; i++ {
		r, err := anon.Call(ctx, "vnote/read", q, nil)
		if err != nil {
			t.Fatal(err)
		}
		docs := r.Args["docs"].([]any)
		if len(docs) != 2 {
			t.Fatalf("read %d: ANON gets %d docs (1 + the hook's extra): %v", i, len(docs), docs)
		}
		d := docs[0].(map[string]any)
		// The hook's own mutations show on every reply, exactly once.
		if d["title"] != "MUTATED" || fmt.Sprint(d["tags"]) != "[MUTATED]" || fmt.Sprint(d["meta"]) != "map[k:MUTATED]" {
			t.Errorf("read %d: %v", i, d)
		}
		if i > 0 && r.Args["cache"] == nil {
			t.Errorf("read %d: no args.cache on a hit: %v", i, r.Args)
		}
	}
	// The stored/cached values are untouched: a Go read skipping hooks.
	res, err := app.Invoke(ctx, app.SystemSession(), "vnote/read", limp.NewQuery(limp.M{"title": "pub"}), nil, limp.SkipOnHooks)
	if err != nil {
		t.Fatal(err)
	}
	d := res.Args["docs"].([]any)[0].(limp.M)
	if fmt.Sprint(d["tags"]) != "[a]" || fmt.Sprint(d["meta"]) != "map[k:v]" || d["title"] != "pub" {
		t.Errorf("hook mutation leaked into the cache/store: %v", d)
	}
	// ADMIN's same query sees both docs (no ANON entry reused).
	r, err := admin.Call(ctx, "vnote/read", q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Args["docs"].([]any)); n != 3 {
		t.Errorf("ADMIN gets %d docs, want 2 + the hook's extra: %v", n, r.Args["docs"])
	}
	// A write invalidates: ANON sees the new public note at once.
	if _, err := app.Invoke(ctx, app.SystemSession(), "vnote/create", nil, limp.M{"title": "pub2", "public": true}); err != nil {
		t.Fatal(err)
	}
	r, err = anon.Call(ctx, "vnote/read", q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Args["docs"].([]any)); n != 3 || r.Args["cache"] != nil {
		t.Errorf("after a write ANON gets %d docs (want 3), cache %v", n, r.Args["cache"])
	}
}

// TestVerify1617ConsoleRealm: in realm mode the console's api.json says
// so, and the page starts at /ws/__global (a realm-mode app refuses /ws).
func TestVerify1617ConsoleRealm(t *testing.T) {
	for _, realm := range []bool{false, true} {
		app := limp.New(limptest.Config(t, limp.Config{Name: "v1617r", Realm: realm, Locale: "en_AE", Locales: []string{"en_AE"}}))
		s := limptest.Start(t, app)
		resp, err := http.Get(s.URL + "/console/api.json")
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Realm bool `json:"realm"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil || v.Realm != realm {
			t.Errorf("realm %v: api.json realm = %v (%v)", realm, v.Realm, err)
		}
	}
	resp, err := http.Get(limptest.Start(t, limp.New(limptest.Config(t, limp.Config{Name: "v1617c", Locale: "en_AE"}))).URL + "/console/console.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "if (api.realm && ") || !strings.Contains(string(b), "GLOBAL_REALM = '__global'") {
		t.Error("console.js does not switch to /ws/__global in realm mode")
	}
}

// TestVerify1617EmailHeaderInjection: CR/LF in a subject or an
// attachment name never becomes a header of its own, and an address
// carrying one is refused at Send.
func TestVerify1617EmailHeaderInjection(t *testing.T) {
	smtp := startFakeSMTP(t)
	app := limp.New(limptest.Config(t, limp.Config{Name: "mail", Locale: "en_AE", EmailAuth: &limp.EmailAuth{
		Server: smtp.ln.Addr().String(), Username: "app@example.com", Password: "pw",
		TLSConfig: &tls.Config{RootCAs: smtp.roots, ServerName: "127.0.0.1"},
	}}))
	s := limptest.Start(t, app)
	ctx := context.Background()
	var le *limp.Error
	if err := s.App.Send(ctx, "email", limp.M{"subject": "x", "addr_to": "a@example.com\r\nBcc: evil@example.com", "content": "x"}); !errorsAs(err, &le) || le.Code != "CORE_GATEWAY_INVALID_EMAIL" {
		t.Errorf("address with CRLF: %v", err)
	}
	if err := s.App.Send(ctx, "email", limp.M{"subject": "Hi\r\nBcc: evil@example.com", "addr_to": "a@example.com", "content": "x",
		"files": []any{limp.M{"name": "n.txt\r\nX-Evil: 1", "content": "y"}}}); err != nil {
		t.Logf("refused at Send (fine): %v", err)
		return
	}
	select {
	case <-smtp.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no email delivered")
	}
	smtp.mu.Lock()
	msg := smtp.msgs[0]
	smtp.mu.Unlock()
	for _, bad := range []string{"\r\nBcc: evil", "\nBcc: evil", "\r\nX-Evil: 1", "\nX-Evil: 1"} {
		if strings.Contains(msg, bad) {
			t.Errorf("injected header %q:\n%s", bad, msg)
		}
	}
}

// TestVerify1617JobsDeclarations: two jobs of one name (their runs would
// share job_run leases) and a nameless job are Start errors; run_now is
// refused to ANON with a code.
func TestVerify1617JobsDeclarations(t *testing.T) {
	f := func(context.Context, *limp.JobContext) error { return nil }
	app := limp.New(limptest.Config(t, limp.Config{Name: "v1617j", Locale: "en_AE", Jobs: []limp.Job{
		{Name: "same", Schedule: "* * * * *", Func: f},
		{Name: "same", Schedule: "0 * * * *", Func: f},
		{Name: "", Schedule: "* * * * *", Func: f},
	}}))
	if err := app.Start(context.Background()); err == nil {
		_ = app.Shutdown(context.Background())
		t.Error("Start accepted duplicate and empty job names")
	} else if !strings.Contains(err.Error(), `"same"`) {
		t.Errorf("Start error does not name the duplicate: %v", err)
	}
	ok := limp.New(limptest.Config(t, limp.Config{Name: "v1617k", Locale: "en_AE", Jobs: []limp.Job{{Name: "j", Schedule: "@hourly", Func: f}}}))
	s := limptest.Start(t, ok)
	anon := s.Client(t, nil)
	if _, err := anon.Call(context.Background(), "job_run/run_now", nil, map[string]any{"job": "j"}); err == nil {
		t.Error("ANON ran a job")
	}
	if _, err := anon.Call(context.Background(), "job_run/read", []any{}, nil); err == nil {
		t.Error("ANON read the run history")
	}
}
