package limp_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/limp-go/limp"

	_ "modernc.org/sqlite"
)

// authHash is the client-side hash (level 5.6) as ng-limp computes it.
func authHash(t testing.TB, email, password string) string {
	t.Helper()
	h, err := limp.AuthHash("5.6", "email", email, password, limp.DefaultAnonToken)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAuthHashSpecExample(t *testing.T) {
	got := authHash(t, "ADMIN@LIMP.MASAAR.COM", "__ADMIN")
	want := "eyJoYXNoIjpbImVtYWlsIiwiQURNSU5ATElNUC5NQVNBQVIuQ09NIiwiX19BRE1JTiIsIl9fQU5PTl9UT0tFTl9mMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTIiXX0"
	if got != want {
		t.Fatalf("AuthHash = %s\nwant %s", got, want)
	}
	// Non-ASCII is escaped as Python's json.dumps does.
	got, _ = limp.AuthHash("5.0", "email", "é@x.com", "p", "")
	b, _ := base64.RawURLEncoding.DecodeString(got)
	if string(b) != `{"hash":["email","\u00e9@x.com","p"]}` {
		t.Fatalf("5.0 hash payload = %s", b)
	}
}

// signIn authenticates c as email/password and switches its key.
func signIn(t testing.TB, c *wsClient, email, password string) map[string]any {
	t.Helper()
	r := must(t, c.call("session/auth", nil, map[string]any{"email": email, "hash": authHash(t, email, password)}))
	if r.Msg != "You were successfully authed." {
		t.Fatalf("auth msg %q", r.Msg)
	}
	s := r.Args["session"].(map[string]any)
	c.key = s["token"].(string)
	return s
}

func TestAuthFlow(t *testing.T) {
	s := testApp(t, limp.Config{AnonPrivileges: limp.Privileges{"post": {"read"}, "user": {"create"}},
		DefaultPrivileges: limp.Privileges{"post": {"read", "create", "update", "delete"}, "user": {"read", "update"}}})
	c := dial(t, s.WS)

	// Admin signs in with LIMP's documented defaults.
	sess := signIn(t, c, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	if len(sess["token"].(string)) != 43 {
		t.Fatalf("token %q is not 32 random bytes in base64url", sess["token"])
	}
	user := sess["user"].(map[string]any)
	if user["_id"] != "f00000000000000000000010" {
		t.Fatalf("admin session user = %v", user)
	}
	if _, leaked := user["email_hash"]; leaked {
		t.Fatal("session carries the credential digest")
	}
	// The old anon key no longer signs calls on this connection.
	c2key := c.key
	c.key = limp.DefaultAnonToken
	wantErr(t, c.call("post/read", nil, nil), 403, limp.CodeInvalidToken)
	c.key = c2key
	must(t, c.call("post/create", nil, map[string]any{"title": map[string]any{"en_AE": "a"}, "permalink": "a"}))
	wantErr(t, c.call("session/auth", nil, map[string]any{"email": "x@y.z", "hash": "h"}), 400, limp.CodeAlreadyAuthed)

	// Sign-up as ANON: privileges, groups and status are forced.
	anon := dial(t, s.WS)
	r := must(t, anon.call("user/create", nil, map[string]any{
		"name": map[string]any{"en_AE": "Sam"}, "email": "sam@example.com", "email_hash": authHash(t, "sam@example.com", "pw1"),
		"privileges": map[string]any{"*": []any{"*"}}, "status": "active",
	}))
	samID := docs(t, r)[0]["_id"].(string)
	sam := dial(t, s.WS)
	ss := signIn(t, sam, "sam@example.com", "pw1")
	su := ss["user"].(map[string]any)
	if p := su["privileges"].(map[string]any); p["*"] != nil {
		t.Fatalf("sign-up escalated privileges: %v", p)
	}
	// DEFAULT group privileges apply.
	must(t, sam.call("post/create", nil, map[string]any{"title": map[string]any{"en_AE": "b"}, "permalink": "b"}))

	// Self-escalation through user/update is refused or ignored.
	sam.call("user/update", []any{map[string]any{"_id": samID}}, map[string]any{"privileges": map[string]any{"*": []any{"*"}}, "status": "active"})
	r = must(t, c.call("user/read", []any{map[string]any{"_id": samID}}, nil))
	if p := docs(t, r)[0]["privileges"].(map[string]any); len(p) != 0 {
		t.Fatalf("user/update changed own privileges: %v", p)
	}
	if _, leaked := docs(t, r)[0]["email_hash"]; leaked {
		t.Fatal("user/read returns the credential digest")
	}
	// Changing the password needs the current one.
	wantErr(t, sam.call("user/update", []any{map[string]any{"_id": samID}}, map[string]any{"email_hash": authHash(t, "sam@example.com", "pw2")}),
		403, "CORE_USER_CURRENT_HASH_REQUIRED")
	wantErr(t, sam.call("user/update", []any{map[string]any{"_id": samID}}, map[string]any{"email_hash": authHash(t, "sam@example.com", "pw2"), "current_hash": authHash(t, "sam@example.com", "bad")}),
		403, "CORE_USER_INVALID_CURRENT_HASH")
	must(t, sam.call("user/update", []any{map[string]any{"_id": samID}}, map[string]any{"email_hash": authHash(t, "sam@example.com", "pw2"), "current_hash": authHash(t, "sam@example.com", "pw1")}))

	// Reauth on a new connection, both forms.
	sid, token := ss["_id"].(string), ss["token"].(string)
	n := dial(t, s.WS)
	hash := base64.RawURLEncoding.EncodeToString(mustJSON(map[string]any{"token": token}))
	r = must(t, n.call("session/reauth", []any{map[string]any{"_id": sid, "hash": hash}}, nil))
	if r.Msg != "You were succefully reauthed." {
		t.Fatalf("reauth msg %q", r.Msg)
	}
	n.key = token
	must(t, n.call("post/read", nil, nil))
	n2 := dial(t, s.WS)
	must(t, n2.call("session/reauth", []any{map[string]any{"_id": sid, "token": token}}, nil))
	n2.key = token

	// Wrong reauth hash, unknown session, ANON reauth.
	wantErr(t, dial(t, s.WS).call("session/reauth", []any{map[string]any{"_id": sid, "token": "nope"}}, nil), 403, limp.CodeInvalidReauthHash)
	wantErr(t, dial(t, s.WS).call("session/reauth", []any{map[string]any{"_id": "f00000000000000000000099", "token": token}}, nil), 403, limp.CodeInvalidSession)
	wantErr(t, dial(t, s.WS).call("session/reauth", []any{map[string]any{"_id": "f00000000000000000000012", "token": "x"}}, nil), 400, limp.CodeAnonReauth)

	// Signout ends the session on every connection.
	wantErr(t, sam.call("session/signout", []any{map[string]any{"_id": samID}}, nil), 403, limp.CodeInvalidSession)
	r = must(t, sam.call("session/signout", []any{map[string]any{"_id": sid}}, nil))
	if r.Args["session"].(map[string]any)["_id"] != "f00000000000000000000012" {
		t.Fatalf("signout session = %v", r.Args["session"])
	}
	wantErr(t, n.call("post/read", nil, nil), 403, limp.CodeInvalidToken)
	wantErr(t, n2.call("post/read", nil, nil), 403, limp.CodeInvalidToken)
	wantErr(t, dial(t, s.WS).call("session/reauth", []any{map[string]any{"_id": sid, "token": token}}, nil), 403, limp.CodeInvalidSession)

	// The new password works, the old one does not.
	wantErr(t, dial(t, s.WS).call("session/auth", nil, map[string]any{"email": "sam@example.com", "hash": authHash(t, "sam@example.com", "pw1")}), 403, limp.CodeInvalidCreds)
	signIn(t, dial(t, s.WS), "sam@example.com", "pw2")
}

func TestAuthRejects(t *testing.T) {
	s := testApp(t, limp.Config{AnonPrivileges: limp.Privileges{"user": {"create"}}})
	c := dial(t, s.WS)
	wantErr(t, c.call("session/auth", nil, map[string]any{"email": limp.DefaultAdminEmail, "hash": authHash(t, limp.DefaultAdminEmail, "wrong")}), 403, limp.CodeInvalidCreds)
	wantErr(t, c.call("session/auth", nil, map[string]any{"email": "nobody@example.com", "hash": authHash(t, "nobody@example.com", "x")}), 403, limp.CodeInvalidCreds)
	wantErr(t, c.call("session/auth", nil, map[string]any{"email": "__anon@localhost.invalid", "hash": "__ANON"}), 403, limp.CodeInvalidCreds)
	wantErr(t, c.call("session/signout", []any{map[string]any{"_id": "f00000000000000000000012"}}, nil), 400, limp.CodeAnonSignout)

	// A banned user.
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	r := must(t, admin.call("user/create", nil, map[string]any{"name": map[string]any{"en_AE": "B"}, "email": "b@example.com",
		"email_hash": authHash(t, "b@example.com", "pw"), "status": "banned"}))
	_ = r
	r = c.call("session/auth", nil, map[string]any{"email": "b@example.com", "hash": authHash(t, "b@example.com", "pw")})
	wantErr(t, r, 403, limp.CodeInvalidUser)
	if r.Msg != "User is banned." {
		t.Fatalf("banned msg %q", r.Msg)
	}
}

func TestAuthThrottle(t *testing.T) {
	s := testApp(t, limp.Config{AuthFailuresAccount: 5, AuthFailuresIP: 1000})
	c := dial(t, s.WS)
	bad := map[string]any{"email": limp.DefaultAdminEmail, "hash": authHash(t, limp.DefaultAdminEmail, "wrong")}
	for range 5 {
		wantErr(t, c.call("session/auth", nil, bad), 403, limp.CodeInvalidCreds)
	}
	// Further attempts, even with the right password, are refused before
	// any hashing.
	wantErr(t, c.call("session/auth", nil, bad), 429, limp.CodeSessionAuthThrottle)
	wantErr(t, c.call("session/auth", nil, map[string]any{"email": limp.DefaultAdminEmail, "hash": authHash(t, limp.DefaultAdminEmail, limp.DefaultAdminPassword)}), 429, limp.CodeSessionAuthThrottle)
	// Other accounts are unaffected, and the server stays responsive.
	wantErr(t, c.call("session/auth", nil, map[string]any{"email": "other@example.com", "hash": "h"}), 403, limp.CodeInvalidCreds)
	must(t, c.call("heart/beat", nil, nil))
}

func TestAuthBurst(t *testing.T) {
	s := testApp(t, limp.Config{})
	var wg sync.WaitGroup
	const conns, per = 10, 100
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, s.WS)
			for i := range per {
				c.send("session/auth", nil, map[string]any{"email": limp.DefaultAdminEmail, "hash": "wrong" + string(rune('a'+i%26))})
			}
			for range per {
				r := c.recv()
				if r.Status != 403 && r.Status != 429 {
					t.Errorf("burst reply %+v", r)
				}
			}
		}()
	}
	wg.Wait()
	// Still responsive.
	must(t, dial(t, s.WS).call("heart/beat", nil, nil))
}

