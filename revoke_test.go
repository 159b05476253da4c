package limp_test

import (
	"context"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// revokeEnv is the world of a revocation test: ADMIN and user B, each
// signed in on a live connection.
type revokeEnv struct {
	t     *testing.T
	srv   *limptest.Server
	admin *wsClient
	b     *wsClient
	bID   string
	bSess map[string]any
}

// newRevokeEnv starts an app where ANON and the DEFAULT group read posts
// and only a group granting post.create may create them, and signs in
// ADMIN and B (b@example.com).
func newRevokeEnv(t *testing.T) *revokeEnv {
	t.Helper()
	s := testApp(t, limp.Config{
		AnonPrivileges:    limp.Privileges{"post": {"read"}},
		DefaultPrivileges: limp.Privileges{"post": {"read"}, "session": {"read", "delete"}},
	})
	e := &revokeEnv{t: t, srv: s, admin: dial(t, s.WS)}
	signIn(t, e.admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	r := must(t, e.admin.call("user/create", nil, map[string]any{"name": map[string]any{"en_AE": "B"}, "email": "b@example.com",
		"email_hash": authHash(t, "b@example.com", "pw")}))
	e.bID = docs(t, r)[0]["_id"].(string)
	e.b = dial(t, s.WS)
	e.bSess = signIn(t, e.b, "b@example.com", "pw")
	must(t, e.b.call("post/read", nil, nil))
	return e
}

// wantRevoked checks that c's next call is refused with code, that the
// reply switches the client to ANON, and that the connection then works
// as ANON (signed with the anon token) and no longer with the old key.
func wantRevoked(t *testing.T, c *wsClient, code string) {
	t.Helper()
	r := c.call("post/read", nil, nil)
	wantErr(t, r, 403, code)
	if s, _ := r.Args["session"].(map[string]any); s["_id"] != "f00000000000000000000012" {
		t.Fatalf("revocation reply carries session %v, want the ANON session", r.Args["session"])
	}
	wantErr(t, c.call("post/read", nil, nil), 403, limp.CodeInvalidToken)
	c.key = limp.DefaultAnonToken
	must(t, c.call("post/read", nil, nil))
}

func post(permalink string) map[string]any {
	return map[string]any{"title": map[string]any{"en_AE": permalink}, "permalink": permalink}
}

func TestRevokeOnLiveConnection(t *testing.T) {
	cases := []struct {
		name   string
		revoke func(e *revokeEnv)
		code   string
	}{
		{"banned", func(e *revokeEnv) {
			must(e.t, e.admin.call("user/update", []any{map[string]any{"_id": e.bID}}, map[string]any{"status": "banned"}))
		}, limp.CodeInvalidUser},
		{"password disabled", func(e *revokeEnv) {
			must(e.t, e.admin.call("user/update", []any{map[string]any{"_id": e.bID}}, map[string]any{"status": "disabled_password"}))
		}, limp.CodeInvalidUser},
		{"user deleted", func(e *revokeEnv) {
			must(e.t, e.admin.call("user/delete", []any{map[string]any{"_id": e.bID}}, nil))
		}, limp.CodeInvalidUser},
		{"user hard-deleted", func(e *revokeEnv) {
			must(e.t, e.admin.call("user/delete", []any{map[string]any{"_id": e.bID, "$soft": true}}, nil))
		}, limp.CodeInvalidUser},
		{"session deleted on another connection", func(e *revokeEnv) {
			other := dial(e.t, e.srv.WS)
			tok := e.bSess["token"].(string)
			must(e.t, other.call("session/reauth", []any{map[string]any{"_id": e.bSess["_id"], "token": tok}}, nil))
			other.key = tok
			r := must(e.t, other.call("session/delete", []any{map[string]any{"_id": e.bSess["_id"]}}, nil))
			if r.Args["count"] != float64(1) {
				e.t.Fatalf("session/delete = %+v", r)
			}
		}, limp.CodeInvalidSession},
		{"banned through the store by a query on email", func(e *revokeEnv) {
			// A write by another attr than _id (a custom method or a
			// job writing through the store).
			n, err := limp.StoreUpdateWhere(context.Background(), e.srv.App, "user", "email", "b@example.com", map[string]any{"status": "banned"})
			if err != nil || n != 1 {
				e.t.Fatalf("store update: %d, %v", n, err)
			}
		}, limp.CodeInvalidUser},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newRevokeEnv(t)
			tc.revoke(e)
			wantRevoked(t, e.b, tc.code)
			// Signing in again is refused too (the user is gone or not
			// active), except after a session deletion.
			r := dial(t, e.srv.WS).call("session/auth", nil, map[string]any{"email": "b@example.com", "hash": authHash(t, "b@example.com", "pw")})
			if tc.code == limp.CodeInvalidSession {
				must(t, r)
			} else if r.Status != 403 {
				t.Fatalf("sign-in after revocation: %+v", r)
			}
		})
	}
}

