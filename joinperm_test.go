package limp_test

import (
	"strings"
	"testing"

	"github.com/limp-go/limp"
)

// Modules of the permission-through-references tests (issue 10 item 1).

// jpArticle is readable by ANON and references a user.
type jpArticle struct {
	limp.Doc
	Title  string   `json:"title"`
	Author *limp.ID `json:"author" limp:"ref=user"`
}

// jpVault is readable by ANON only below level 5.
type jpVault struct {
	limp.Doc
	Open  bool  `json:"open"`
	Level int64 `json:"level"`
}

// jpSecret is readable by admins, and by signed-in users when they own
// it; ANON may read a secret only when it sits in an open vault ANON can
// read (a query_mod through a reference).
type jpSecret struct {
	limp.Doc
	Owner *limp.ID `json:"owner"`
	Code  string   `json:"code"`
	N     int64    `json:"n" limp:"default=0"`
	Tags  []string `json:"tags" limp:"default=[]"`
	Vault *limp.ID `json:"vault" limp:"ref=jp_vault"`
}

// jpNote is readable by ANON and references secrets.
type jpNote struct {
	limp.Doc
	Text   string    `json:"text" limp:"search"`
	Rank   int64     `json:"rank" limp:"default=0"`
	Secret *limp.ID  `json:"secret" limp:"ref=jp_secret"`
	Refs   []limp.ID `json:"refs" limp:"ref=jp_secret,default=[]"`
}

func jpModules() []*limp.Module {
	article := limp.NewModule[jpArticle]("jp_article", limp.Methods{
		"read": {Permissions: limp.Perms("read")}, "create": {Permissions: limp.Perms("admin")},
	})
	vault := limp.NewModule[jpVault]("jp_vault", limp.Methods{
		"read": {Permissions: []limp.Perm{{Privilege: "admin"},
			{Privilege: "read", QueryMod: limp.M{"level": limp.M{"$lt": 5}}}}},
		"create": {Permissions: limp.Perms("admin")},
	})
	secret := limp.NewModule[jpSecret]("jp_secret", limp.Methods{
		"read": {Permissions: []limp.Perm{{Privilege: "admin"},
			{Privilege: "own", QueryMod: limp.M{"owner": limp.VarUser}},
			{Privilege: "vault", QueryMod: limp.M{"vault.open": true}}}},
		"create": {Permissions: limp.Perms("admin")},
		"delete": {Permissions: limp.Perms("admin")},
	})
	secret.Privileges = []string{"admin", "own", "vault", "read", "create", "update", "delete"}
	note := limp.NewModule[jpNote]("jp_note", limp.Methods{
		"read": {Permissions: limp.Perms("read")}, "create": {Permissions: limp.Perms("admin")},
	})
	return []*limp.Module{article, vault, secret, note}
}

func jpConfig(anon limp.Privileges) limp.Config {
	return limp.Config{Name: "jp", QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1,
		AnonPrivileges:    anon,
		DefaultPrivileges: limp.Privileges{"jp_note": {"read"}, "jp_secret": {"own"}, "jp_article": {"read"}, "user": {"read"}}}
}

func total(t testing.TB, r reply) float64 {
	t.Helper()
	n, ok := r.Args["total"].(float64)
	if !ok {
		t.Fatalf("reply has no total: %+v", r)
	}
	return n
}

func wantInvalidQuery(t testing.TB, r reply) {
	t.Helper()
	if r.Status != 400 || !strings.HasSuffix(r.code(), "_INVALID_QUERY") {
		t.Fatalf("got %d %s (%q), want 400 *_INVALID_QUERY", r.Status, r.code(), r.Msg)
	}
}

