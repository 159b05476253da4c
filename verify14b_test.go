package limp_test

// Verification of issue 14 (live queries) by a second outside tester:
// a differential test of each watcher's view against what read returns to
// the same caller, through a reference to documents only their owner
// reads, while the referenced documents change (rename, owner transfer).

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
)

// BVault is read by its owner only (and ADMIN); ADMIN renames it or hands
// it to another user.
type BVault struct {
	limp.Doc
	Name  string  `json:"name"`
	Owner limp.ID `json:"owner"`
}

// BArt references a vault; anyone reads published arts.
type BArt struct {
	limp.OwnedDoc
	Title  string   `json:"title"`
	Status string   `json:"status" limp:"default=draft"`
	Vault  *limp.ID `json:"vault" limp:"ref=bvault"`
}

type v14bWorld struct {
	v14World
}

func v14bApp(t *testing.T, cfg limp.Config) *v14bWorld {
	t.Helper()
	artPerms := []limp.Perm{{Privilege: "admin"}, {Privilege: "*", QueryMod: limp.M{"status": "published"}}}
	arts := limp.NewModule[BArt]("bart", limp.Methods{
		"read":   {Permissions: artPerms},
		"watch":  {Permissions: artPerms, Watch: true},
		"create": {Permissions: limp.Perms("admin")},
		"update": {Permissions: limp.Perms("admin")},
		"delete": {Permissions: limp.Perms("admin")},
	})
	vaults := limp.NewModule[BVault]("bvault", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "read", QueryMod: limp.M{"owner": limp.VarUser}}}},
		"create": {Permissions: limp.Perms("admin")},
		"update": {Permissions: limp.Perms("admin")},
		"delete": {Permissions: limp.Perms("admin")},
	})
	cfg.Name = "test"
	cfg.AnonPrivileges = limp.Privileges{"bart": {"read"}}
	cfg.DefaultPrivileges = limp.Privileges{"bart": {"read"}, "bvault": {"read"}, "session": {"read", "delete"}}
	cfg.QuotaIPMin, cfg.QuotaAnonMin, cfg.QuotaAuthMin = -1, -1, -1
	s := startApp(t, cfg, arts, vaults)
	w := &v14bWorld{v14World{s: s, admin: dial(t, s.WS)}}
	signIn(t, w.admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	mk := func(name string) (*wsClient, string) {
		r := must(t, w.admin.call("user/create", nil, map[string]any{"name": map[string]any{"en_AE": name},
			"email": name + "@example.com", "email_hash": authHash(t, name+"@example.com", "pw")}))
		c := dial(t, s.WS)
		signIn(t, c, name+"@example.com", "pw")
		return c, docs(t, r)[0]["_id"].(string)
	}
	w.alice, w.aliceID = mk("alice")
	w.bob, w.bobID = mk("bob")
	return w
}

// bWatch is one watch of a watcher and the view its events build.
type bWatch struct {
	c     *wsClient
	who   string
	query []any
	id    string
	view  map[string]bool
}

// bCall sends a call on c and returns its reply, applying to ws the
// watch events that arrive before it.
func bCall(t *testing.T, c *wsClient, ws map[string]*bWatch, endpoint string, q, doc any) reply {
	t.Helper()
	id := c.send(endpoint, q, doc)
	for {
		r := c.recv()
		if r.Args["call_id"] == id {
			return r
		}
		wid, _ := r.Args["watch"].(string)
		bw := ws[wid]
		if bw == nil || r.Msg != "Detected 1 docs." {
			t.Fatalf("unexpected frame %d %q %v", r.Status, r.Msg, r.Args)
		}
		oper, _ := r.Args["oper"].(string)
		d := r.Args["docs"].([]any)[0].(map[string]any)
		did, _ := d["_id"].(string)
		switch oper {
		case "create":
			if bw.view[did] {
				t.Errorf("%s %v: create of %s already in view (%s)", bw.who, bw.query, did, v14bStep)
			}
			bw.view[did] = true
		case "update":
			if !bw.view[did] {
				t.Errorf("%s %v: update of %s not in view (should be create, or nothing) (%s)", bw.who, bw.query, did, v14bStep)
			}
			bw.view[did] = true
		case "delete":
			if !bw.view[did] {
				t.Errorf("%s %v: delete of %s never in view (an id it may not learn) (%s)", bw.who, bw.query, did, v14bStep)
			}
			delete(bw.view, did)
		}
	}
}

// v14bStep names the step a differential test is at, for its messages.
var v14bStep string

func setOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestVerify14bRefDifferential: watches through a reference to vaults
// only their owners read ("vault.name" with =, $ne, $in, $nin, $regex,
// "vault.owner"), by anon, alice and bob, while ADMIN renames vaults,
// hands them from one user to the other, moves arts between vaults and
// publishes or unpublishes them. After every step, each watch's view
// (create adds, delete removes) must equal read's result for the same
// caller and query, and no event may name a document outside the view
// (a delete of an id never shown, an update of one not shown).
func TestVerify14bRefDifferential(t *testing.T) {
	w := v14bApp(t, limp.Config{})
	anon := dial(t, w.s.WS)
	queries := [][]any{
		nil,
		{map[string]any{"vault.name": "s1"}},
		{map[string]any{"vault.name": map[string]any{"$ne": "s1"}}},
		{map[string]any{"vault.name": map[string]any{"$in": []any{"s1", "s2"}}}},
		{map[string]any{"vault.name": map[string]any{"$nin": []any{"s1"}}}},
		{map[string]any{"vault.name": map[string]any{"$regex": "^s[12]"}}},
		{map[string]any{"vault.owner": w.bobID}},
		{map[string]any{"vault.owner": map[string]any{"$ne": w.bobID}}},
	}
	users := []struct {
		who string
		c   *wsClient
	}{{"anon", anon}, {"alice", w.alice}, {"bob", w.bob}}
	byConn := map[*wsClient]map[string]*bWatch{}
	var all []*bWatch
	for _, u := range users {
		byConn[u.c] = map[string]*bWatch{}
		for _, q := range queries {
			bw := &bWatch{c: u.c, who: u.who, query: q, view: map[string]bool{}}
			qq := q
			if qq == nil {
				qq = []any{}
			}
			bw.id = u.c.send("bart/watch", qq, nil)
			r := must(t, u.c.recv())
			if r.Msg != "Created watch task." {
				t.Fatalf("watch: %q %v", r.Msg, r.Args)
			}
			byConn[u.c][bw.id] = bw
			all = append(all, bw)
		}
	}
	adm := func(endpoint string, q, doc any) reply { return must(t, w.admin.call(endpoint, q, doc)) }
	owners := []string{w.aliceID, w.bobID}
	names := []string{"s1", "s2", "s3"}
	var vaults []string
	for i := range 3 {
		vaults = append(vaults, docs(t, adm("bvault/create", nil, map[string]any{"name": names[i], "owner": owners[i%2]}))[0]["_id"].(string))
	}
	// The vaults' owners must be as set (ADMIN creates them for users).
	for i, v := range vaults {
		d := docs(t, adm("bvault/read", []any{map[string]any{"_id": v}}, nil))[0]
		if d["owner"] != owners[i%2] {
			t.Fatalf("vault %d owner %v, want %v", i, d["user"], owners[i%2])
		}
	}
	var arts []string
	rng := rand.New(rand.NewPCG(14, 2))
	check := func(step string) {
		t.Helper()
		v14bStep = step
		deadline := time.Now().Add(4 * time.Second)
		for {
			var diffs []string
			for _, bw := range all {
				q := bw.query
				if q == nil {
					q = []any{}
				}
				r := must(t, bCall(t, bw.c, byConn[bw.c], "bart/read", q, nil))
				var ids []string
				for _, d := range docs(t, r) {
					ids = append(ids, d["_id"].(string))
				}
				sort.Strings(ids)
				if got := setOf(bw.view); !slices.Equal(got, ids) {
					diffs = append(diffs, fmt.Sprintf("%s %v: view %v, read %v", bw.who, bw.query, got, ids))
				}
			}
			if len(diffs) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s:\n%s", step, strings.Join(diffs, "\n"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for i := range 4 {
		arts = append(arts, docs(t, adm("bart/create", nil, map[string]any{"title": fmt.Sprint("a", i), "status": "published", "vault": vaults[i%3]}))[0]["_id"].(string))
	}
	check("creates")
	for step := range 40 {
		var what string
		switch rng.IntN(4) {
		case 0:
			v, n := rng.IntN(3), names[rng.IntN(3)]
			what = fmt.Sprintf("rename vault %d to %s", v, n)
			adm("bvault/update", []any{map[string]any{"_id": vaults[v]}}, map[string]any{"name": n})
		case 1:
			v, o := rng.IntN(3), rng.IntN(2)
			what = fmt.Sprintf("hand vault %d to %d", v, o)
			adm("bvault/update", []any{map[string]any{"_id": vaults[v]}}, map[string]any{"owner": owners[o]})
		case 2:
			a, v := rng.IntN(len(arts)), rng.IntN(3)
			what = fmt.Sprintf("art %d to vault %d", a, v)
			adm("bart/update", []any{map[string]any{"_id": arts[a]}}, map[string]any{"vault": vaults[v]})
		case 3:
			a := rng.IntN(len(arts))
			st := []string{"published", "draft"}[rng.IntN(2)]
			what = fmt.Sprintf("art %d %s", a, st)
			adm("bart/update", []any{map[string]any{"_id": arts[a]}}, map[string]any{"status": st})
		}
		check(fmt.Sprintf("step %d: %s", step, what))
	}
}

// TestVerify14bRefLimitOracle: alice watches published arts through the
// vault reference. Bob's vault, which alice may not read, is referenced
// by more drafts (which alice may not read either) than WatchRefLimit.
// When ADMIN renames bob's vault, alice must get nothing: her view did
// not change and the change is to a document she may not read. Ending
// her watch with 503 CORE_WATCH_REF_LIMIT at that moment tells her that
// some hidden document, referenced by many hidden ones, just changed (a
// timing oracle on documents she may not read; the pages counted against
// the limit are not filtered by the watcher's permissions).
func TestVerify14bRefLimitOracle(t *testing.T) {
	t.Cleanup(limp.SetWatchRefBounds(5, 2))
	w := v14bApp(t, limp.Config{})
	adm := func(endpoint string, q, doc any) reply { return must(t, w.admin.call(endpoint, q, doc)) }
	bobs := docs(t, adm("bvault/create", nil, map[string]any{"name": "b1", "owner": w.bobID}))[0]["_id"].(string)
	for i := range 6 {
		adm("bart/create", nil, map[string]any{"title": fmt.Sprint("d", i), "status": "draft", "vault": bobs})
	}
	alice := w.alice
	id := alice.send("bart/watch", []any{map[string]any{"vault.name": "x"}}, nil)
	must(t, alice.recv())
	adm("bvault/update", []any{map[string]any{"_id": bobs}}, map[string]any{"name": "b2"})
	time.Sleep(300 * time.Millisecond)
	alice.send("heart/beat", nil, nil)
	if r := alice.recv(); r.code() != "CORE_HEARTBEAT_OK" {
		t.Fatalf("a change to bob's vault (hidden, referenced by hidden drafts) reached alice's watch %s: %d %s %q", id, r.Status, r.code(), r.Msg)
	}
}

// TestVerify14bSameCallIDs: call ids are the client's; two connections
// that both watch under call_id "c1" each keep their own watch, and one's
// watch/delete "c1" touches only its own. Another connection cannot end
// a watch by naming its id.
func TestVerify14bSameCallIDs(t *testing.T) {
	s := watchApp(t)
	a, b, m := dial(t, s.WS), dial(t, s.WS), dial(t, s.WS)
	ida := a.send("note/watch", nil, nil)
	must(t, a.recv())
	idb := b.send("note/watch", nil, nil)
	must(t, b.recv())
	if ida != idb {
		t.Fatalf("ids %s %s", ida, idb)
	}
	wantErr(t, m.call("watch/delete", []any{map[string]any{"watch": ida}}, nil), 400, limp.CodeInvalidWatch)
	// m's own watch under a's id: still a's events reach a.
	writer := dial(t, s.WS)
	must(t, writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "a"}, "permalink": "a", "status": "published"}))
	for _, c := range []*wsClient{a, b} {
		if ev := must(t, c.recv()); ev.Args["oper"] != "create" || ev.Args["seq"] != float64(1) {
			t.Fatalf("event: %v", ev.Args)
		}
	}
	r := must(t, a.call("watch/delete", []any{map[string]any{"watch": ida}}, nil))
	if fmt.Sprint(r.Args["watch"]) != fmt.Sprint([]any{ida}) {
		t.Fatalf("delete: %v", r.Args)
	}
	must(t, writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "b"}, "permalink": "b", "status": "published"}))
	if ev := must(t, b.recv()); ev.Args["oper"] != "create" || ev.Args["seq"] != float64(2) {
		t.Fatalf("b after a's delete: %v", ev.Args)
	}
	quiet(t, a, "a after its watch/delete")
	// A watch re-using a live watch's call_id on the same connection.
	b.send("note/watch", nil, nil) // c2
	must(t, b.recv())
	b.n.Store(1) // the next call is c2 again
	r = b.call("note/watch", nil, nil)
	t.Logf("a second watch under a live watch's call_id: %d %s %q", r.Status, r.code(), r.Msg)
}

