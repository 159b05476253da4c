package limp_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/limp-go/limp"
)

// TestWatchRefLimitPerCaller: past a bound of the re-check through a
// reference, a watch ends with 503 CORE_WATCH_REF_LIMIT only on what its
// caller may read (issue 14); otherwise its membership is read anew with
// its own filter and what changed is sent.
func TestWatchRefLimitPerCaller(t *testing.T) {
	t.Run("too many changed ids, hidden", func(t *testing.T) {
		t.Cleanup(limp.SetWatchRefBounds(5, 2))
		w := v14bApp(t, limp.Config{})
		adm := func(endpoint string, q, doc any) reply { return must(t, w.admin.call(endpoint, q, doc)) }
		for i := range 7 {
			v := docs(t, adm("bvault/create", nil, map[string]any{"name": fmt.Sprint("b", i), "owner": w.bobID}))[0]["_id"].(string)
			adm("bart/create", nil, map[string]any{"title": fmt.Sprint("d", i), "status": "published", "vault": v})
		}
		w.alice.send("bart/watch", []any{map[string]any{"vault.name": "x"}}, nil)
		must(t, w.alice.recv())
		aw := dial(t, w.s.WS)
		signIn(t, aw, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
		aw.send("bart/watch", []any{map[string]any{"vault.name": "y"}}, nil)
		must(t, aw.recv())
		// One update of bob's 7 vaults: more changed ids than the bound.
		adm("bvault/update", []any{map[string]any{"owner": w.bobID}}, map[string]any{"name": "x"})
		// ADMIN reads the vaults: its watch ends.
		if r := aw.recv(); r.Status != 503 || r.code() != limp.CodeWatchRefLimit {
			t.Fatalf("ADMIN's watch: %d %s %v, want 503 %s", r.Status, r.code(), r.Args, limp.CodeWatchRefLimit)
		}
		// Alice reads none of them: nothing reaches her, her watch goes on.
		quiet(t, w.alice, "alice after bob's vaults changed")
		own := docs(t, adm("bvault/create", nil, map[string]any{"name": "x", "owner": w.aliceID}))[0]["_id"].(string)
		art := docs(t, adm("bart/create", nil, map[string]any{"title": "a", "status": "published", "vault": own}))[0]["_id"].(string)
		if oper, d := evOf(t, w.alice); oper != "create" || d["_id"] != art {
			t.Fatalf("alice's watch after: %s %v", oper, d)
		}
	})
	t.Run("vault hidden, known members leave", func(t *testing.T) {
		t.Cleanup(limp.SetWatchRefBounds(5, 2))
		w := v14bApp(t, limp.Config{})
		adm := func(endpoint string, q, doc any) reply { return must(t, w.admin.call(endpoint, q, doc)) }
		v := docs(t, adm("bvault/create", nil, map[string]any{"name": "x", "owner": w.aliceID}))[0]["_id"].(string)
		var pub []string
		for i := range 2 {
			pub = append(pub, docs(t, adm("bart/create", nil, map[string]any{"title": fmt.Sprint("p", i), "status": "published", "vault": v}))[0]["_id"].(string))
		}
		for i := range 6 {
			adm("bart/create", nil, map[string]any{"title": fmt.Sprint("d", i), "status": "draft", "vault": v})
		}
		w.alice.send("bart/watch", []any{map[string]any{"vault.name": "x"}}, nil)
		must(t, w.alice.recv())
		// 8 arts reference the vault (past the bound); alice may no longer
		// read it, and only her 2 published arts were in her view: they
		// leave, the drafts she never read count for nothing.
		adm("bvault/update", []any{map[string]any{"_id": v}}, map[string]any{"owner": w.bobID})
		var got []string
		for range 2 {
			oper, d := evOf(t, w.alice)
			if oper != "delete" {
				t.Fatalf("alice: %s %v, want delete", oper, d)
			}
			got = append(got, d["_id"].(string))
		}
		slices.Sort(got)
		slices.Sort(pub)
		if !slices.Equal(got, pub) {
			t.Fatalf("deleted %v, want %v", got, pub)
		}
		quiet(t, w.alice, "alice after her arts left")
		// Back to alice: they enter again (she may read the vault: past
		// the bound, the limit applies).
		adm("bvault/update", []any{map[string]any{"_id": v}}, map[string]any{"owner": w.aliceID})
		// At most the first pages' arts arrive, then the error.
		for i := 0; ; i++ {
			r := w.alice.recv()
			if r.Status == 200 && r.Args["oper"] == "create" && i < 2 {
				continue
			}
			if r.Status != 503 || r.code() != limp.CodeWatchRefLimit {
				t.Fatalf("alice's readable vault past the bound: %d %s %v", r.Status, r.code(), r.Args)
			}
			break
		}
	})
}
