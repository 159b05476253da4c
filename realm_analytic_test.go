package limp_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// TestRealmAnalytics: analytics events of a realm's calls (a module's
// Analytics set, the built-in sign-in events) are recorded in that realm:
// its admin reads them with analytic/read, another realm's admin and
// __global do not see them.
func TestRealmAnalytics(t *testing.T) {
	notes := limp.NewModule[realmNote]("note", limp.Methods{"read": {Permissions: limp.Perms("read")}})
	notes.Analytics = []limp.Analytic{{Doc: func(ctx context.Context, c *limp.Call) limp.AnalyticEvent {
		return limp.AnalyticEvent{Event: "NOTE_READ", Subevent: "list", Score: 1}
	}}}
	members := limp.NewModule[realmMember]("member", limp.Methods{"read": {Permissions: limp.Perms("read")}})
	teams := limp.NewModule[realmTeam]("team", limp.Methods{"read": {Permissions: limp.Perms("read")}})
	app := limp.New(limptest.Config(t, noQuotas(limp.Config{Name: "realmanalytics", Realm: true, Locale: "en_AE", Locales: []string{"en_AE"}})))
	app.Register("test", teams, members, notes)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Shutdown(context.Background()) })
	for realm, email := range map[string]string{"acme": "boss@acme.example", "beta": "boss@beta.example"} {
		if err := newRealm(t, app, realm, email); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	signIn := func(realm, email string) *client.Client {
		cl, err := client.Dial(ctx, ws+realm, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close() })
		if _, err := cl.Auth(ctx, "email", email, "pw"); err != nil {
			t.Fatalf("sign in to %s: %v", realm, err)
		}
		return cl
	}
	acme := signIn("acme", "boss@acme.example")
	beta := signIn("beta", "boss@beta.example")
	for range 2 {
		if _, err := acme.Call(ctx, "note/read", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	events := func(cl *client.Client, event string) int {
		t.Helper()
		r, err := cl.Call(ctx, "analytic/read", []any{limp.M{"event": event}}, nil)
		if err != nil {
			t.Fatalf("analytic/read: %v", err)
		}
		n := 0
		for _, d := range r.Args["docs"].([]any) {
			n += len(d.(map[string]any)["occurrences"].([]any))
		}
		return n
	}
	// The writer runs off the call path: wait (bounded) for acme's events.
	deadline := time.Now().Add(10 * time.Second)
	for events(acme, "NOTE_READ") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("acme's admin never read its NOTE_READ events (got %d)", events(acme, "NOTE_READ"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := events(acme, "USER_AUTH"); n != 1 {
		t.Errorf("acme's USER_AUTH events = %d, want 1 (its admin's sign-in)", n)
	}
	if n := events(beta, "NOTE_READ"); n != 0 {
		t.Errorf("beta's admin reads %d of acme's NOTE_READ events", n)
	}
	if n := events(beta, "USER_AUTH"); n != 1 {
		t.Errorf("beta's USER_AUTH events = %d, want 1 (its own admin's sign-in only)", n)
	}
	res, err := app.Invoke(limp.WithRealm(context.Background(), limp.GlobalRealm), app.SystemSession(), "analytic/read", limp.NewQuery(limp.M{"event": "NOTE_READ"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Args["count"]); got != "0" {
		t.Errorf("__global holds %s NOTE_READ docs of acme's calls", got)
	}
}

// TestRecordAnalyticRealm: App.RecordAnalytic records in the realm of its
// context — the caller's, from a handler's context, or WithRealm's — and
// in GlobalRealm from a context without one.
func TestRecordAnalyticRealm(t *testing.T) {
	notes := limp.NewModule[realmNote]("note", limp.Methods{
		"read": {Permissions: limp.Perms("read")},
		"mark": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			c.App().RecordAnalytic(ctx, c.Session.UserID, limp.AnalyticEvent{Event: "MARKED", Subevent: "handler"})
			return limp.OK("Marked.", nil), nil
		}},
	})
	members := limp.NewModule[realmMember]("member", limp.Methods{"read": {Permissions: limp.Perms("read")}})
	teams := limp.NewModule[realmTeam]("team", limp.Methods{"read": {Permissions: limp.Perms("read")}})
	app := limp.New(limptest.Config(t, noQuotas(limp.Config{Name: "recordanalytic", Realm: true, Locale: "en_AE", Locales: []string{"en_AE"}})))
	app.Register("test", teams, members, notes)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Shutdown(context.Background()) })
	if err := newRealm(t, app, "acme", "boss@acme.example"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	if _, err := cl.Auth(ctx, "email", "boss@acme.example", "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Call(ctx, "note/mark", nil, nil); err != nil {
		t.Fatal(err)
	}
	app.RecordAnalytic(limp.WithRealm(ctx, "acme"), limp.AdminUserID, limp.AnalyticEvent{Event: "MARKED", Subevent: "with_realm"})
	app.RecordAnalytic(context.Background(), limp.AdminUserID, limp.AnalyticEvent{Event: "MARKED", Subevent: "global"})
	subevents := func(realm string) map[string]bool {
		t.Helper()
		res, err := app.Invoke(limp.WithRealm(ctx, realm), app.SystemSession(), "analytic/read", limp.NewQuery(limp.M{"event": "MARKED"}), nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, d := range res.Args["docs"].([]any) {
			out[fmt.Sprint(d.(limp.M)["subevent"])] = true
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(subevents("acme"))+len(subevents(limp.GlobalRealm)) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := subevents("acme"); !got["handler"] || !got["with_realm"] || got["global"] {
		t.Errorf("acme's MARKED subevents = %v, want handler and with_realm", got)
	}
	if got := subevents(limp.GlobalRealm); !got["global"] || got["handler"] || got["with_realm"] {
		t.Errorf("__global's MARKED subevents = %v, want global only", got)
	}
}
