package limp_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// The attacker suite (issue 10 item 1): every query special and operator
// run through references to documents the caller may not read must answer
// exactly as the same data with those documents missing.

// jpWorld is a seeded app: vaults, secrets, notes referencing them.
type jpWorld struct {
	s     *limptest.Server
	admin *wsClient
	atk   *wsClient
	// ids maps each seeded document's label ("s2", "n5") to its _id and
	// back.
	ids    map[string]string
	labels map[string]string
}

// jpSecrets are the seeded secrets: code, n, tags, vault label, owned by
// the attacker "sam".
var jpSecrets = []struct {
	label, code string
	n           int
	tags        []any
	vault       string
	sam         bool
}{
	{"s1", "alpha", 1, []any{"a", "b"}, "vLowOpen", true},
	{"s2", "beta", 5, []any{"b"}, "vHighOpen", false},
	{"s3", "gamma", 9, []any{}, "vLowShut", true},
	{"s4", "delta", 3, []any{"a"}, "vLowOpen", false},
	{"s5", "beta", 7, []any{"a", "b", "c"}, "", false},
}

// jpNotes are the seeded notes: text, rank, secret label ("" none, "x"
// dangling), refs labels.
var jpNotes = []struct {
	label, text string
	rank        int
	secret      string
	refs        []string
}{
	{"n1", "red apple", 1, "s1", []string{"s2", "s3"}},
	{"n2", "green apple", 2, "s2", []string{"s1"}},
	{"n3", "red car", 2, "s3", nil},
	{"n4", "blue sky", 4, "s4", []string{"s4", "s2"}},
	{"n5", "apple pie", 5, "", []string{"s2"}},
	{"n6", "sky high", 3, "s2", []string{"s2", "s5"}},
	{"n7", "lost", 7, "x", nil},
	{"n8", "blue apple", 1, "s5", []string{"s1", "s4", "s5"}},
}

// readableBy reports whether attacker may read secret s: "anon" through
// the vault query_mod (open vault below level 5), "sam" as owner.
func readableBy(attacker string, i int) bool {
	s := jpSecrets[i]
	if attacker == "sam" {
		return s.sam
	}
	return s.vault == "vLowOpen"
}