// TestVerify14bTwoNodesEnterLeave: two Apps on one MongoDB; an anonymous
// watcher on node A sees the writes made through node B with its own
// permissions: a draft never, its publication as create, an update, its
// unpublication as delete, a delete of a document it never saw nothing.
func TestVerify14bTwoNodesEnterLeave(t *testing.T) {
	uri := mongotest.URI(t)
	a, b := nodeWatchApp(t, uri), nodeWatchApp(t, uri)
	w := dial(t, a.WS)
	wid := w.send("note/watch", []any{map[string]any{"$attrs": []any{"permalink", "status"}}}, nil)
	must(t, w.recv())
	wb := dial(t, b.WS)
	note := func(p, st string) map[string]any {
		return map[string]any{"title": map[string]any{"en_AE": p}, "permalink": p, "status": st}
	}
	ev := func(oper, id string, seq int) {
		t.Helper()
		r := must(t, w.recv())
		d := r.Args["docs"].([]any)[0].(map[string]any)
		if r.Args["watch"] != wid || r.Args["oper"] != oper || d["_id"] != id || r.Args["seq"] != float64(seq) {
			t.Fatalf("event %v, want %s of %s seq %d", r.Args, oper, id, seq)
		}
		if oper == "delete" && len(d) != 1 {
			t.Fatalf("delete doc %v, want {_id}", d)
		}
	}
	d1 := docs(t, must(t, wb.call("note/create", nil, note("d1", "draft"))))[0]["_id"].(string)
	d2 := docs(t, must(t, wb.call("note/create", nil, note("d2", "draft"))))[0]["_id"].(string)
	must(t, wb.call("note/update", []any{map[string]any{"_id": d2}}, map[string]any{"rank": 5}))
	must(t, wb.call("note/delete", []any{map[string]any{"_id": d2}}, nil))
	must(t, wb.call("note/update", []any{map[string]any{"_id": d1}}, map[string]any{"status": "published"}))
	ev("create", d1, 1)
	must(t, wb.call("note/update", []any{map[string]any{"_id": d1}}, map[string]any{"rank": 2}))
	ev("update", d1, 2)
	must(t, wb.call("note/update", []any{map[string]any{"_id": d1}}, map[string]any{"status": "draft"}))
	ev("delete", d1, 3)
	must(t, wb.call("note/update", []any{map[string]any{"_id": d1}}, map[string]any{"rank": 9}))
	must(t, wb.call("note/delete", []any{map[string]any{"_id": d1}}, nil))
	time.Sleep(500 * time.Millisecond)
	quiet(t, w, "after writes to a document out of the view")
	_ = context.Background
}

