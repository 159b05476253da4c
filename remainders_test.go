package limp_test

import (
	"fmt"
	"testing"

	"github.com/limp-go/limp"
)

// TestHistoryUnreadable: {module}/history on a document the caller may
// not read answers exactly as on a missing one, and both as read answers
// a query matching nothing (200 "Found 0 docs."): no diff and no hint of
// the document's existence leaks.
func TestHistoryUnreadable(t *testing.T) {
	memos := limp.NewModule[SvcNote]("memo", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "read", QueryMod: limp.M{"user": "$__user"}}}},
		"create": {Permissions: limp.Perms("create")},
		"update": {Permissions: []limp.Perm{{Privilege: "update", QueryMod: limp.M{"user": "$__user"}}}, QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
	})
	memos.Diff = true
	s := startApp(t, noQuotas(limp.Config{Name: "history", DefaultPrivileges: limp.Privileges{"memo": {"read", "create", "update"}}}), memos)
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	newUser(t, admin, "a@example.com", nil)
	newUser(t, admin, "b@example.com", nil)
	a, b := dial(t, s.WS), dial(t, s.WS)
	signIn(t, a, "a@example.com", "pw")
	signIn(t, b, "b@example.com", "pw")
	id := docs(t, must(t, a.call("memo/create", nil, map[string]any{"title": "mine"})))[0]["_id"].(string)
	must(t, a.call("memo/update", []any{map[string]any{"_id": id}}, map[string]any{"title": "still mine"}))
	if r := must(t, a.call("memo/history", []any{map[string]any{"_id": id}}, nil)); r.Args["count"] != 1.0 {
		t.Fatalf("owner's memo/history: %+v", r)
	}
	shape := func(r reply) string {
		delete(r.Args, "call_id")
		return fmt.Sprintf("%d %q %v", r.Status, r.Msg, r.Args)
	}
	unreadable := shape(b.call("memo/history", []any{map[string]any{"_id": id}}, nil))
	missing := shape(b.call("memo/history", []any{map[string]any{"_id": limp.NewID().Hex()}}, nil))
	readMissing := shape(b.call("memo/read", []any{map[string]any{"_id": id}}, nil))
	if unreadable != missing {
		t.Errorf("history of an unreadable doc %s, of a missing one %s: they differ", unreadable, missing)
	}
	if want := `200 "Found 0 docs." map[count:0 docs:[] groups:map[] total:0]`; unreadable != want {
		t.Errorf("history of an unreadable doc = %s, want %s", unreadable, want)
	}
	if readMissing != `200 "Found 0 docs." map[count:0 docs:[] groups:map[] total:0]` {
		t.Errorf("read of an unreadable doc = %s (the answer history copies)", readMissing)
	}
}

// TestAnonUserReadOnly: user/update, user/add_group and user/delete_group
// on the ANON user are refused with 400 CORE_USER_ANON_UPDATE (ANON is
// defined by Config.AnonPrivileges) and change nothing; ADMIN is still
// updated as before.
func TestAnonUserReadOnly(t *testing.T) {
	s := startApp(t, noQuotas(limp.Config{Name: "anonro", AnonPrivileges: limp.Privileges{"note": {"read"}}}), noteModule())
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	anon := []any{map[string]any{"_id": limp.AnonUserID.Hex()}}
	before := docs(t, must(t, admin.call("user/read", anon, nil)))[0]
	wantErr(t, admin.call("user/update", anon, map[string]any{"privileges": map[string]any{"note": []any{"read", "create"}}}), 400, limp.CodeAnonUpdate)
	wantErr(t, admin.call("user/update", anon, map[string]any{"name": map[string]any{"en_AE": "x"}}), 400, limp.CodeAnonUpdate)
	wantErr(t, admin.call("user/add_group", anon, map[string]any{"group": limp.DefaultGroup.Hex()}), 400, limp.CodeAnonUpdate)
	wantErr(t, admin.call("user/delete_group", []any{map[string]any{"_id": limp.AnonUserID.Hex(), "group": limp.DefaultGroup.Hex()}}, nil), 400, limp.CodeAnonUpdate)
	if after := docs(t, must(t, admin.call("user/read", anon, nil)))[0]; fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("ANON changed by refused calls:\n%v\n%v", before, after)
	}
	// An anonymous connection still has exactly Config.AnonPrivileges.
	c := dial(t, s.WS)
	must(t, c.call("note/read", nil, nil))
	wantErr(t, c.call("note/create", nil, map[string]any{"title": "x"}), 403, limp.CodeForbidden)
	must(t, admin.call("user/update", []any{map[string]any{"_id": limp.AdminUserID.Hex()}}, map[string]any{"name": map[string]any{"en_AE": "Boss"}}))
}