// newJPWorld seeds an app; with missing set, the secrets the attacker may
// not read are deleted afterwards (their references dangle).
func newJPWorld(t testing.TB, attacker string, missing bool) *jpWorld {
	t.Helper()
	s := startApp(t, jpConfig(limp.Privileges{"jp_note": {"read"}, "jp_secret": {"vault"}, "jp_vault": {"read"}}), jpModules()...)
	w := &jpWorld{s: s, admin: dial(t, s.WS), ids: map[string]string{}, labels: map[string]string{}}
	signIn(t, w.admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	put := func(label string, r reply) {
		id := docs(t, must(t, r))[0]["_id"].(string)
		w.ids[label], w.labels[id] = id, label
	}
	mkUser(t, w.admin, "sam@example.com", "pw")
	w.atk = dial(t, s.WS)
	if attacker == "sam" {
		put("sam", reply{Status: 200, Args: map[string]any{"docs": []any{signIn(t, w.atk, "sam@example.com", "pw")["user"]}}})
	}
	// The dangling reference of n7, the same in every world.
	w.ids["x"], w.labels["f000000000000000000000ff"] = "f000000000000000000000ff", "x"
	for _, v := range []struct {
		label string
		open  bool
		level int
	}{{"vLowOpen", true, 1}, {"vHighOpen", true, 9}, {"vLowShut", false, 1}} {
		put(v.label, w.admin.call("jp_vault/create", nil, map[string]any{"open": v.open, "level": v.level}))
	}
	for _, sc := range jpSecrets {
		doc := map[string]any{"code": sc.code, "n": sc.n, "tags": sc.tags}
		if sc.vault != "" {
			doc["vault"] = w.ids[sc.vault]
		}
		if sc.sam && w.ids["sam"] != "" {
			doc["owner"] = w.ids["sam"]
		}
		put(sc.label, w.admin.call("jp_secret/create", nil, doc))
	}
	for _, n := range jpNotes {
		refs := []any{}
		for _, r := range n.refs {
			refs = append(refs, w.ids[r])
		}
		doc := map[string]any{"text": n.text, "rank": n.rank, "refs": refs}
		if n.secret == "x" {
			doc["secret"] = "f000000000000000000000ff"
		} else if n.secret != "" {
			doc["secret"] = w.ids[n.secret]
		}
		put(n.label, w.admin.call("jp_note/create", nil, doc))
	}
	if missing {
		var hide []any
		for i, sc := range jpSecrets {
			if !readableBy(attacker, i) {
				hide = append(hide, w.ids[sc.label])
			}
		}
		r := must(t, w.admin.call("jp_secret/delete", []any{map[string]any{"_id": map[string]any{"$in": hide}}}, nil))
		if n, _ := r.Args["count"].(float64); int(n) != len(hide) {
			t.Fatalf("deleted %v secrets, want %d", r.Args["count"], len(hide))
		}
	}
	return w
}

// bind replaces "@label" strings in a query with the world's ids.
func (w *jpWorld) bind(v any) any {
	switch x := v.(type) {
	case string:
		if l, ok := strings.CutPrefix(x, "@"); ok {
			if id, ok := w.ids[l]; ok {
				return id
			}
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = w.bind(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = w.bind(e)
		}
		return out
	}
	return v
}

// answer runs q as who and returns the reply with every id replaced by
// its label, as canonical JSON (status, code, and for a 200 total, count,
// docs and groups).
func (w *jpWorld) answer(t testing.TB, who *wsClient, q any) string {
	t.Helper()
	defer func(prev testing.TB) { who.t = prev }(who.t)
	who.t = t // fuzz targets must report through their own t
	r := who.call("jp_note/read", w.bind(q), nil)
	out := map[string]any{"status": r.Status}
	if r.Status != 200 {
		out["code"] = r.code()
	} else {
		for _, k := range []string{"total", "count", "docs", "groups"} {
			out[k] = w.unbind(r.Args[k])
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (w *jpWorld) unbind(v any) any {
	switch x := v.(type) {
	case string:
		if l, ok := w.labels[x]; ok {
			return "@" + l
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = w.unbind(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if k == "create_time" || k == "user" {
				continue // differs between worlds by construction
			}
			out[k] = w.unbind(e)
		}
		return out
	}
	return v
}

type jpM = map[string]any

// jpConds are conditions through references: every operator, on a
// single reference and a LIST of references, with null, lists, ids, OR
// groups and conditions mixed with plain ones.
var jpConds = []any{
	jpM{"secret.code": "beta"},
	jpM{"secret.code": jpM{"$eq": "alpha"}},
	jpM{"secret.code": jpM{"$ne": "beta"}},
	jpM{"secret.code": jpM{"$gt": "b"}},
	jpM{"secret.code": jpM{"$gte": "beta"}},
	jpM{"secret.code": jpM{"$lt": "c"}},
	jpM{"secret.code": jpM{"$lte": "beta"}},
	jpM{"secret.code": jpM{"$bet": []any{"a", "c"}}},
	jpM{"secret.code": jpM{"$in": []any{"beta", "gamma"}}},
	jpM{"secret.code": jpM{"$nin": []any{"beta"}}},
	jpM{"secret.code": jpM{"$regex": "^[a-c]"}},
	jpM{"secret.code": nil},
	jpM{"secret.code": jpM{"$ne": nil}},
	jpM{"secret.code": jpM{"$in": []any{nil, "alpha"}}},
	jpM{"secret.code": jpM{"$nin": []any{nil}}},
	jpM{"secret.n": jpM{"$gt": 2}},
	jpM{"secret.n": jpM{"$bet": []any{2, 6}}},
	jpM{"secret.n": jpM{"$lte": 1.5}},
	jpM{"secret.tags": "a"},
	jpM{"secret.tags": jpM{"$all": []any{"a", "b"}}},
	jpM{"secret.tags": jpM{"$ne": "b"}},
	jpM{"secret.tags": []any{}},
	jpM{"secret._id": "@s2"},
	jpM{"secret._id": jpM{"$in": []any{"@s1", "@s2", "@s4"}}},
	jpM{"secret.vault": "@vLowOpen"},
	jpM{"refs.code": "beta"},
	jpM{"refs.code": jpM{"$ne": "beta"}},
	jpM{"refs.code": jpM{"$nin": []any{"alpha", "gamma"}}},
	jpM{"refs.n": jpM{"$gte": 5}},
	jpM{"refs.tags": jpM{"$all": []any{"c"}}},
	jpM{"refs.code": jpM{"$regex": "a$"}},
	jpM{"refs._id": "@s5"},
	jpM{"secret.code": "beta", "rank": jpM{"$gte": 2}},
	[]any{jpM{"secret.code": "alpha"}, jpM{"refs.code": "beta"}, jpM{"rank": 7}},
	jpM{"__or1": []any{jpM{"secret.n": jpM{"$lt": 4}}, jpM{"text": jpM{"$regex": "sky"}}}, "refs.n": jpM{"$ne": 9}},
}

// jpSpecials are the query specials each condition runs with.
var jpSpecials = []jpM{
	nil,
	{"$sort": jpM{"rank": -1}},
	{"$sort": jpM{"text": 1}, "$skip": 1, "$limit": 2},
	{"$limit": 1},
	{"$attrs": []any{"text", "secret"}},
	{"$extn": false},
	{"$extn": []any{"refs"}},
	{"$group": []any{jpM{"by": "rank", "count": 3}}},
	{"$search": "apple"},
}

// TestJoinAttackerSuite runs every condition with every special, as ANON
// (whose read on secrets is a query_mod through a reference) and as a
// signed-in user (who reads only the secrets they own), against the world
// where the unreadable secrets exist and the world where they are missing:
// the answers must be identical. ADMIN's answers on the first world show
// that the queries do look at the secrets.
func TestJoinAttackerSuite(t *testing.T) {
	for _, attacker := range []string{"anon", "sam"} {
		t.Run(attacker, func(t *testing.T) {
			present, missing := newJPWorld(t, attacker, false), newJPWorld(t, attacker, true)
			differs := 0
			for i, cond := range jpConds {
				for _, sp := range jpSpecials {
					q := []any{cond}
					if sp != nil {
						q = append(q, sp)
					}
					got := present.answer(t, present.atk, q)
					want := missing.answer(t, missing.atk, q)
					if got != want {
						t.Errorf("cond %d %v %v:\nunreadable: %s\nmissing:    %s", i, cond, sp, got, want)
					}
					if !strings.Contains(got, `"status":200`) {
						t.Errorf("cond %d %v %v: %s", i, cond, sp, got)
					}
					if present.answer(t, present.admin, q) != want {
						differs++
					}
				}
			}
			// The suite is not vacuous: most queries answer differently
			// when the secrets can be read.
			if differs < len(jpConds)*len(jpSpecials)/2 {
				t.Errorf("only %d of %d queries see the secrets as ADMIN", differs, len(jpConds)*len(jpSpecials))
			}
		})
	}
}

// TestJoinHiddenAttrs: a query_mod limiting $attrs makes the other attrs
// of the referenced module unqueryable through references.
func TestJoinHiddenAttrs(t *testing.T) {
	type pub struct {
		limp.Doc
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	type card struct {
		limp.Doc
		Who *limp.ID `json:"who" limp:"ref=jp_pub"`
	}
	pubs := limp.NewModule[pub]("jp_pub", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "read", QueryMod: limp.M{"$attrs": []any{"name"}}}}},
		"create": {Permissions: limp.Perms("admin")},
	})
	cards := limp.NewModule[card]("jp_card", limp.Methods{
		"read": {Permissions: limp.Perms("read")}, "create": {Permissions: limp.Perms("admin")},
	})
	s := startApp(t, jpConfig(limp.Privileges{"jp_pub": {"read"}, "jp_card": {"read"}}), pubs, cards)
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	id := docs(t, must(t, admin.call("jp_pub/create", nil, map[string]any{"name": "Ann", "email": "ann@x"})))[0]["_id"]
	must(t, admin.call("jp_card/create", nil, map[string]any{"who": id}))
	anon := dial(t, s.WS)
	if n := total(t, must(t, anon.call("jp_card/read", []any{jpM{"who.name": "Ann"}}, nil))); n != 1 {
		t.Fatalf("who.name: total %v, want 1", n)
	}
	wantInvalidQuery(t, anon.call("jp_card/read", []any{jpM{"who.email": jpM{"$regex": "^a"}}}, nil))
	if n := total(t, must(t, admin.call("jp_card/read", []any{jpM{"who.email": jpM{"$regex": "^a"}}}, nil))); n != 1 {
		t.Fatalf("ADMIN who.email: total %v, want 1", n)
	}
}

// FuzzJoinAttacker builds wire queries through reference paths from the
// fuzz input (a path of a secret through secret or refs, any operator, a
// value from a pool including seeded ids, optionally OR-ed or AND-ed with
// a second condition, and specials) and checks, through the websocket as
// ANON, that unreadable secrets answer exactly as missing ones.
func FuzzJoinAttacker(f *testing.F) {
	for _, seed := range []string{"", "\x00\x01\x02\x03", "\x05\x0a\x01\x07\xff\x11", "\x02\x02\x09\x00\x01\x03\x1f\x04"} {
		f.Add([]byte(seed))
	}
	present, missing := newJPWorld(f, "anon", false), newJPWorld(f, "anon", true)
	paths := []string{"secret.code", "secret.n", "secret.tags", "secret._id", "secret.vault", "refs.code", "refs.n", "refs.tags", "refs._id", "text", "rank"}
	ops := []string{"", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$bet", "$in", "$nin", "$all", "$regex"}
	pool := []any{nil, "alpha", "beta", "b", "a", "c", "", 1, 5, 2.5, "@s1", "@s2", "@s4", "@vLowOpen", "@vHighOpen"}
	specials := []jpM{nil, {"$sort": jpM{"rank": 1}}, {"$skip": 1, "$limit": 2}, {"$group": []any{jpM{"by": "rank", "count": 2}}},
		{"$search": "apple"}, {"$extn": false}, {"$attrs": []any{"secret"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		at := 0
		next := func() int {
			if at >= len(data) {
				return 0
			}
			at++
			return int(data[at-1])
		}
		cond := func() jpM {
			p, op, v := paths[next()%len(paths)], ops[next()%len(ops)], pool[next()%len(pool)]
			switch op {
			case "":
				return jpM{p: v}
			case "$bet", "$in", "$nin", "$all":
				v = []any{v, pool[next()%len(pool)]}
			case "$regex":
				v = []string{"^a", "A$", "e", "^$", "[b-d]"}[next()%5]
			}
			return jpM{p: jpM{op: v}}
		}
		var step any = cond()
		switch next() % 3 {
		case 1:
			step = []any{step, cond()}
		case 2:
			c := cond()
			for k, v := range step.(jpM) {
				c["__or0"] = []any{jpM{k: v}, jpM{"rank": 1}}
			}
			step = c
		}
		q := []any{step}
		if sp := specials[next()%len(specials)]; sp != nil {
			q = append(q, sp)
		}
		got, want := present.answer(t, present.atk, q), missing.answer(t, missing.atk, q)
		if got != want {
			t.Fatalf("%v:\nunreadable: %s\nmissing:    %s", q, got, want)
		}
	})
}
