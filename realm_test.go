package limp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
	"github.com/limp-go/limp/limptest"
)

type realmTeam struct {
	limp.Doc
	Name   string `json:"name" limp:"unique"`
	Public bool   `json:"public"`
}

type realmMember struct {
	limp.Doc
	Name string  `json:"name"`
	Team limp.ID `json:"team" limp:"ref=team"`
}

type realmNote struct {
	limp.Doc
	Text   string  `json:"text" limp:"search"`
	Member limp.ID `json:"member" limp:"ref=member"`
}

// startRealms starts a realm-mode app of teams, members (readable when
// their team is public: a query_mod through a reference) and notes.
func startRealms(t *testing.T) *limp.App { return startRealmsOn(t, "") }

// realmStores are the stores the realm tests run on: the embedded one,
// and MongoDB when LIMP_TEST_MONGO_URI is set, in a fresh database of
// that server (mongotest.URI), dropped when t ends.
func realmStores(t *testing.T) map[string]string {
	stores := map[string]string{"sqlite": ""}
	if os.Getenv(mongotest.Env) != "" {
		stores["mongo"] = mongotest.URI(t)
	}
	return stores
}

func startRealmsOn(t *testing.T, data string) *limp.App {
	t.Helper()
	all := limp.Perms("*")
	teams := limp.NewModule[realmTeam]("team", limp.Methods{"read": {Permissions: limp.Perms("read")}, "create": {Permissions: all}})
	members := limp.NewModule[realmMember]("member", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "read", QueryMod: limp.M{"team.public": true}}}},
		"create": {Permissions: all},
	})
	notes := limp.NewModule[realmNote]("note", limp.Methods{"read": {Permissions: limp.Perms("read")}, "create": {Permissions: all}})
	app := limp.New(limptest.Config(t, limp.Config{Name: "realms", Data: data, Realm: true, Locale: "en_AE", Locales: []string{"en_AE"}}))
	app.Register("test", teams, members, notes)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Shutdown(context.Background()) })
	return app
}