// TestVerify14bSignoutThroughRef: bob watches arts through his vault's
// name; he sees his art. He signs out on the same connection, then alice
// signs in on it. Neither the anonymous session nor alice may read bob's
// vault: a new published art in bob's vault, a rename of the vault away
// and back, must send nothing (no create, no delete of the art bob saw).
// (README: the new session's query_mod is added to the old one's, so the
// watch may show less than read, never more.)
func TestVerify14bSignoutThroughRef(t *testing.T) {
	w := v14bApp(t, limp.Config{})
	adm := func(endpoint string, q, doc any) reply { return must(t, w.admin.call(endpoint, q, doc)) }
	v := docs(t, adm("bvault/create", nil, map[string]any{"name": "s1", "owner": w.bobID}))[0]["_id"].(string)
	c := dial(t, w.s.WS)
	sess := signIn(t, c, "bob@example.com", "pw")
	q := []any{map[string]any{"vault.name": "s1"}}
	wid := c.send("bart/watch", q, nil)
	must(t, c.recv())
	a1 := docs(t, adm("bart/create", nil, map[string]any{"title": "a1", "status": "published", "vault": v}))[0]["_id"].(string)
	if oper, d := evOf(t, c); oper != "create" || d["_id"] != a1 {
		t.Fatalf("bob's event: %s %v", oper, d)
	}
	must(t, c.call("session/signout", []any{map[string]any{"_id": sess["_id"]}}, nil))
	c.key = limp.DefaultAnonToken
	a2 := docs(t, adm("bart/create", nil, map[string]any{"title": "a2", "status": "published", "vault": v}))[0]["_id"].(string)
	adm("bvault/update", []any{map[string]any{"_id": v}}, map[string]any{"name": "s2"})
	adm("bvault/update", []any{map[string]any{"_id": v}}, map[string]any{"name": "s1"})
	time.Sleep(300 * time.Millisecond)
	quiet(t, c, "anonymous, after changes to bob's vault")
	if n := docs(t, must(t, c.call("bart/read", q, nil))); len(n) != 0 {
		t.Fatalf("anonymous read through bob's vault: %v", n)
	}
	signIn(t, c, "alice@example.com", "pw")
	adm("bart/create", nil, map[string]any{"title": "a3", "status": "published", "vault": v})
	adm("bvault/update", []any{map[string]any{"_id": v}}, map[string]any{"name": "s2"})
	adm("bvault/update", []any{map[string]any{"_id": v}}, map[string]any{"name": "s1"})
	time.Sleep(300 * time.Millisecond)
	quiet(t, c, "alice, after changes to bob's vault")
	_ = a2
	_ = wid
}

