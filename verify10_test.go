package limp_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/limp-go/limp"
)

// Issue 10 verification (branch verify10): variants of item 1 through the
// wire that the attacker suite does not spell out: LIST-of-ID references,
// null/$ne/$nin/$all/range operators through a reference, update with a
// join filter, secret attrs through $extn/$attrs for ADMIN, and replies
// that must never carry digests.

type v10Post struct {
	limp.Doc
	Title   string    `json:"title"`
	Author  *limp.ID  `json:"author" limp:"ref=user"`
	Authors []limp.ID `json:"authors" limp:"ref=user,default=[]"`
}

func TestVerify10JoinVariants(t *testing.T) {
	mod := limp.NewModule[v10Post]("v10_post", limp.Methods{
		"read":   {Permissions: limp.Perms("read")},
		"create": {Permissions: limp.Perms("admin")},
		"update": {Permissions: limp.Perms("update")},
	})
	s := startApp(t, limp.Config{Name: "v10", QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1,
		AnonPrivileges: limp.Privileges{"v10_post": {"read", "update"}}}, mod)
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	adminID, dangling := limp.AdminUserID.Hex(), "f000000000000000000000ff"
	must(t, admin.call("v10_post/create", nil, map[string]any{"title": "admin", "author": adminID, "authors": []any{adminID}}))
	must(t, admin.call("v10_post/create", nil, map[string]any{"title": "dangling", "author": dangling, "authors": []any{dangling}}))
	must(t, admin.call("v10_post/create", nil, map[string]any{"title": "none"}))
	anon := dial(t, s.WS)
	re := func(rx string) map[string]any { return map[string]any{"$regex": rx} }
	for _, path := range []string{"author.email", "authors.email"} {
		for _, cond := range []any{re("^ADMIN@"), re("^NOPE"), nil, map[string]any{"$ne": nil},
			map[string]any{"$nin": []any{"ADMIN@LIMP.MASAAR.COM"}}, map[string]any{"$in": []any{nil, "ADMIN@LIMP.MASAAR.COM"}},
			map[string]any{"$all": []any{"ADMIN@LIMP.MASAAR.COM"}}, map[string]any{"$gt": ""}, map[string]any{"$bet": []any{"A", "B"}},
			"ADMIN@LIMP.MASAAR.COM"} {
			q := []any{map[string]any{path: cond}, map[string]any{"$attrs": []any{"title"}}}
			r := must(t, anon.call("v10_post/read", q, nil))
			var titles []string
			for _, d := range docs(t, r) {
				titles = append(titles, d["title"].(string))
			}
			// The unreadable author must behave exactly as the dangling one.
			if slices.Contains(titles, "admin") != slices.Contains(titles, "dangling") {
				t.Errorf("ANON read %s: %v: the unreadable reference answers unlike a missing one", mustJSON(q), titles)
			}
		}
	}
	// update with a join filter: the same count whatever the hidden value.
	for _, rx := range []string{"^ADMIN@", "^NOPE"} {
		r := must(t, anon.call("v10_post/update", []any{map[string]any{"author.email": re(rx)}}, map[string]any{"title": "x"}))
		if c := r.Args["count"]; c != float64(0) {
			t.Errorf("ANON update through author.email %s: count %v, want 0", rx, c)
		}
	}
	// Secrets: refused for ADMIN through every path, absent from replies.
	for _, q := range []any{
		[]any{map[string]any{"author.email_hash": re("^\\$")}},
		[]any{map[string]any{"authors.email_hash": re("^\\$")}},
		[]any{map[string]any{"$attrs": []any{"author.email_hash"}}},
		[]any{map[string]any{"$extn": []any{"email_hash"}}},
		[]any{map[string]any{"$sort": map[string]any{"author.email_hash": 1}}},
		[]any{map[string]any{"$group": []any{map[string]any{"by": "author.email_hash", "count": 1}}}},
	} {
		if r := admin.call("v10_post/read", q, nil); r.Status != 400 {
			t.Errorf("ADMIN read %s: %+v, want 400", mustJSON(q), r)
		}
	}
	for _, ep := range []string{"v10_post/read", "user/read", "session/read"} {
		r := must(t, admin.call(ep, nil, nil))
		b, _ := json.Marshal(r.Args)
		if strings.Contains(string(b), "_hash") || strings.Contains(string(b), `"token"`) {
			t.Errorf("ADMIN %s carries a digest or token: %s", ep, b)
		}
	}
}