func newRealm(t *testing.T, app *limp.App, name, email string) error {
	t.Helper()
	h, err := limp.AuthHash("5.6", "email", email, "pw", limp.DefaultAnonToken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.Invoke(context.Background(), app.SystemSession(), "realm/create", nil, limp.M{"name": name,
		"user": limp.M{"name": limp.M{"en_AE": "admin"}, "email": email, "email_hash": h}})
	return err
}

func invokeID(t *testing.T, app *limp.App, realm, endpoint string, doc limp.M) limp.ID {
	t.Helper()
	res, err := app.Invoke(limp.WithRealm(context.Background(), realm), app.SystemSession(), endpoint, nil, doc)
	if err != nil {
		t.Fatalf("%s in %s: %v", endpoint, realm, err)
	}
	return res.Args["docs"].([]any)[0].(limp.M)["_id"].(limp.ID)
}

func count(t *testing.T, app *limp.App, realm string, s *limp.Session, endpoint string, q ...any) int64 {
	t.Helper()
	ctx := context.Background()
	if realm != "" {
		ctx = limp.WithRealm(ctx, realm)
	}
	if s == nil {
		s = app.SystemSession()
	}
	res, err := app.Invoke(ctx, s, endpoint, limp.NewQuery(q...), nil)
	if ue := (*store.UnsupportedError)(nil); errors.As(err, &ue) {
		// Decided by the store's capability probe, never the server's name.
		t.Skip("server lacks " + ue.Feature)
	}
	if err != nil {
		t.Fatalf("%s in %s: %v", endpoint, realm, err)
	}
	return res.Args["total"].(int64)
}

// TestRealmNestedJoins: a join's own permission filter, which runs
// through a further reference, is scoped too — a member of realm r1
// whose team lives in r2 stays hidden from r1 however the query reaches
// it.
func TestRealmNestedJoins(t *testing.T) {
	for name, data := range realmStores(t) {
		t.Run(name, func(t *testing.T) { testRealmNestedJoins(t, startRealmsOn(t, data)) })
	}
}

func testRealmNestedJoins(t *testing.T, app *limp.App) {
	for _, r := range []string{"r1", "r2"} {
		if err := newRealm(t, app, r, "admin@x.example"); err != nil {
			t.Fatalf("realm %s: %v", r, err)
		}
	}
	t1 := invokeID(t, app, "r1", "team/create", limp.M{"name": "t", "public": true})
	t2 := invokeID(t, app, "r2", "team/create", limp.M{"name": "t", "public": true}) // same name: unique per realm
	good := invokeID(t, app, "r1", "member/create", limp.M{"name": "good", "team": t1})
	stray := invokeID(t, app, "r1", "member/create", limp.M{"name": "stray", "team": t2})
	invokeID(t, app, "r1", "note/create", limp.M{"text": "hello good", "member": good})
	invokeID(t, app, "r1", "note/create", limp.M{"text": "hello stray", "member": stray})
	invokeID(t, app, "r2", "note/create", limp.M{"text": "hello r2", "member": stray})

	reader := &limp.Session{ID: limp.AnonSessionID, UserID: limp.AnonUserID, User: limp.M{"_id": limp.AnonUserID},
		Privileges: limp.Privileges{"team": {"read"}, "member": {"read"}, "note": {"read"}}}
	for _, c := range []struct {
		realm, endpoint string
		q               []any
		want            int64
	}{
		{"r1", "note/read", nil, 2},
		{"r1", "note/read", []any{limp.M{"member.name": "good"}}, 1},
		{"r1", "note/read", []any{limp.M{"member.name": "stray"}}, 0}, // its team is in r2
		{"r1", "note/read", []any{limp.M{"$search": "hello"}}, 2},
		{"r1", "member/read", nil, 1},
		{"r2", "note/read", []any{limp.M{"member.name": "stray"}}, 0}, // the member is in r1
		{"r2", "team/read", []any{limp.M{"_id": t1}}, 0},
		{limp.GlobalRealm, "note/read", nil, 0},
		{"", "note/read", nil, 0}, // no realm: the global one
	} {
		if got := count(t, app, c.realm, reader, c.endpoint, c.q...); got != c.want {
			t.Errorf("%s %s %v: total %d, want %d", c.realm, c.endpoint, c.q, got, c.want)
		}
	}
}

// TestRealmCreate: names are checked, a realm is made atomically (a
// failed create leaves no admin or group behind), the same admin email
// lives in two realms, and only the global realm makes realms.
func TestRealmCreate(t *testing.T) {
	for name, data := range realmStores(t) {
		t.Run(name, func(t *testing.T) { testRealmCreate(t, startRealmsOn(t, data)) })
	}
}

func testRealmCreate(t *testing.T, app *limp.App) {
	for _, name := range []string{"", "__x", "Acme", "a b", "a/b", "ws", "health", strings.Repeat("a", 64)} {
		err := newRealm(t, app, name, "a@x.example")
		if e, ok := err.(*limp.Error); !ok || e.Code != "CORE_REALM_INVALID_ATTR" {
			t.Errorf("realm name %q: %v", name, err)
		}
	}
	for _, user := range []limp.M{{}, {"name": limp.M{"en_AE": "a"}, "email": "a@x.example"}} {
		_, err := app.Invoke(context.Background(), app.SystemSession(), "realm/create", nil, limp.M{"name": "nohash", "user": user})
		if e, ok := err.(*limp.Error); !ok || e.Code != "CORE_REALM_INVALID_ATTR" {
			t.Errorf("realm admin %v without a hash: %v", user, err)
		}
	}
	if n := count(t, app, limp.GlobalRealm, nil, "realm/read", limp.M{"name": "nohash"}); n != 0 {
		t.Error("a realm without a usable admin was made")
	}
	if err := newRealm(t, app, "one", "a@x.example"); err != nil {
		t.Fatal(err)
	}
	err := newRealm(t, app, "one", "b@x.example")
	if e, ok := err.(*limp.Error); !ok || e.Code != "CORE_REALM_DUPLICATE_DOC" {
		t.Fatalf("duplicate realm: %v", err)
	}
	if n := count(t, app, "one", nil, "user/read"); n != 1 {
		t.Errorf("realm one has %d users after a failed create, want 1", n)
	}
	if n := count(t, app, "one", nil, "group/read"); n != 1 {
		t.Errorf("realm one has %d groups after a failed create, want 1", n)
	}
	if err := newRealm(t, app, "two", "a@x.example"); err != nil {
		t.Fatalf("same admin email in another realm: %v", err)
	}
	_, err = app.Invoke(limp.WithRealm(context.Background(), "two"), app.SystemSession(), "realm/create", nil, limp.M{"name": "three", "user": limp.M{}})
	if e, ok := err.(*limp.Error); !ok || e.Code != limp.CodeForbidden {
		t.Errorf("realm/create from realm two: %v", err)
	}
	if n := count(t, app, limp.GlobalRealm, nil, "realm/read"); n != 3 {
		t.Errorf("global realm reads %d realms, want 3", n)
	}
	if n := count(t, app, "two", nil, "realm/read"); n != 1 {
		t.Errorf("realm two reads %d realms, want 1", n)
	}
	// A realm's users join its DEFAULT group, not the global one.
	res, err := app.Invoke(limp.WithRealm(context.Background(), "two"), app.SystemSession(), "realm/read", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	realm := res.Args["docs"].([]any)[0].(limp.M)
	def := realm["default"]
	// The realm admin owns the realm's DEFAULT group.
	if n := count(t, app, "two", nil, "group/read", limp.M{"_id": def, "user": realm["user"]}); n != 1 {
		t.Errorf("realm two's DEFAULT group is not its admin's")
	}
	h, _ := limp.AuthHash("5.6", "email", "u@x.example", "pw", limp.DefaultAnonToken)
	uid := invokeID(t, app, "two", "user/create", limp.M{"name": limp.M{"en_AE": "u"}, "email": "u@x.example", "email_hash": h})
	res, err = app.Invoke(limp.WithRealm(context.Background(), "two"), app.SystemSession(), "user/read", limp.NewQuery(limp.M{"_id": uid}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := fmt.Sprint(res.Args["docs"].([]any)[0].(limp.M)["groups"]); g != fmt.Sprint([]any{def}) {
		t.Errorf("new user's groups %s, want the realm's DEFAULT %v", g, def)
	}
}

// TestRealmAttrDeclared: in realm mode a module may not declare its own
// "realm" attr.
func TestRealmAttrDeclared(t *testing.T) {
	type bad struct {
		limp.Doc
		Realm string `json:"realm"`
	}
	app := limp.New(limptest.Config(t, limp.Config{Name: "bad", Realm: true}))
	app.Register("test", limp.NewModule[bad]("bad", limp.Methods{"read": {Permissions: limp.Perms("*")}}))
	err := app.Start(context.Background())
	if err == nil {
		_ = app.Shutdown(context.Background())
		t.Fatal("started with a module declaring realm")
	}
	if !strings.Contains(err.Error(), `"realm"`) {
		t.Errorf("error does not name the attr: %v", err)
	}
}

// TestRealmAdminSignsIn: the realm admin made by realm/create signs in
// at /ws/{realm} (LIMP's admin had no hash and could not), and not at
// another realm or the global one.
func TestRealmAdminSignsIn(t *testing.T) {
	app := startRealms(t)
	if err := newRealm(t, app, "acme", "boss@acme.example"); err != nil {
		t.Fatal(err)
	}
	if err := newRealm(t, app, "beta", "other@beta.example"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	ctx := context.Background()
	for _, c := range []struct {
		realm string
		ok    bool
	}{{"acme", true}, {"beta", false}, {limp.GlobalRealm, false}} {
		cl, err := client.Dial(ctx, ws+"/"+c.realm, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.Auth(ctx, "email", "boss@acme.example", "pw")
		if (err == nil) != c.ok {
			t.Errorf("acme's admin signs in at %s: %v", c.realm, err)
		}
		if c.ok {
			if r, err := cl.Call(ctx, "user/read", nil, nil); err != nil || fmt.Sprint(r.Args["total"]) != "1" {
				t.Errorf("acme's admin reads users: %v %v", err, r)
			}
		}
		_ = cl.Close()
	}
}

// TestRealmDeleted: once a realm is deleted, its live connections are
// closed at their next call and new ones are refused.
func TestRealmDeleted(t *testing.T) {
	app := startRealms(t)
	if err := newRealm(t, app, "gone", "boss@gone.example"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/gone"
	ctx := context.Background()
	cl, err := client.Dial(ctx, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Auth(ctx, "email", "boss@gone.example", "pw"); err != nil {
		t.Fatal(err)
	}
	res, err := app.Invoke(ctx, app.SystemSession(), "realm/read", limp.NewQuery(limp.M{"name": "gone"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Args["docs"].([]any)[0].(limp.M)["_id"]
	if _, err := app.Invoke(ctx, app.SystemSession(), "realm/delete", limp.NewQuery(limp.M{"_id": id}), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Call(ctx, "note/read", nil, nil); client.CodeOf(err) != limp.CodeConnClosed {
		t.Errorf("call in a deleted realm: %v", err)
	}
	if c2, err := client.Dial(ctx, ws, nil); err == nil {
		_ = c2.Close()
		t.Error("dialled a deleted realm")
	}
	// The global realm cannot be deleted.
	if _, err := app.Invoke(ctx, app.SystemSession(), "realm/delete", limp.NewQuery(limp.M{"_id": limp.GlobalRealmID}), nil); err != nil {
		t.Fatal(err)
	}
	if n := count(t, app, limp.GlobalRealm, nil, "realm/read", limp.M{"name": limp.GlobalRealm}); n != 1 {
		t.Error("the global realm was deleted")
	}
}
