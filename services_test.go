package limp_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// SvcNote is the services test document.
type SvcNote struct {
	limp.OwnedDoc
	Title string `json:"title" limp:"unique"`
	Rank  int64  `json:"rank" limp:"default=0"`
}

func noteModule() *limp.Module {
	return limp.NewModule[SvcNote]("note", limp.Methods{
		"read":   {Permissions: limp.Perms("read")},
		"create": {Permissions: limp.Perms("create")},
		"update": {Permissions: limp.Perms("update"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
		"delete": {Permissions: limp.Perms("delete"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
	})
}

func noQuotas(cfg limp.Config) limp.Config {
	cfg.QuotaIPMin, cfg.QuotaAnonMin, cfg.QuotaAuthMin = -1, -1, -1
	return cfg
}

// newUser creates a user as admin (extra doc keys merged) and returns its _id.
func newUser(t *testing.T, admin *wsClient, email string, extra map[string]any) string {
	t.Helper()
	doc := map[string]any{"name": map[string]any{"en_AE": email}, "email": email, "email_hash": authHash(t, email, "pw")}
	for k, v := range extra {
		doc[k] = v
	}
	return docs(t, must(t, admin.call("user/create", nil, doc)))[0]["_id"].(string)
}

// TestUserGroupMethods: user/add_group, user/delete_group and
// user/read_privileges with LIMP's codes and messages (spec §6.21), all
// or nothing.
func TestUserGroupMethods(t *testing.T) {
	s := startApp(t, noQuotas(limp.Config{Name: "groups", DefaultPrivileges: limp.Privileges{"user": {"read"}}}), noteModule())
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	g1 := docs(t, must(t, admin.call("group/create", nil, map[string]any{"name": map[string]any{"en_AE": "G1"},
		"privileges": map[string]any{"note": []any{"read", "create"}}})))[0]["_id"].(string)
	g2 := docs(t, must(t, admin.call("group/create", nil, map[string]any{"name": map[string]any{"en_AE": "G2"}})))[0]["_id"].(string)
	b := newUser(t, admin, "b@example.com", nil)
	missing := limp.NewID().Hex()

	r := must(t, admin.call("user/add_group", []any{map[string]any{"_id": b}}, map[string]any{"group": g1}))
	if r.Msg != "Updated 1 docs." || r.Args["count"] != 1.0 {
		t.Fatalf("add_group: %+v", r)
	}
	cases := []struct {
		name, endpoint string
		query          []any
		doc            map[string]any
		code, msg      string
	}{
		{"already a member", "user/add_group", []any{map[string]any{"_id": b}}, map[string]any{"group": g1}, "CORE_USER_GROUP_ADDED", "User is already a member of the group."},
		{"list with a member: nothing added", "user/add_group", []any{map[string]any{"_id": b}}, map[string]any{"group": []any{g2, g1}}, "CORE_USER_GROUP_ADDED", "User is already a member of the group."},
		{"unknown group", "user/add_group", []any{map[string]any{"_id": b}}, map[string]any{"group": missing}, "CORE_USER_INVALID_GROUP", "Group is invalid."},
		{"unknown user", "user/add_group", []any{map[string]any{"_id": missing}}, map[string]any{"group": g2}, "CORE_USER_INVALID_USER", "User is invalid."},
		{"not a member", "user/delete_group", []any{map[string]any{"_id": b, "group": g2}}, nil, "CORE_USER_GROUP_NOT_ADDED", "User is not a member of the group."},
		{"delete unknown group", "user/delete_group", []any{map[string]any{"_id": b, "group": missing}}, nil, "CORE_USER_INVALID_GROUP", "Group is invalid."},
		{"read_privileges unknown user", "user/read_privileges", []any{map[string]any{"_id": missing}}, nil, "CORE_USER_INVALID_USER", "User is invalid."},
	}
	for _, tc := range cases {
		r := admin.call(tc.endpoint, tc.query, tc.doc)
		if r.Status != 400 || r.code() != tc.code || r.Msg != tc.msg {
			t.Errorf("%s: got %d %s %q, want 400 %s %q", tc.name, r.Status, r.code(), r.Msg, tc.code, tc.msg)
		}
	}
	priv := docs(t, must(t, admin.call("user/read_privileges", []any{map[string]any{"_id": b}}, nil)))[0]
	if gs := priv["groups"].([]any); len(gs) != 2 || !slices.Contains(gs, any(g1)) || slices.Contains(gs, any(g2)) {
		t.Fatalf("groups after the refused list = %v, want DEFAULT and %s", gs, g1)
	}
	if p := priv["privileges"].(map[string]any); len(p["note"].([]any)) != 2 || p["user"] == nil {
		t.Fatalf("read_privileges: privileges = %v, want note from G1 and user from DEFAULT", p)
	}
	if _, leak := priv["email_hash"]; leak {
		t.Fatal("read_privileges returned the hash")
	}

	// The user's live session sees the group's privileges by its next call.
	bc := dial(t, s.WS)
	signIn(t, bc, "b@example.com", "pw")
	must(t, bc.call("note/create", nil, map[string]any{"title": "by b"}))
	must(t, admin.call("user/delete_group", []any{map[string]any{"_id": b, "group": g1}}, nil))
	wantErr(t, bc.call("note/create", nil, map[string]any{"title": "by b again"}), 403, limp.CodeForbidden)

	// The same codes through the Go client.
	gc := s.Client(t, nil)
	if _, err := gc.Auth(t.Context(), "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := gc.Call(t.Context(), "user/delete_group", []any{map[string]any{"_id": b, "group": g2}}, nil); client.CodeOf(err) != "CORE_USER_GROUP_NOT_ADDED" {
		t.Fatalf("Go client delete_group: %v", err)
	}
	if res, err := gc.Call(t.Context(), "user/add_group", []any{map[string]any{"_id": b}}, map[string]any{"group": []any{g1, g2}}); err != nil || res.Msg != "Updated 1 docs." {
		t.Fatalf("Go client add_group of a list: %v %v", res, err)
	}
	must(t, admin.call("user/delete_group", []any{map[string]any{"_id": b, "group": g2}}, nil))

	// read_privileges: a user reads only their own.
	must(t, bc.call("user/read_privileges", []any{map[string]any{"_id": b}}, nil))
	wantErr(t, bc.call("user/read_privileges", []any{map[string]any{"_id": limp.AdminUserID.Hex()}}, nil), 400, "CORE_USER_INVALID_USER")
	wantErr(t, bc.call("user/add_group", []any{map[string]any{"_id": b}}, map[string]any{"group": g1}), 403, limp.CodeForbidden)
}

// TestSettings: the setting module's types and permissions, settings at
// user/create, user docs and live sessions carrying UserDocSettings, and
// the Go accessors (spec §6.17).
func TestSettings(t *testing.T) {
	whoami := limp.NewService("who", limp.Methods{"ami": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
		return limp.OK("You.", limp.M{"settings": c.Session.User["settings"]}), nil
	}}})
	s := startApp(t, noQuotas(limp.Config{Name: "settings", UserDocSettings: []string{"theme", "quota"},
		DefaultPrivileges: limp.Privileges{"user": {"read"}, "setting": {"create", "update"}}}), noteModule(), whoami)
	app, ctx := s.App, t.Context()
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)

	must(t, admin.call("setting/create", nil, map[string]any{"var": "site_name", "val": "Blog", "type": "global"}))
	wantErr(t, admin.call("setting/create", nil, map[string]any{"var": "site_name", "val": "Other", "type": "global"}), 400, "CORE_SETTING_DUPLICATE_DOC")
	if v, err := limp.SettingOf[string](ctx, app, "site_name"); err != nil || v != "Blog" {
		t.Fatalf("SettingOf = %q, %v", v, err)
	}
	if _, err := app.Setting(ctx, "nope"); !errors.Is(err, limp.ErrNoSetting) {
		t.Fatalf("missing setting: %v", err)
	}
	anon := dial(t, s.WS)
	r := must(t, anon.call("setting/read", []any{map[string]any{"var": "site_name", "type": "global"}}, nil))
	if d := docs(t, r); len(d) != 1 || d[0]["val"] != "Blog" || r.Msg != "Found 1 docs." {
		t.Fatalf("anon reads a global setting: %+v", r)
	}
	wantErr(t, anon.call("setting/read", []any{map[string]any{"type": "global"}}, nil), 400, "CORE_SETTING_INVALID_QUERY")

	// Settings at user/create: stored with the user, or neither is.
	wantErr(t, admin.call("user/create", nil, map[string]any{"name": map[string]any{"en_AE": "C"}, "email": "c@example.com",
		"email_hash": authHash(t, "c@example.com", "pw"), "settings": map[string]any{"theme": map[string]any{"type": "global", "val": 1}}}), 400, "CORE_USER_INVALID_ATTR")
	b := newUser(t, admin, "b@example.com", map[string]any{"settings": map[string]any{
		"theme": map[string]any{"type": "user", "val": "dark"}, "quota": map[string]any{"type": "user_sys", "val": 5}}})
	bid, _ := limp.ParseID(b)
	if v, err := limp.UserSettingOf[int](ctx, app, bid, "quota"); err != nil || v != 5 {
		t.Fatalf("UserSettingOf quota = %d, %v", v, err)
	}
	if d := docs(t, must(t, admin.call("user/read", []any{map[string]any{"email": "c@example.com"}}, nil))); len(d) != 0 {
		t.Fatalf("a refused user/create stored the user: %v", d)
	}
	u := docs(t, must(t, admin.call("user/read", []any{map[string]any{"_id": b}}, nil)))[0]
	if st := u["settings"].(map[string]any); st["theme"] != "dark" || st["quota"] != 5.0 {
		t.Fatalf("user doc settings = %v", st)
	}

	bc := dial(t, s.WS)
	sess := signIn(t, bc, "b@example.com", "pw")
	if st := sess["user"].(map[string]any)["settings"].(map[string]any); st["theme"] != "dark" {
		t.Fatalf("session user settings = %v", st)
	}
	// A user updates their own "user" setting; the live session follows.
	r = must(t, bc.call("setting/update", []any{map[string]any{"var": "theme", "user": b, "type": "user"}}, map[string]any{"val": "light"}))
	if r.Args["count"] != 1.0 {
		t.Fatalf("update own setting: %+v", r)
	}
	if st := must(t, bc.call("who/ami", nil, nil)).Args["settings"].(map[string]any); st["theme"] != "light" {
		t.Fatalf("live session settings after update = %v", st)
	}
	// user_sys is read-only for its user; other users' settings are invisible.
	r = must(t, bc.call("setting/update", []any{map[string]any{"var": "quota", "user": b, "type": "user_sys"}}, map[string]any{"val": 500}))
	if r.Args["count"] != 0.0 {
		t.Fatalf("user changed a user_sys setting: %+v", r)
	}
	if v, _ := app.UserSetting(ctx, bid, "quota"); v != int64(5) {
		t.Fatalf("quota = %v", v)
	}
	if d := docs(t, must(t, bc.call("setting/read", []any{map[string]any{"var": "quota", "user": b, "type": "user_sys"}}, nil))); len(d) != 1 {
		t.Fatalf("user cannot read their user_sys setting: %v", d)
	}
	if d := docs(t, must(t, anon.call("setting/read", []any{map[string]any{"var": "theme", "user": b, "type": "user"}}, nil))); len(d) != 0 {
		t.Fatalf("anon reads b's setting: %v", d)
	}
	// A non-admin create is forced to type user, owned by the caller.
	r = must(t, bc.call("setting/create", nil, map[string]any{"var": "lang", "val": "en", "type": "user"}))
	must(t, bc.call("setting/create", nil, map[string]any{"var": "x", "val": 1, "type": "global", "user": limp.AdminUserID.Hex()}))
	if v, err := app.UserSetting(ctx, bid, "x"); err != nil || v != int64(1) {
		t.Fatalf("non-admin global create: stored as b's user setting? %v %v", v, err)
	}
	if _, err := app.Setting(ctx, "x"); !errors.Is(err, limp.ErrNoSetting) {
		t.Fatalf("non-admin created a global setting: %v", err)
	}
	wantErr(t, bc.call("setting/delete", []any{map[string]any{"var": "lang"}}, nil), 403, limp.CodeForbidden)

	// Extension references in val, expanded with the reader's permissions.
	must(t, admin.call("setting/create", nil, map[string]any{"var": "featured", "type": "global",
		"val": map[string]any{"__extn": map[string]any{"module": "user", "attrs": []any{"name"}}, "__val": b}}))
	fq := []any{map[string]any{"var": "featured", "type": "global"}}
	if v := docs(t, must(t, admin.call("setting/read", fq, nil)))[0]["val"].(map[string]any); v["_id"] != b || v["name"] == nil || v["email"] != nil {
		t.Fatalf("admin reads the expanded reference: %v", v)
	}
	if v := docs(t, must(t, anon.call("setting/read", fq, nil)))[0]["val"]; v != nil {
		t.Fatalf("anon may not read users, yet got %v", v)
	}

	// SetSetting replaces a global value, and is audited.
	if err := app.SetSetting(ctx, "site_name", "Blog 2"); err != nil {
		t.Fatal(err)
	}
	if err := app.SetSetting(ctx, "page_size", 10); err != nil {
		t.Fatal(err)
	}
	if v, _ := limp.SettingOf[int](ctx, app, "page_size"); v != 10 {
		t.Fatalf("page_size = %d", v)
	}
	if v, _ := app.Setting(ctx, "site_name"); v != "Blog 2" {
		t.Fatalf("site_name = %v", v)
	}
}

// TestDiff: an update or delete of a module with Diff writes one diff
// per changed document with the previous and new values, in the write's
// transaction; {module}/history lists them for readers (spec §6.16).
func TestDiff(t *testing.T) {
	notes := noteModule()
	notes.Diff = true
	quiet := limp.NewModule[SvcNote]("quiet", limp.Methods{
		"read": {Permissions: limp.Perms("read")}, "create": {Permissions: limp.Perms("create")},
		"update": {Permissions: limp.Perms("update")},
	})
	quiet.Diff = limp.DiffFunc(func(ctx context.Context, c *limp.Call) bool { return c.Doc["rank"] == nil })
	s := startApp(t, noQuotas(limp.Config{Name: "diffs", AnonPrivileges: limp.Privileges{"note": {"read"}},
		DefaultPrivileges: limp.Privileges{"note": {"read", "create", "update"}, "quiet": {"*"}}}), notes, quiet)
	admin := dial(t, s.WS)
	adminSess := signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	id := docs(t, must(t, admin.call("note/create", nil, map[string]any{"title": "one", "rank": 1})))[0]["_id"].(string)
	must(t, admin.call("note/create", nil, map[string]any{"title": "two"}))
	byID := []any{map[string]any{"_id": id}}

	must(t, admin.call("note/update", byID, map[string]any{"title": "uno"}))
	must(t, admin.call("note/update", byID, map[string]any{"rank": map[string]any{"$add": 2}}))
	if r := must(t, admin.call("note/update", byID, map[string]any{"title": "uno"})); r.Args["count"] != 0.0 {
		t.Fatalf("no-op update: %+v", r)
	}
	wantErr(t, admin.call("note/update", byID, map[string]any{"title": "two"}), 400, "TEST_NOTE_DUPLICATE_DOC")

	hist := docs(t, must(t, admin.call("diff/read", []any{map[string]any{"module": "note", "doc": id}}, nil)))
	if len(hist) != 2 {
		t.Fatalf("diffs = %d (%v), want 2: a no-op and a refused update write none", len(hist), hist)
	}
	// Newest first.
	want := []struct{ vars, prev map[string]any }{
		{map[string]any{"rank": 3.0}, map[string]any{"rank": 1.0}},
		{map[string]any{"title": "uno"}, map[string]any{"title": "one"}},
	}
	for i, w := range want {
		d := hist[i]
		if !jsonEqual(d["vars"], w.vars) || !jsonEqual(d["prev"], w.prev) || d["oper"] != "update" ||
			d["user"] != adminSess["user"].(map[string]any)["_id"] || d["endpoint"] != "note/update" || d["module"] != "note" || d["create_time"] == nil {
			t.Fatalf("diff %d = %v, want vars %v prev %v", i, d, w.vars, w.prev)
		}
	}

	// history: for whoever may read the document; diff/read for admins.
	b := newUser(t, admin, "b@example.com", nil)
	_ = b
	bc := dial(t, s.WS)
	signIn(t, bc, "b@example.com", "pw")
	r := must(t, bc.call("note/history", byID, nil))
	if r.Args["count"] != 2.0 || r.Msg != "Found 2 docs." {
		t.Fatalf("note/history: %+v", r)
	}
	wantErr(t, bc.call("diff/read", nil, nil), 403, limp.CodeForbidden)
	if r := must(t, bc.call("note/history", []any{map[string]any{"_id": limp.NewID().Hex()}}, nil)); r.Msg != "Found 0 docs." || r.Args["count"] != 0.0 {
		t.Fatalf("note/history of a missing doc: %+v, want read's answer to a query matching nothing", r)
	}
	wantErr(t, bc.call("note/history", nil, nil), 400, "TEST_NOTE_INVALID_QUERY")

	must(t, admin.call("note/delete", byID, nil))
	hist = docs(t, must(t, admin.call("diff/read", []any{map[string]any{"module": "note", "doc": id}}, nil)))
	if len(hist) != 3 || hist[0]["oper"] != "delete" || hist[0]["prev"].(map[string]any)["title"] != "uno" {
		t.Fatalf("delete diff: %v", hist[0])
	}

	// A DiffFunc decides per call.
	qid := docs(t, must(t, bc.call("quiet/create", nil, map[string]any{"title": "q"})))[0]["_id"].(string)
	must(t, bc.call("quiet/update", []any{map[string]any{"_id": qid}}, map[string]any{"rank": 5}))
	must(t, bc.call("quiet/update", []any{map[string]any{"_id": qid}}, map[string]any{"title": "q2"}))
	if hist := docs(t, must(t, admin.call("diff/read", []any{map[string]any{"module": "quiet"}}, nil))); len(hist) != 1 || hist[0]["vars"].(map[string]any)["title"] != "q2" {
		t.Fatalf("DiffFunc: %v", hist)
	}
	// SkipDiff: internal calls may write no diff.
	qq := limp.NewQuery(limp.M{"_id": qid})
	if _, err := s.App.Invoke(t.Context(), s.App.SystemSession(), "quiet/update", qq, limp.M{"title": "q3"}, limp.SkipDiff); err != nil {
		t.Fatal(err)
	}
	if hist := docs(t, must(t, admin.call("diff/read", []any{map[string]any{"module": "quiet"}}, nil))); len(hist) != 1 {
		t.Fatalf("SkipDiff wrote a diff: %v", hist)
	}
}

// TestAnalytics: module analytics sets and built-in events are recorded
// off the call's path, upserted per (user, event, subevent), toggled by
// Config.AnalyticsEvents, and Shutdown waits for the queue (spec §6.15).
func TestAnalytics(t *testing.T) {
	data := filepath.Join(t.TempDir(), "a.db")
	notes := noteModule()
	notes.Analytics = []limp.Analytic{{
		Condition: func(ctx context.Context, c *limp.Call) bool { return c.Method.Name() == "read" },
		Doc: func(ctx context.Context, c *limp.Call) limp.AnalyticEvent {
			return limp.AnalyticEvent{Event: "NOTE_READ", Subevent: "list", Args: limp.M{"n": 1}, Score: 2}
		},
	}}
	cfg := noQuotas(limp.Config{Name: "analytics", Data: data, AnonPrivileges: limp.Privileges{"note": {"read", "create"}},
		AnalyticsEvents: map[string]bool{"session_conn_auth": false}})
	app := limp.New(limptest.Config(t, cfg))
	app.Register("test", notes)
	srv := newTestServer(app)
	if err := app.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv.ws)
	for range 3 {
		must(t, c.call("note/read", nil, nil))
	}
	must(t, c.call("note/create", nil, map[string]any{"title": "x"}))
	v := dial(t, srv.ws)
	must(t, v.call("conn/verify", nil, nil))
	sess := signIn(t, v, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	must(t, v.call("session/signout", []any{map[string]any{"_id": sess["_id"]}}, nil))
	signIn(t, c, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	for range 50 {
		app.RecordAnalytic(context.Background(), limp.AdminUserID, limp.AnalyticEvent{Event: "BULK", Subevent: 7})
	}
	if r := c.call("analytic/create", nil, map[string]any{"event": "X", "subevent": 1, "args": map[string]any{}}); r.Status != 403 {
		t.Fatalf("analytic/create from a client: %+v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	srv.close()

	// Reopen the store: every queued event was written before Shutdown returned.
	again := limp.New(limptest.Config(t, noQuotas(limp.Config{Name: "analytics", Data: data})))
	again.Register("test", noteModule())
	if err := again.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = again.Shutdown(context.Background()) })
	read := func(q limp.M) []any {
		t.Helper()
		r, err := again.Invoke(t.Context(), again.SystemSession(), "analytic/read", limp.NewQuery(q), nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Args["docs"].([]any)
	}
	d := read(limp.M{"event": "NOTE_READ"})
	if len(d) != 1 {
		t.Fatalf("NOTE_READ docs = %v, want one upserted doc", d)
	}
	doc := d[0].(map[string]any)
	if occ := doc["occurrences"].([]any); len(occ) != 3 || doc["score"] != int64(6) || doc["user"] != limp.AnonUserID || doc["subevent"] != "list" {
		t.Fatalf("NOTE_READ = %v", doc)
	}
	if occ := doc["occurrences"].([]any)[0].(map[string]any); occ["args"].(map[string]any)["n"] != int64(1) || occ["create_time"] == nil {
		t.Fatalf("occurrence = %v", occ)
	}
	if d := read(limp.M{"event": "BULK"}); len(d) != 1 || len(d[0].(map[string]any)["occurrences"].([]any)) != 50 {
		t.Fatalf("BULK = %v", d)
	}
	if d := read(limp.M{"event": "USER_AUTH"}); len(d) != 1 || d[0].(map[string]any)["subevent"] != limp.AdminUserID.Hex() {
		t.Fatalf("USER_AUTH = %v", d)
	}
	if d := read(limp.M{"event": "CONN_AUTH"}); len(d) != 0 {
		t.Fatalf("CONN_AUTH recorded though turned off: %v", d)
	}
	if d := read(limp.M{"event": "CONN_VERIFIED"}); len(d) != 1 || d[0].(map[string]any)["subevent"] != "__public" ||
		len(d[0].(map[string]any)["occurrences"].([]any)) != 1 {
		t.Fatalf("CONN_VERIFIED = %v, want one occurrence for the one conn/verify", d)
	}
	if d := read(limp.M{"event": "USER_AUTH"}); len(d[0].(map[string]any)["occurrences"].([]any)) != 2 {
		t.Fatalf("USER_AUTH occurrences = %v, want 2 (two sign-ins)", d)
	}
	for _, ev := range []string{"CONN_DEAUTH", "USER_DEAUTH"} {
		if d := read(limp.M{"event": ev}); len(d) != 1 || d[0].(map[string]any)["user"] != limp.AdminUserID {
			t.Fatalf("%s = %v, want one, by ADMIN", ev, d)
		}
	}
	if app.AnalyticsDropped() != 0 {
		t.Fatalf("dropped %d", app.AnalyticsDropped())
	}
}

// TestAnalyticsDeclarations: a bad declaration is reported at Start.
func TestAnalyticsDeclarations(t *testing.T) {
	notes := noteModule()
	notes.Analytics = []limp.Analytic{{}}
	notes.Diff = "yes"
	app := limp.New(limptest.Config(t, limp.Config{Name: "bad", AnalyticsEvents: map[string]bool{"nope": true}}))
	app.Register("test", notes)
	err := app.Start(t.Context())
	for _, want := range []string{"Analytics[0] has no Doc", "Diff must be a bool or a DiffFunc", `unknown event "nope"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Start error %v, want %q", err, want)
		}
	}
}

func jsonEqual(a, b any) bool { return string(mustJSON(a)) == string(mustJSON(b)) }