func TestQuotas(t *testing.T) {
	s := testApp(t, limp.Config{QuotaAnonMin: 3, QuotaIPMin: 1000})
	c := dial(t, s.WS)
	for range 3 {
		must(t, c.call("heart/beat", nil, nil))
	}
	wantErr(t, c.call("heart/beat", nil, nil), 429, limp.CodeSessionQuotaHit)
	// Another connection has its own quota.
	must(t, dial(t, s.WS).call("heart/beat", nil, nil))
}

func TestXAuth(t *testing.T) {
	s := testApp(t, limp.Config{})
	c := dial(t, s.WS)
	sess := signIn(t, c, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	do := func(bearer, token string) int {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", s.URL+"/ping/get/1", nil)
		if bearer != "" {
			req.Header.Set("X-Auth-Bearer", bearer)
		}
		if token != "" {
			req.Header.Set("X-Auth-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	uid := sess["user"].(map[string]any)["_id"].(string)
	if got := do(uid, sess["token"].(string)); got != 200 {
		t.Fatalf("valid X-Auth = %d", got)
	}
	if got := do(uid, "wrong"); got != 403 {
		t.Fatalf("wrong X-Auth token = %d, want 403", got)
	}
	if got := do(uid, ""); got != 400 {
		t.Fatalf("one X-Auth header = %d, want 400", got)
	}
}

// TestStolenDatabase: the database file holds no client hash and no
// session token, only their digests.
func TestStolenDatabase(t *testing.T) {
	path := t.TempDir() + "/app.db"
	s := testApp(t, limp.Config{Data: path})
	c := dial(t, s.WS)
	hash := authHash(t, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	sess := signIn(t, c, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	token := sess["token"].(string)
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT doc FROM "c_users" UNION ALL SELECT doc FROM "c_sessions"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			t.Fatal(err)
		}
		n++
		if strings.Contains(doc, token) || strings.Contains(doc, hash) {
			t.Fatalf("a stored doc holds a secret: %s", doc)
		}
	}
	if n < 3 {
		t.Fatalf("read %d docs from the file", n)
	}
}