// TestJoinPathLeak is the reproduction: ANON may read articles but not
// users; a condition through the article's author must not tell ANON
// anything about the author (it matched ADMIN's email before).
func TestJoinPathLeak(t *testing.T) {
	s := startApp(t, jpConfig(limp.Privileges{"jp_article": {"read"}}), jpModules()...)
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	must(t, admin.call("jp_article/create", nil, map[string]any{"title": "a", "author": "f00000000000000000000010"}))

	anon := dial(t, s.WS)
	r := must(t, anon.call("jp_article/read", nil, nil))
	if d := docs(t, r)[0]; d["author"] != nil {
		t.Fatalf("ANON sees the author: %v", d["author"])
	}
	for _, q := range []map[string]any{
		{"author.email": map[string]any{"$regex": "^ADMIN@"}},
		{"author.email": map[string]any{"$regex": "^NOPE"}},
		{"author.email": limp.DefaultAdminEmail},
		{"author._id": "f00000000000000000000010"},
		{"author.status": map[string]any{"$in": []any{"active"}}},
	} {
		if n := total(t, must(t, anon.call("jp_article/read", []any{q}, nil))); n != 0 {
			t.Errorf("ANON %v: total %v, want 0 (the author is unreadable: as if missing)", q, n)
		}
	}
	for _, q := range []map[string]any{
		{"author.email": map[string]any{"$ne": limp.DefaultAdminEmail}},
		{"author.email": map[string]any{"$nin": []any{"x"}}},
		{"author.email": map[string]any{"$regex": "^ADMIN@"}, "$extn": false},
	} {
		want := 1.0
		if _, ok := q["$extn"]; ok {
			want = 0
		}
		if n := total(t, must(t, anon.call("jp_article/read", []any{q}, nil))); n != want {
			t.Errorf("ANON %v: total %v, want %v", q, n, want)
		}
	}
	// ADMIN may read users: the join works for ADMIN.
	if n := total(t, must(t, admin.call("jp_article/read", []any{map[string]any{"author.email": map[string]any{"$regex": "^ADMIN@"}}}, nil))); n != 1 {
		t.Fatalf("ADMIN: total %v, want 1", n)
	}

	// Credential digests are refused to everyone, through every path.
	for _, c := range []struct {
		who      *wsClient
		endpoint string
		q        any
	}{
		{anon, "jp_article/read", []any{map[string]any{"author.email_hash": map[string]any{"$regex": "^\\$argon2"}}}},
		{admin, "jp_article/read", []any{map[string]any{"author.email_hash": map[string]any{"$regex": "^\\$argon2"}}}},
		{admin, "jp_article/read", []any{map[string]any{"author.email_hash": nil}}},
		{admin, "jp_article/read", []any{[]any{map[string]any{"title": "a"}, map[string]any{"author.email_hash": map[string]any{"$ne": "x"}}}}},
		{admin, "user/read", []any{map[string]any{"email_hash": map[string]any{"$gt": ""}}}},
		{admin, "user/read", []any{map[string]any{"$sort": map[string]any{"email_hash": 1}}}},
		{admin, "user/read", []any{map[string]any{"$group": []any{map[string]any{"by": "email_hash", "count": 2}}}}},
		{admin, "user/read", []any{map[string]any{"$attrs": []any{"email", "email_hash"}}}},
		{admin, "user/read", map[string]any{"email_hash": map[string]any{"val": "x"}}},
		{admin, "session/read", []any{map[string]any{"token_hash": map[string]any{"$regex": "^a"}}}},
		{admin, "session/read", []any{map[string]any{"$sort": map[string]any{"token_hash": -1}}}},
	} {
		wantInvalidQuery(t, c.who.call(c.endpoint, c.q, nil))
	}
	// And never leave the server: not in a created doc ($soft returns it
	// whole), a read, an expansion or a session.
	r = must(t, admin.call("user/create", []any{map[string]any{"$soft": true}}, map[string]any{
		"name": map[string]any{"en_AE": "Kim"}, "email": "kim@example.com", "email_hash": authHash(t, "kim@example.com", "pw"),
	}))
	if d := docs(t, r)[0]; d["email"] != "kim@example.com" || d["email_hash"] != nil {
		t.Fatalf("user/create $soft returns %v", d)
	}
	if s := signIn(t, dial(t, s.WS), "kim@example.com", "pw"); s["token_hash"] != nil || s["user"].(map[string]any)["email_hash"] != nil {
		t.Fatalf("session carries a digest: %v", s)
	}
	for _, d := range docs(t, must(t, admin.call("user/read", nil, nil))) {
		if _, ok := d["email_hash"]; ok {
			t.Fatalf("user/read returns email_hash: %v", d)
		}
	}
	for _, d := range docs(t, must(t, admin.call("jp_article/read", nil, nil))) {
		if a, ok := d["author"].(map[string]any); !ok || a["email"] != limp.DefaultAdminEmail || a["email_hash"] != nil {
			t.Fatalf("ADMIN's expanded author = %v, want the user without email_hash", d["author"])
		}
	}
}

