package limp_test

import (
	"strconv"
	"testing"

	"github.com/limp-go/limp"
)

// BenchmarkRevocationCheck measures what the live-session revocation
// check (issue 10 item 3) costs a call: post/read by _id, one call at a
// time, signed in (checked: two atomic loads per call) against ANON (no
// check) in the same run; and signed in with a write to the user's group
// before every call, so that every call rebuilds its session (the cost
// paid once after a change).
func BenchmarkRevocationCheck(b *testing.B) {
	s := testApp(b, limp.Config{AnonPrivileges: limp.Privileges{"post": {"*"}},
		DefaultPrivileges: limp.Privileges{"post": {"*"}}})
	admin := dial(b, s.WS)
	signIn(b, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	var ids []string
	for i := range 100 {
		r := must(b, admin.call("post/create", nil, map[string]any{"title": map[string]any{"en_AE": "t"}, "permalink": "p" + strconv.Itoa(i)}))
		ids = append(ids, docs(b, r)[0]["_id"].(string))
	}
	must(b, admin.call("user/create", nil, map[string]any{"name": map[string]any{"en_AE": "B"}, "email": "b@example.com",
		"email_hash": authHash(b, "b@example.com", "pw")}))
	read := func(b *testing.B, c *wsClient, before func()) {
		b.ResetTimer()
		for i := range b.N {
			if before != nil {
				b.StopTimer()
				before()
				b.StartTimer()
			}
			if r := c.call("post/read", []any{map[string]any{"_id": ids[i%len(ids)]}}, nil); r.Status != 200 {
				b.Fatalf("read = %+v", r)
			}
		}
	}
	b.Run("anon-baseline", func(b *testing.B) { read(b, dial(b, s.WS), nil) })
	b.Run("signed-in", func(b *testing.B) {
		c := dial(b, s.WS)
		signIn(b, c, "b@example.com", "pw")
		read(b, c, nil)
	})
	b.Run("signed-in-after-each-group-write", func(b *testing.B) {
		c := dial(b, s.WS)
		signIn(b, c, "b@example.com", "pw")
		n := 0
		read(b, c, func() {
			n++
			must(b, admin.call("group/update", []any{map[string]any{"_id": limp.DefaultGroup.Hex()}},
				map[string]any{"desc": map[string]any{"en_AE": strconv.Itoa(n)}}))
		})
	})
}
