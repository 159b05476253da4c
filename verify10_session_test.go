package limp_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/limp-go/limp"
)

// Issue 10 item 1 variant: references to the core session and group
// modules: no token or digest through expansion, no join through them for
// a caller who may not read them.
type v10Audit struct {
	limp.Doc
	Sess  *limp.ID  `json:"sess" limp:"ref=session"`
	Sesss []limp.ID `json:"sesss" limp:"ref=session,default=[]"`
	Grp   *limp.ID  `json:"grp" limp:"ref=group"`
}

func TestVerify10SessionRef(t *testing.T) {
	m := limp.NewModule[v10Audit]("v10_audit", limp.Methods{
		"read":   {Permissions: limp.Perms("read")},
		"create": {Permissions: limp.Perms("admin")},
	})
	s := startApp(t, limp.Config{Name: "v10", QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1,
		AnonPrivileges: limp.Privileges{"v10_audit": {"read"}}}, m)
	admin := dial(t, s.WS)
	sess := signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	must(t, admin.call("v10_audit/create", nil, map[string]any{"sess": sess["_id"], "sesss": []any{sess["_id"]}, "grp": "f00000000000000000000013"}))
	for _, q := range []any{nil, []any{map[string]any{"sess.token_hash": map[string]any{"$regex": "^a"}}}, []any{map[string]any{"sess.user": "f00000000000000000000010"}}, []any{map[string]any{"grp.privileges": map[string]any{"$ne": nil}}}} {
		r := admin.call("v10_audit/read", q, nil)
		b, _ := json.Marshal(r.Args["docs"])
		if strings.Contains(string(b), "token") {
			t.Errorf("ADMIN %s carries a session token or digest: %s", mustJSON(q), b)
		}
		if strings.Contains(string(mustJSON(q)), "token_hash") && r.Status != 400 {
			t.Errorf("ADMIN %s: %d, want 400", mustJSON(q), r.Status)
		}
	}
	anon := dial(t, s.WS)
	for _, q := range []any{[]any{map[string]any{"sess.user": "f00000000000000000000010"}}, []any{map[string]any{"sess.user": "f000000000000000000000aa"}}, []any{map[string]any{"grp.name.en_AE": "DEFAULT"}}, []any{map[string]any{"grp.name.en_AE": "NOPE"}}} {
		r := anon.call("v10_audit/read", q, nil)
		if r.Status != 200 || r.Args["total"] != float64(0) {
			t.Errorf("ANON %s -> %d total %v, want 200 total 0 (the sessions and groups are unreadable)", mustJSON(q), r.Status, r.Args["total"])
		}
	}
}
