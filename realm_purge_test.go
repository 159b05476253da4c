package limp_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// realmDocs counts the documents of realm in every module the realm test
// app has (system session, so nothing is hidden by permissions).
func realmDocs(t *testing.T, app *limp.App, realm string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, m := range []string{"team", "member", "note", "user", "group", "session"} {
		out[m] = count(t, app, realm, nil, m+"/read")
	}
	return out
}

// TestRealmDeletePurges: realm/delete removes the realm and every
// document of it (the app's and its users, groups and sessions), leaves
// other realms alone, refuses the name until the purge has finished, and
// is for the global realm only; on both stores.
func TestRealmDeletePurges(t *testing.T) {
	for name, data := range realmStores(t) {
		t.Run(name, func(t *testing.T) { testRealmDeletePurges(t, startRealmsOn(t, data)) })
	}
}

func testRealmDeletePurges(t *testing.T, app *limp.App) {
	for name, email := range map[string]string{"gone": "boss@gone.example", "kept": "boss@kept.example"} {
		if err := newRealm(t, app, name, email); err != nil {
			t.Fatal(err)
		}
		team := invokeID(t, app, name, "team/create", limp.M{"name": "t-" + name, "public": true})
		member := invokeID(t, app, name, "member/create", limp.M{"name": "m", "team": team})
		invokeID(t, app, name, "note/create", limp.M{"text": "n", "member": member})
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/"
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
	signIn("gone", "boss@gone.example") // a session in the realm
	kept := signIn("kept", "boss@kept.example")
	keptBefore := realmDocs(t, app, "kept")
	if got := realmDocs(t, app, "gone"); fmt.Sprint(got) != fmt.Sprint(keptBefore) {
		t.Fatalf("gone holds %v, kept %v: the set-up differs", got, keptBefore)
	}

	realmID := func(name string) any {
		res, err := app.Invoke(ctx, app.SystemSession(), "realm/read", limp.NewQuery(limp.M{"name": name}), nil)
		if err != nil || len(res.Args["docs"].([]any)) != 1 {
			t.Fatalf("realm %s: %v %v", name, res, err)
		}
		return res.Args["docs"].([]any)[0].(limp.M)["_id"]
	}
	// A realm's admin (privileges {"*": ["*"]}) may not delete its realm.
	if _, err := kept.Call(ctx, "realm/delete", []any{limp.M{"_id": realmID("kept")}}, nil); client.CodeOf(err) != limp.CodeForbidden {
		t.Fatalf("realm/delete by the realm's own admin: %v, want %s", err, limp.CodeForbidden)
	}

	res, err := app.Invoke(ctx, app.SystemSession(), "realm/delete", limp.NewQuery(limp.M{"_id": realmID("gone")}), nil)
	if err != nil || fmt.Sprint(res.Args["count"]) != "1" {
		t.Fatalf("realm/delete: %v %v", res, err)
	}
	if _, err := app.PurgeDeletedRealms(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second) // the App's own purge may hold the last batch
	for count(t, app, limp.GlobalRealm, nil, "realm/read") != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(t, app, limp.GlobalRealm, nil, "realm/read"); n != 2 {
		t.Fatalf("%d realm docs after the purge, want 2 (__global, kept)", n)
	}
	for m, n := range realmDocs(t, app, "gone") {
		if n != 0 {
			t.Errorf("deleted realm still holds %d %s docs", n, m)
		}
	}
	if got := realmDocs(t, app, "kept"); fmt.Sprint(got) != fmt.Sprint(keptBefore) {
		t.Errorf("kept holds %v after gone's purge, want %v", got, keptBefore)
	}
	if _, err := kept.Call(ctx, "note/read", nil, nil); err != nil {
		t.Errorf("kept's connection after gone's purge: %v", err)
	}
	// The name is free again once purged.
	if err := newRealm(t, app, "gone", "new@gone.example"); err != nil {
		t.Fatalf("re-create gone: %v", err)
	}
	signIn("gone", "new@gone.example")
	if n := count(t, app, "gone", nil, "note/read"); n != 0 {
		t.Errorf("the new realm gone sees %d notes of the old one", n)
	}
}

// TestRealmPurgeResumes: a purge a stopped node left unfinished resumes
// when an App starts on the same store, and until it has finished the
// name cannot be taken again.
func TestRealmPurgeResumes(t *testing.T) {
	data := filepath.Join(t.TempDir(), "realms.db")
	app := startRealmsOn(t, data)
	if err := newRealm(t, app, "gone", "boss@gone.example"); err != nil {
		t.Fatal(err)
	}
	team := invokeID(t, app, "gone", "team/create", limp.M{"name": "t", "public": true})
	member := invokeID(t, app, "gone", "member/create", limp.M{"name": "m", "team": team})
	for i := range 3 {
		invokeID(t, app, "gone", "note/create", limp.M{"text": fmt.Sprint(i), "member": member})
	}
	ctx := context.Background()
	// realm/delete marked the realm, then the node stopped before purging.
	if err := limp.MarkRealmDeleted(app, "gone"); err != nil {
		t.Fatal(err)
	}
	err := newRealm(t, app, "gone", "new@gone.example")
	if e, ok := err.(*limp.Error); !ok || e.Code != "CORE_REALM_INVALID_ATTR" {
		t.Fatalf("re-create gone while its documents remain: %v, want CORE_REALM_INVALID_ATTR", err)
	}
	if n := count(t, app, "gone", nil, "note/read"); n != 3 {
		t.Fatalf("%d notes before the restart, want 3 (nothing purged yet)", n)
	}
	if err := app.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	app2 := startRealmsOn(t, data)
	deadline := time.Now().Add(10 * time.Second)
	for count(t, app2, limp.GlobalRealm, nil, "realm/read") != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(t, app2, "gone", nil, "note/read"); n != 0 {
		t.Errorf("%d notes of the deleted realm after a restart", n)
	}
	if n := count(t, app2, limp.GlobalRealm, nil, "realm/read"); n != 1 {
		t.Errorf("%d realm docs after the resumed purge, want 1 (__global)", n)
	}
}

// TestRealmDefaultSynced: Start gives every realm's DEFAULT group the
// privileges of Config.DefaultPrivileges, as it does the global DEFAULT
// group (spec §5.1).
func TestRealmDefaultSynced(t *testing.T) {
	data := filepath.Join(t.TempDir(), "realms.db")
	start := func(privs limp.Privileges) *limp.App {
		t.Helper()
		notes := limp.NewModule[realmNote]("note", limp.Methods{"read": {Permissions: limp.Perms("read")}, "create": {Permissions: limp.Perms("create")}})
		members := limp.NewModule[realmMember]("member", limp.Methods{"read": {Permissions: limp.Perms("read")}})
		teams := limp.NewModule[realmTeam]("team", limp.Methods{"read": {Permissions: limp.Perms("read")}})
		app := limp.New(limptest.Config(t, limp.Config{Name: "realmdefault", Data: data, Realm: true, Locale: "en_AE", Locales: []string{"en_AE"}, DefaultPrivileges: privs}))
		app.Register("test", teams, members, notes)
		if err := app.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return app
	}
	privileges := func(app *limp.App, realm string) string {
		t.Helper()
		ctx := limp.WithRealm(context.Background(), realm)
		res, err := app.Invoke(ctx, app.SystemSession(), "realm/read", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var def any
		for _, d := range res.Args["docs"].([]any) {
			if d.(limp.M)["name"] == realm {
				def = d.(limp.M)["default"]
			}
		}
		res, err = app.Invoke(ctx, app.SystemSession(), "group/read", limp.NewQuery(limp.M{"_id": def}), nil)
		if err != nil || len(res.Args["docs"].([]any)) != 1 {
			t.Fatalf("DEFAULT group of %s: %v %v", realm, res, err)
		}
		return fmt.Sprint(res.Args["docs"].([]any)[0].(limp.M)["privileges"])
	}
	app := start(limp.Privileges{"note": {"read"}})
	if err := newRealm(t, app, "acme", "boss@acme.example"); err != nil {
		t.Fatal(err)
	}
	if got := privileges(app, "acme"); got != "map[note:[read]]" {
		t.Fatalf("acme's DEFAULT privileges = %s", got)
	}
	if err := app.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	app = start(limp.Privileges{"note": {"read", "create"}})
	t.Cleanup(func() { _ = app.Shutdown(context.Background()) })
	for _, realm := range []string{"acme", limp.GlobalRealm} {
		if got := privileges(app, realm); got != "map[note:[read create]]" {
			t.Errorf("%s's DEFAULT privileges after a restart with new DefaultPrivileges = %s", realm, got)
		}
	}
}