// TestJoinAdminOnlyModule: a module readable only by admins (and owners)
// tells other callers nothing through references, through every
// operator, and a query_mod with a reference of its own applies nested.
func TestJoinAdminOnlyModule(t *testing.T) {
	s := startApp(t, jpConfig(limp.Privileges{"jp_note": {"read"}, "jp_secret": {"vault"}, "jp_vault": {"read"}, "user": {"create"}}), jpModules()...)
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	mkUser(t, admin, "sam@example.com", "pw")
	sam := dial(t, s.WS)
	samID := signIn(t, sam, "sam@example.com", "pw")["user"].(map[string]any)["_id"]

	v := func(open bool, level int) any {
		return docs(t, must(t, admin.call("jp_vault/create", nil, map[string]any{"open": open, "level": level})))[0]["_id"]
	}
	lowOpen, highOpen, lowShut := v(true, 1), v(true, 9), v(false, 1)
	sec := func(code string, user, vault any) any {
		return docs(t, must(t, admin.call("jp_secret/create", nil, map[string]any{"code": code, "owner": user, "vault": vault})))[0]["_id"]
	}
	sLow := sec("low", "f00000000000000000000010", lowOpen)    // ANON reads it (open vault it may read)
	sHigh := sec("high", "f00000000000000000000010", highOpen) // vault unreadable to ANON
	sShut := sec("shut", "f00000000000000000000010", lowShut)  // vault shut
	sSam := sec("sam", samID, nil)                             // Sam owns it
	for _, id := range []any{sLow, sHigh, sShut, sSam} {
		must(t, admin.call("jp_note/create", nil, map[string]any{"text": "n", "secret": id}))
	}
	anon := dial(t, s.WS)
	count := func(c *wsClient, code string) float64 {
		return total(t, must(t, c.call("jp_note/read", []any{map[string]any{"secret.code": code}}, nil)))
	}
	for _, tc := range []struct {
		who  *wsClient
		code string
		want float64
	}{
		{admin, "low", 1}, {admin, "high", 1}, {admin, "shut", 1}, {admin, "sam", 1},
		{anon, "low", 1}, {anon, "high", 0}, {anon, "shut", 0}, {anon, "sam", 0},
		{sam, "low", 0}, {sam, "high", 0}, {sam, "shut", 0}, {sam, "sam", 1},
	} {
		if n := count(tc.who, tc.code); n != tc.want {
			t.Errorf("secret.code %q: total %v, want %v", tc.code, n, tc.want)
		}
	}
	// The expansion agrees with the join.
	for _, d := range docs(t, must(t, anon.call("jp_note/read", nil, nil))) {
		sec, _ := d["secret"].(map[string]any)
		if sec != nil && sec["code"] != "low" {
			t.Errorf("ANON expands secret %v", sec["code"])
		}
	}
}

// mkUser creates an active user as admin.
func mkUser(t testing.TB, admin *wsClient, email, password string) {
	t.Helper()
	must(t, admin.call("user/create", nil, map[string]any{
		"name": map[string]any{"en_AE": email}, "email": email, "email_hash": authHash(t, email, password),
	}))
}

type jpCycA struct {
	limp.Doc
	X string   `json:"x"`
	B *limp.ID `json:"b" limp:"ref=jp_cyc_b"`
}

type jpCycB struct {
	limp.Doc
	Y string   `json:"y"`
	A *limp.ID `json:"a" limp:"ref=jp_cyc_a"`
}

// TestJoinQueryModCycle: query_mods that join each other in a cycle are
// resolved in bounded depth (the cycle hides the documents it reaches
// again) and the call answers.
func TestJoinQueryModCycle(t *testing.T) {
	a := limp.NewModule[jpCycA]("jp_cyc_a", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "read", QueryMod: limp.M{"b.y": "open"}}}},
		"create": {Permissions: limp.Perms("admin")}, "update": {Permissions: limp.Perms("admin")},
	})
	b := limp.NewModule[jpCycB]("jp_cyc_b", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "read", QueryMod: limp.M{"a.x": "open"}}}},
		"create": {Permissions: limp.Perms("admin")},
	})
	s := startApp(t, jpConfig(limp.Privileges{"jp_cyc_a": {"read"}, "jp_cyc_b": {"read"}}), a, b)
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	aID := docs(t, must(t, admin.call("jp_cyc_a/create", nil, map[string]any{"x": "open"})))[0]["_id"]
	bID := docs(t, must(t, admin.call("jp_cyc_b/create", nil, map[string]any{"y": "open", "a": aID})))[0]["_id"]
	must(t, admin.call("jp_cyc_a/update", []any{map[string]any{"_id": aID}}, map[string]any{"b": bID}))
	anon := dial(t, s.WS)
	// ANON reads a through b's y; b's own query_mod joins a again: the
	// cycle hides it, so nothing passes, and the call still answers.
	if n := total(t, must(t, anon.call("jp_cyc_a/read", nil, nil))); n != 0 {
		t.Fatalf("jp_cyc_a/read total %v, want 0 (the cycle hides the referenced docs)", n)
	}
	if n := total(t, must(t, admin.call("jp_cyc_a/read", []any{map[string]any{"b.y": "open"}}, nil))); n != 1 {
		t.Fatalf("ADMIN total %v, want 1", n)
	}
}