// TestVerify14bSocketStall: a watcher that stops reading its socket (TCP
// backpressure, not a slow hook) holds no write: 600 creates of 16 KiB
// go through, none slower than 2 s; when the stalled client reads again
// it finds at most its first events, then 503 CORE_WATCH_OVERFLOW (or
// its connection closed), and never a gap inside what it got.
func TestVerify14bSocketStall(t *testing.T) {
	s := watchApp(t)
	lazy := dial(t, s.WS)
	lid := lazy.send("note/watch", nil, nil)
	must(t, lazy.recv())
	writer := dial(t, s.WS)
	big := strings.Repeat("x", 16<<10)
	var worst time.Duration
	const n = 600
	start := time.Now()
	for i := range n {
		t0 := time.Now()
		must(t, writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": big}, "permalink": fmt.Sprint("p", i), "status": "published"}))
		worst = max(worst, time.Since(t0))
	}
	t.Logf("%d creates in %v, slowest %v", n, time.Since(start), worst)
	if worst > 2*time.Second {
		t.Errorf("a write waited %v on a stalled watcher", worst)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seq := 0
	for {
		_, data, err := lazy.ws.Read(ctx)
		if err != nil {
			t.Logf("stalled watcher: connection ended after seq %d: %v", seq, err)
			return
		}
		var r reply
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Args["call_id"] != lid {
			t.Fatalf("unexpected %v", r)
		}
		if r.Status != 200 {
			wantErr(t, r, 503, "CORE_WATCH_OVERFLOW")
			t.Logf("stalled watcher: overflow after seq %d", seq)
			break
		}
		seq++
		if r.Args["seq"] != float64(seq) {
			t.Fatalf("gap: seq %v, want %d", r.Args["seq"], seq)
		}
	}
	quiet(t, lazy, "after the overflow")
}

// TestVerify14bResumeThroughRef: bob's watch through his vaults' name is
// retained while his connection is gone; meanwhile ADMIN renames vault v
// away (a1 leaves), adds a2 to it and a3 to bob's second vault v2 (a3
// enters), renames v back (a1 and a2 enter) and hands v2 to alice (a3
// leaves). Bob reconnects, reauths and resumes from his last seq: seq
// continues with no gap, no event repeats his view, and it settles as his
// read ({a1, a2}). Which intermediate events come depends on when each
// write is matched (it failed under -race in CI when it asked for one
// exact sequence).
func TestVerify14bResumeThroughRef(t *testing.T) {
	w := v14bApp(t, limp.Config{})
	adm := func(endpoint string, q, doc any) reply { return must(t, w.admin.call(endpoint, q, doc)) }
	v := docs(t, adm("bvault/create", nil, map[string]any{"name": "s1", "owner": w.bobID}))[0]["_id"].(string)
	v2 := docs(t, adm("bvault/create", nil, map[string]any{"name": "s1", "owner": w.bobID}))[0]["_id"].(string)
	c := dial(t, w.s.WS)
	sess := signIn(t, c, "bob@example.com", "pw")
	q := []any{map[string]any{"vault.name": "s1", "$attrs": []any{"title"}}}
	c.send("bart/watch", q, nil)
	tok := must(t, c.recv()).Args["resume"].(string)
	a1 := docs(t, adm("bart/create", nil, map[string]any{"title": "a1", "status": "published", "vault": v}))[0]["_id"].(string)
	if oper, d := evOf(t, c); oper != "create" || d["_id"] != a1 {
		t.Fatalf("first event %s %v", oper, d)
	}
	_ = c.ws.CloseNow()
	time.Sleep(100 * time.Millisecond)
	adm("bvault/update", []any{map[string]any{"_id": v}}, map[string]any{"name": "s2"})
	a2 := docs(t, adm("bart/create", nil, map[string]any{"title": "a2", "status": "published", "vault": v}))[0]["_id"].(string)
	a3 := docs(t, adm("bart/create", nil, map[string]any{"title": "a3", "status": "published", "vault": v2}))[0]["_id"].(string)
	adm("bvault/update", []any{map[string]any{"_id": v}}, map[string]any{"name": "s1"})
	time.Sleep(300 * time.Millisecond)
	adm("bvault/update", []any{map[string]any{"_id": v2}}, map[string]any{"owner": w.aliceID})
	time.Sleep(300 * time.Millisecond)

	n := dial(t, w.s.WS)
	must(t, n.call("session/reauth", []any{map[string]any{"_id": sess["_id"], "token": sess["token"]}}, nil))
	n.key = sess["token"].(string)
	rid := n.send("bart/watch", []any{map[string]any{"vault.name": "s1", "$attrs": []any{"title"}}, resumeStep(tok, 1)}, nil)
	r := must(t, n.recv())
	if r.Args["resumed"] != true {
		t.Fatalf("not resumed: %v", r.Args)
	}
	// The events of the retained watch are matched when the feed delivers
	// each write, against the referenced vaults as they are then (a2's or
	// a3's own create may be matched after a later rename or hand-over):
	// which intermediate events come depends on timing, under -race
	// especially. What resume guarantees: seq continues with no gap, no
	// event repeats the view (a create of a doc in it, a delete of one not
	// in it), and the view ends as bob's read: {a1, a2}.
	view := map[string]bool{a1: true}
	want := map[string]bool{a1: true, a2: true}
	seq := 1.0
	apply := func(e reply) {
		seq++
		if e.Args["call_id"] != rid || e.Args["seq"] != seq {
			t.Fatalf("resumed event %v: %v", seq, e.Args)
		}
		id := e.Args["docs"].([]any)[0].(map[string]any)["_id"].(string)
		switch oper := e.Args["oper"]; {
		case oper == "create" && !view[id]:
			view[id] = true
		case oper == "delete" && view[id]:
			delete(view, id)
		default:
			t.Fatalf("resumed event %v: %s %s with view %v", seq, oper, id, view)
		}
	}
	// Settled: a round of 300 ms with no event, the view as bob's read.
	for deadline := time.Now().Add(15 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatalf("resumed view %v, want %v", view, want)
		}
		time.Sleep(300 * time.Millisecond)
		hb := n.send("heart/beat", nil, nil)
		settled := true
		for r := must(t, n.recv()); r.Args["call_id"] != hb; r = must(t, n.recv()) {
			apply(r)
			settled = false
		}
		if settled && maps.Equal(view, want) {
			break
		}
	}
	_ = a3
}

// TestVerify14bPrivilegeDropThroughRef: bob watches arts through his
// vault's name. ADMIN rewrites the DEFAULT group so that users no longer
// read vaults at all (bart stays readable). Read through the vault now
// finds nothing for bob; the watch must not send a create for a new art
// in his vault, nor react to the vault's renames (it may end with 403,
// or go quiet; README: never more than the current session may read).
func TestVerify14bPrivilegeDropThroughRef(t *testing.T) {
	w := v14bApp(t, limp.Config{})
	adm := func(endpoint string, q, doc any) reply { return must(t, w.admin.call(endpoint, q, doc)) }
	v := docs(t, adm("bvault/create", nil, map[string]any{"name": "s1", "owner": w.bobID}))[0]["_id"].(string)
	q := []any{map[string]any{"vault.name": "s1"}}
	c := w.bob
	wid := c.send("bart/watch", q, nil)
	must(t, c.recv())
	a1 := docs(t, adm("bart/create", nil, map[string]any{"title": "a1", "status": "published", "vault": v}))[0]["_id"].(string)
	if oper, d := evOf(t, c); oper != "create" || d["_id"] != a1 {
		t.Fatalf("first event %s %v", oper, d)
	}
	adm("group/update", []any{map[string]any{"_id": limp.DefaultGroup.Hex()}}, map[string]any{"privileges": map[string]any{"bart": []any{"read"}, "session": []any{"read", "delete"}}})
	time.Sleep(200 * time.Millisecond)
	if d := docs(t, must(t, c.call("bart/read", q, nil))); len(d) != 0 {
		t.Fatalf("bob reads through the vault without the privilege: %v", d)
	}
	adm("bart/create", nil, map[string]any{"title": "a2", "status": "published", "vault": v})
	adm("bvault/update", []any{map[string]any{"_id": v}}, map[string]any{"name": "s2"})
	adm("bvault/update", []any{map[string]any{"_id": v}}, map[string]any{"name": "s1"})
	time.Sleep(300 * time.Millisecond)
	c.send("heart/beat", nil, nil)
	for {
		r := c.recv()
		if r.code() == "CORE_HEARTBEAT_OK" {
			break
		}
		if r.Args["call_id"] == wid && r.Status == 403 {
			t.Logf("the watch ended: %d %s", r.Status, r.code())
			continue
		}
		if r.Msg == "Detected 1 docs." && r.Args["oper"] == "delete" {
			t.Logf("delete (allowed): %v", r.Args["docs"])
			continue
		}
		t.Fatalf("after bob lost the vault privilege: %d %q %v", r.Status, r.Msg, r.Args)
	}
}

// TestVerify14bTwoNodesResumeElsewhere: a client whose watch lived on
// node A reconnects to node B (behind a load balancer) and resumes: B
// does not hold the watch, so it answers a fresh watch with the snapshot
// (resumed false, snapshot true, the published notes only), then B's
// events, including writes made through A.
func TestVerify14bTwoNodesResumeElsewhere(t *testing.T) {
	reportedFault(t, "a change-log node replays creates of the second before a watch's first subscription")
	uri := mongotest.URI(t)
	a, b := nodeWatchApp(t, uri), nodeWatchApp(t, uri)
	wa := dial(t, a.WS)
	wa.send("note/watch", nil, nil)
	tok := must(t, wa.recv()).Args["resume"].(string)
	writer := dial(t, a.WS)
	note := func(p, st string) map[string]any {
		return map[string]any{"title": map[string]any{"en_AE": p}, "permalink": p, "status": st}
	}
	p1 := docs(t, must(t, writer.call("note/create", nil, note("e1", "published"))))[0]["_id"].(string)
	must(t, wa.recv())
	_ = wa.ws.CloseNow()
	must(t, writer.call("note/create", nil, note("e2", "draft")))
	wb := dial(t, b.WS)
	r := must(t, wb.call("note/watch", []any{resumeStep(tok, 1)}, nil))
	if r.Args["resumed"] != false || r.Args["snapshot"] != true || r.Args["count"] != float64(1) || docs(t, r)[0]["_id"] != p1 {
		t.Fatalf("resume on the other node: %v", r.Args)
	}
	p3 := docs(t, must(t, writer.call("note/create", nil, note("e3", "published"))))[0]["_id"].(string)
	e := must(t, wb.recv())
	if e.Args["oper"] != "create" || e.Args["docs"].([]any)[0].(map[string]any)["_id"] != p3 || e.Args["seq"] != float64(1) {
		t.Fatalf("event on B: %v", e.Args)
	}
}

// TestVerify14bTwoNodesLateWatch: a note created through node A before a
// watch starts on node B is no event of that watch (it is what the
// watch's client reads, or its snapshot holds); B's first watch of the
// collection must not replay the change log's recent past as events.
func TestVerify14bTwoNodesLateWatch(t *testing.T) {
	reportedFault(t, "a change-log node replays creates of the second before a watch's first subscription")
	uri := mongotest.URI(t)
	a, b := nodeWatchApp(t, uri), nodeWatchApp(t, uri)
	writer := dial(t, a.WS)
	note := func(p, st string) map[string]any {
		return map[string]any{"title": map[string]any{"en_AE": p}, "permalink": p, "status": st}
	}
	p1 := docs(t, must(t, writer.call("note/create", nil, note("l1", "published"))))[0]["_id"].(string)
	time.Sleep(100 * time.Millisecond)
	wb := dial(t, b.WS)
	wb.send("note/watch", nil, nil)
	must(t, wb.recv())
	must(t, writer.call("note/update", []any{map[string]any{"_id": p1}}, map[string]any{"rank": 1}))
	e := must(t, wb.recv())
	if e.Args["oper"] != "update" || e.Args["seq"] != float64(1) {
		t.Fatalf("first event on B: %v, want the update (seq 1)", e.Args)
	}
}

// CZone is read by anyone; a vault is read by its owner only while its
// zone is open (a read permission through a reference).
type CZone struct {
	limp.Doc
	Name string `json:"name"`
	Open bool   `json:"open" limp:"default=false"`
}

// CVault references a zone.
type CVault struct {
	limp.Doc
	Name  string   `json:"name"`
	Owner limp.ID  `json:"owner"`
	Zone  *limp.ID `json:"zone" limp:"ref=czone"`
}

// CArt references a vault.
type CArt struct {
	limp.Doc
	Title  string   `json:"title"`
	Status string   `json:"status" limp:"default=draft"`
	Vault  *limp.ID `json:"vault" limp:"ref=cvault"`
}

// TestVerify14bChainDifferential: as TestVerify14bRefDifferential, with
// the vault's read permission going through a second reference: art →
// vault (owner only, and only while its zone is open) → zone (queries
// through two references are refused, so the watches go one deep). ADMIN opens and closes zones, renames them, moves vaults
// between zones and owners, moves arts between vaults; every watch's view
// must equal read's result for its caller after each step.
func TestVerify14bChainDifferential(t *testing.T) {
	artPerms := []limp.Perm{{Privilege: "admin"}, {Privilege: "*", QueryMod: limp.M{"status": "published"}}}
	adminW := limp.Perms("admin")
	arts := limp.NewModule[CArt]("cart", limp.Methods{"read": {Permissions: artPerms}, "watch": {Permissions: artPerms, Watch: true},
		"create": {Permissions: adminW}, "update": {Permissions: adminW}})
	vaults := limp.NewModule[CVault]("cvault", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "read", QueryMod: limp.M{"owner": limp.VarUser, "zone.open": true}}}},
		"create": {Permissions: adminW}, "update": {Permissions: adminW}})
	zones := limp.NewModule[CZone]("czone", limp.Methods{"read": {Permissions: limp.Perms("*")},
		"create": {Permissions: adminW}, "update": {Permissions: adminW}})
	cfg := limp.Config{Name: "test", AnonPrivileges: limp.Privileges{"cart": {"read"}, "czone": {"read"}},
		DefaultPrivileges: limp.Privileges{"cart": {"read"}, "cvault": {"read"}, "czone": {"read"}, "session": {"read", "delete"}},
		QuotaIPMin:        -1, QuotaAnonMin: -1, QuotaAuthMin: -1}
	s := startApp(t, cfg, arts, vaults, zones)
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	adm := func(endpoint string, q, doc any) reply { return must(t, admin.call(endpoint, q, doc)) }
	mk := func(name string) (*wsClient, string) {
		r := adm("user/create", nil, map[string]any{"name": map[string]any{"en_AE": name},
			"email": name + "@example.com", "email_hash": authHash(t, name+"@example.com", "pw")})
		c := dial(t, s.WS)
		signIn(t, c, name+"@example.com", "pw")
		return c, docs(t, r)[0]["_id"].(string)
	}
	alice, aliceID := mk("alice")
	bob, bobID := mk("bob")
	anon := dial(t, s.WS)
	queries := [][]any{
		nil,
		{map[string]any{"vault.name": "v1"}},
		{map[string]any{"vault.name": map[string]any{"$ne": "v1"}}},
		{map[string]any{"vault.name": map[string]any{"$in": []any{"v1", "v2"}}}},
		{map[string]any{"vault.owner": map[string]any{"$ne": nil}}},
	}
	users := []struct {
		who string
		c   *wsClient
	}{{"anon", anon}, {"alice", alice}, {"bob", bob}}
	byConn := map[*wsClient]map[string]*bWatch{}
	var all []*bWatch
	for _, u := range users {
		byConn[u.c] = map[string]*bWatch{}
		for _, q := range queries {
			bw := &bWatch{c: u.c, who: u.who, query: q, view: map[string]bool{}}
			qq := q
			if qq == nil {
				qq = []any{}
			}
			bw.id = u.c.send("cart/watch", qq, nil)
			must(t, u.c.recv())
			byConn[u.c][bw.id] = bw
			all = append(all, bw)
		}
	}
	check := func(step string) {
		t.Helper()
		v14bStep = step
		deadline := time.Now().Add(4 * time.Second)
		for {
			var diffs []string
			for _, bw := range all {
				q := bw.query
				if q == nil {
					q = []any{}
				}
				r := must(t, bCall(t, bw.c, byConn[bw.c], "cart/read", q, nil))
				var ids []string
				for _, d := range docs(t, r) {
					ids = append(ids, d["_id"].(string))
				}
				sort.Strings(ids)
				if got := setOf(bw.view); !slices.Equal(got, ids) {
					diffs = append(diffs, fmt.Sprintf("%s %v: view %v, read %v", bw.who, bw.query, got, ids))
				}
			}
			if len(diffs) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s:\n%s", step, strings.Join(diffs, "\n"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	names := []string{"z1", "z2", "z3"}
	var zs, vs, as []string
	for i := range 2 {
		zs = append(zs, docs(t, adm("czone/create", nil, map[string]any{"name": names[i], "open": i == 0}))[0]["_id"].(string))
	}
	owners := []string{aliceID, bobID}
	for i := range 3 {
		vs = append(vs, docs(t, adm("cvault/create", nil, map[string]any{"name": fmt.Sprint("v", i+1), "owner": owners[i%2], "zone": zs[i%2]}))[0]["_id"].(string))
	}
	for i := range 4 {
		as = append(as, docs(t, adm("cart/create", nil, map[string]any{"title": fmt.Sprint("a", i), "status": "published", "vault": vs[i%3]}))[0]["_id"].(string))
	}
	check("creates")
	rng := rand.New(rand.NewPCG(14, 3))
	for step := range 40 {
		var what string
		switch rng.IntN(5) {
		case 0:
			z := rng.IntN(2)
			open := rng.IntN(2) == 0
			what = fmt.Sprintf("zone %d open %v", z, open)
			adm("czone/update", []any{map[string]any{"_id": zs[z]}}, map[string]any{"open": open})
		case 1:
			z, n := rng.IntN(2), names[rng.IntN(3)]
			what = fmt.Sprintf("zone %d named %s", z, n)
			adm("czone/update", []any{map[string]any{"_id": zs[z]}}, map[string]any{"name": n})
		case 2:
			v, z := rng.IntN(3), rng.IntN(2)
			what = fmt.Sprintf("vault %d to zone %d", v, z)
			adm("cvault/update", []any{map[string]any{"_id": vs[v]}}, map[string]any{"zone": zs[z]})
		case 3:
			v, o := rng.IntN(3), rng.IntN(2)
			what = fmt.Sprintf("vault %d to owner %d", v, o)
			adm("cvault/update", []any{map[string]any{"_id": vs[v]}}, map[string]any{"owner": owners[o]})
		case 4:
			a, v := rng.IntN(4), rng.IntN(3)
			what = fmt.Sprintf("art %d to vault %d", a, v)
			adm("cart/update", []any{map[string]any{"_id": as[a]}}, map[string]any{"vault": vs[v]})
		}
		check(fmt.Sprintf("step %d: %s", step, what))
	}
}

// TestVerify14bRefCreateDup: a vault is created, then at once an art in
// it. The vault's create re-checks the watches through "vault"
// (watch_join.go) off the feed's goroutine; when that re-check reads the
// new art before the art's own create event is handled, the art is sent
// as create by the re-check (rematch: now && !was) and then again by
// onChange (now && ev.Oper == create, although it was known). Each art
// must reach each watch once.
func TestVerify14bRefCreateDup(t *testing.T) {
	w := v14bApp(t, limp.Config{})
	adm := func(endpoint string, q, doc any) reply { return must(t, w.admin.call(endpoint, q, doc)) }
	c := w.bob
	c.send("bart/watch", []any{map[string]any{"vault.name": "s1"}}, nil)
	must(t, c.recv())
	const n = 30
	for range n {
		v := docs(t, adm("bvault/create", nil, map[string]any{"name": "s1", "owner": w.bobID}))[0]["_id"].(string)
		adm("bart/create", nil, map[string]any{"title": "a", "status": "published", "vault": v})
	}
	time.Sleep(500 * time.Millisecond)
	seen := map[string]int{}
	c.send("heart/beat", nil, nil)
	for {
		r := must(t, c.recv())
		if r.code() == "CORE_HEARTBEAT_OK" {
			break
		}
		seen[fmt.Sprint(r.Args["oper"], " ", r.Args["docs"].([]any)[0].(map[string]any)["_id"])]++
	}
	dups := 0
	for k, v := range seen {
		if v != 1 || !strings.HasPrefix(k, "create ") {
			dups++
			t.Errorf("%s ×%d", k, v)
		}
	}
	if len(seen) != n {
		t.Errorf("%d arts seen, want %d", len(seen), n)
	}
	if dups > 0 {
		t.Fatalf("%d of %d arts arrived more than once", dups, n)
	}
}

// TestVerify14bSoftDeletedRef: a soft-deleted vault reads as no vault:
// alice's watch of arts whose vault is not named s1 gains her art when
// its vault (named s1) is soft-deleted, as read shows, and one of arts
// in a vault named s1 loses it; a purge of the soft-deleted vault then
// changes nothing.
func TestVerify14bSoftDeletedRef(t *testing.T) {
	w := v14bApp(t, limp.Config{})
	adm := func(endpoint string, q, doc any) reply { return must(t, w.admin.call(endpoint, q, doc)) }
	v := docs(t, adm("bvault/create", nil, map[string]any{"name": "s1", "owner": w.aliceID}))[0]["_id"].(string)
	a := docs(t, adm("bart/create", nil, map[string]any{"title": "a", "status": "published", "vault": v}))[0]["_id"].(string)
	c := w.alice
	ws := map[string]*bWatch{}
	qs := [][]any{{map[string]any{"vault.name": map[string]any{"$ne": "s1"}}}, {map[string]any{"vault.name": "s1"}}}
	for _, q := range qs {
		bw := &bWatch{c: c, who: "alice", query: q, view: map[string]bool{}}
		bw.id = c.send("bart/watch", q, nil)
		must(t, c.recv())
		for _, d := range docs(t, must(t, bCall(t, c, ws, "bart/read", q, nil))) {
			bw.view[d["_id"].(string)] = true
		}
		ws[bw.id] = bw
	}
	check := func(step string) {
		t.Helper()
		v14bStep = step
		deadline := time.Now().Add(3 * time.Second)
		for {
			var diffs []string
			for _, bw := range ws {
				var ids []string
				for _, d := range docs(t, must(t, bCall(t, c, ws, "bart/read", bw.query, nil))) {
					ids = append(ids, d["_id"].(string))
				}
				sort.Strings(ids)
				if got := setOf(bw.view); !slices.Equal(got, ids) {
					diffs = append(diffs, fmt.Sprintf("%v: view %v, read %v", bw.query, got, ids))
				}
			}
			if len(diffs) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: %v", step, diffs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	check("start")
	_ = a
	adm("bvault/delete", []any{map[string]any{"_id": v}}, nil)
	check("soft delete")
	for _, bw := range ws {
		if _, ne := bw.query[0].(map[string]any)["vault.name"].(map[string]any); bw.view[a] != ne {
			t.Fatalf("after the soft delete, %v holds a: %v", bw.query, bw.view[a])
		}
	}
	adm("bvault/delete", []any{map[string]any{"_id": v, "$soft": true}}, nil)
	check("purge")
	_ = a
}

// reportedFault skips a test of a reported, not yet fixed fault unless
// LIMP_TEST_FAULTS=1 (issue 14's verification; the closing note lists it).
func reportedFault(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("LIMP_TEST_FAULTS") == "" {
		t.Skip("a reported fault (" + why + "): set LIMP_TEST_FAULTS=1 to run")
	}
}