func TestRevokePrivilegesOnLiveConnection(t *testing.T) {
	e := newRevokeEnv(t)
	// B may not create posts yet.
	wantErr(t, e.b.call("post/create", nil, post("p0")), 403, limp.CodeForbidden)

	// A group granting post.create: B's next call has it, without reauth.
	r := must(t, e.admin.call("group/create", nil, map[string]any{"name": map[string]any{"en_AE": "writers"},
		"privileges": map[string]any{"post": []any{"create"}}}))
	gid := docs(t, r)[0]["_id"].(string)
	must(t, e.admin.call("user/add_group", []any{map[string]any{"_id": e.bID}}, map[string]any{"group": gid}))
	must(t, e.b.call("post/create", nil, post("p1")))

	// The group's privileges change: revoked by the next call.
	must(t, e.admin.call("group/update", []any{map[string]any{"_id": gid}}, map[string]any{"privileges": map[string]any{"post": []any{"read"}}}))
	wantErr(t, e.b.call("post/create", nil, post("p2")), 403, limp.CodeForbidden)
	must(t, e.admin.call("group/update", []any{map[string]any{"_id": gid}}, map[string]any{"privileges": map[string]any{"post": []any{"create"}}}))
	must(t, e.b.call("post/create", nil, post("p3")))

	// B leaves the group.
	must(t, e.admin.call("user/delete_group", []any{map[string]any{"_id": e.bID, "group": gid}}, nil))
	wantErr(t, e.b.call("post/create", nil, post("p4")), 403, limp.CodeForbidden)

	// B's own privileges.
	must(t, e.admin.call("user/update", []any{map[string]any{"_id": e.bID}}, map[string]any{"privileges": map[string]any{"post": []any{"create"}}}))
	must(t, e.b.call("post/create", nil, post("p5")))
	must(t, e.admin.call("user/update", []any{map[string]any{"_id": e.bID}}, map[string]any{"privileges": map[string]any{}}))
	wantErr(t, e.b.call("post/create", nil, post("p6")), 403, limp.CodeForbidden)

	// The group is deleted after B joins it again.
	must(t, e.admin.call("user/add_group", []any{map[string]any{"_id": e.bID}}, map[string]any{"group": gid}))
	must(t, e.b.call("post/create", nil, post("p7")))
	must(t, e.admin.call("group/delete", []any{map[string]any{"_id": gid}}, nil))
	wantErr(t, e.b.call("post/create", nil, post("p8")), 403, limp.CodeForbidden)

	// Through all of it, B stayed signed in.
	must(t, e.b.call("post/read", nil, nil))
}

// TestRevokeGoInvoke: a write made by Go code (App.Invoke from a job)
// reaches live connections too.
func TestRevokeGoInvoke(t *testing.T) {
	e := newRevokeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := &limp.Session{ID: limp.NewID(), UserID: limp.AdminUserID, Privileges: limp.Privileges{"*": {"*"}}, User: limp.M{"_id": limp.AdminUserID}}
	if _, err := e.srv.App.Invoke(ctx, s, "user/update", limp.NewQuery(limp.M{"_id": e.bID}), limp.M{"status": "banned"}); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, e.b, limp.CodeInvalidUser)
}
