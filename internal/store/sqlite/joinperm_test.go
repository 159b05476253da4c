package sqlite

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// Permission joins (issue 10 item 1): a join's Filter (the caller's read
// permission on the referenced collection) and Deny make an unreadable
// referenced document behave exactly as a missing one.

// jpCollections returns posts referencing users (author, editors), users
// referencing orgs.
func jpCollections() (posts, users, orgs *schema.Collection) {
	orgs = &schema.Collection{Name: "orgs", Module: "org", Attrs: map[string]*schema.Type{
		"name": {Kind: schema.Str}, "public": {Kind: schema.Bool}, "access": {Kind: schema.Access},
	}}
	users = &schema.Collection{Name: "users", Module: "user", Attrs: map[string]*schema.Type{
		"email": {Kind: schema.Email}, "status": {Kind: schema.Str}, "org": {Kind: schema.ID},
		"n": {Kind: schema.Int}, "tags": {Kind: schema.List, Items: []*schema.Type{{Kind: schema.Str}}},
		"email_hash": {Kind: schema.Str},
	}, Secret: []string{"email_hash"}, Extns: map[string]*schema.Extn{
		"org": {Module: "org", Collection: "orgs", Target: orgs},
	}}
	posts = &schema.Collection{Name: "posts", Module: "post", Attrs: map[string]*schema.Type{
		"title": {Kind: schema.Str}, "rank": {Kind: schema.Int}, "author": {Kind: schema.ID},
		"editors": {Kind: schema.List, Items: []*schema.Type{{Kind: schema.ID}}},
	}, Search: []string{"title"}, Extns: map[string]*schema.Extn{
		"author":  {Module: "user", Collection: "users", Target: users},
		"editors": {Module: "user", Collection: "users", Target: users},
	}}
	return posts, users, orgs
}

var (
	jpU1 = oid.MustParse("f00000000000000000000010")
	jpG1 = oid.MustParse("f00000000000000000000020")
)

func jpSelf() *query.Cond { return &query.Cond{Path: "_id", Op: query.Eq, Value: jpU1} }

// jpNested is a users query_mod that joins orgs itself: active users of a
// public org the caller may read (orgs not named "hidden").
func jpNested(orgDeny bool) query.Node {
	var f query.Node
	if !orgDeny {
		f = &query.Cond{Path: "name", Op: query.Ne, Value: "hidden"}
	}
	return query.And{&query.Cond{Path: "status", Op: query.Eq, Value: "active"},
		&query.Cond{Path: "public", Op: query.Eq, Value: true,
			Join: &query.Join{Local: "org", Collection: "orgs", Filter: f, Deny: orgDeny}}}
}

// TestJoinPermExplainGolden pins the SQL of joins carrying a permission
// filter: it sits inside the join's EXISTS, after the link and the
// condition, so an unreadable document fails the EXISTS as a missing one.
func TestJoinPermExplainGolden(t *testing.T) {
	posts, _, _ := jpCollections()
	regex := func(j *query.Join) *query.Cond {
		return &query.Cond{Path: "email", Op: query.Regex, Value: "^ADMIN@", Join: j}
	}
	tests := []struct {
		name string
		q    *query.Query
	}{
		{"filter", &query.Query{Filter: regex(&query.Join{Local: "author", Collection: "users", Filter: jpSelf()})}},
		{"deny", &query.Query{Filter: regex(&query.Join{Local: "author", Collection: "users", Deny: true})}},
		{"deny_ne", &query.Query{Filter: &query.Cond{Path: "email", Op: query.Ne, Value: "x",
			Join: &query.Join{Local: "author", Collection: "users", Deny: true}}}},
		{"access", &query.Query{Filter: regex(&query.Join{Local: "author", Collection: "users",
			Filter: query.Or{jpSelf(), &query.Access{Path: "access", User: jpU1, Groups: []oid.ID{jpG1}}}})}},
		{"nested", &query.Query{Filter: regex(&query.Join{Local: "author", Collection: "users", Filter: jpNested(false)})}},
		{"nested_deny", &query.Query{Filter: regex(&query.Join{Local: "author", Collection: "users", Filter: jpNested(true)})}},
		{"list_ne", &query.Query{Filter: &query.Cond{Path: "email", Op: query.Ne, Value: "x@y",
			Join: &query.Join{Local: "editors", Collection: "users", IDList: true, Filter: jpSelf()}}}},
		{"or_specials", &query.Query{Filter: query.Or{&query.Cond{Path: "rank", Op: query.Gt, Value: int64(2)},
			&query.Cond{Path: "status", Op: query.In, Value: []any{"active", nil},
				Join: &query.Join{Local: "author", Collection: "users", Filter: jpSelf()}}},
			Sort: []query.Sort{{Path: "rank", Desc: true}}, Skip: 1, Limit: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Explain(posts, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			args, err := jsonv.Marshal(p.Args)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "joinperm_"+tt.name, []byte(p.SQL+"\n"+string(args)+"\n"))
		})
	}
}

// jpWorld holds the seeded ids.
type jpWorld struct {
	orgs, users, posts []oid.ID
}

// jpDocs returns the seed: orgs, users (u0 and u4 readable under
// jpNested(false)), posts referencing them, plus dangling references.
func jpDocs(ids []oid.ID) (w jpWorld, orgs, users, posts []map[string]any) {
	w.orgs, w.users, w.posts = ids[0:3], ids[3:10], ids[10:22]
	o, u, p := w.orgs, w.users, w.posts
	orgs = []map[string]any{
		{"_id": o[0], "name": "acme", "public": true},
		{"_id": o[1], "name": "hidden", "public": true},
		{"_id": o[2], "name": "shut", "public": false},
	}
	users = []map[string]any{
		{"_id": u[0], "email": "ADMIN@x.com", "status": "active", "org": o[0], "n": int64(1), "tags": []any{"a", "b"}},
		{"_id": u[1], "email": "bob@x.com", "status": "active", "org": o[1], "n": int64(5), "tags": []any{"b"}},
		{"_id": u[2], "email": "cat@x.com", "status": "banned", "org": o[0], "n": int64(9), "tags": []any{}},
		{"_id": u[3], "email": "dan@y.com", "status": "active", "org": o[2], "n": int64(3), "tags": []any{"a"}},
		{"_id": u[4], "email": "eve@y.com", "status": "active", "org": o[0], "n": int64(7), "tags": []any{"c"}},
		{"_id": u[5], "email": nil, "status": "active", "n": nil},
		{"_id": u[6], "email": "gus@x.com", "status": "active", "org": ids[39], "n": int64(2)},
	}
	ref := func(i int) any {
		if i < 0 {
			return ids[38] // dangling
		}
		return u[i]
	}
	refs := func(is ...int) []any {
		out := []any{}
		for _, i := range is {
			out = append(out, ref(i))
		}
		return out
	}
	titles := []string{"red apple", "green apple", "red car", "blue sky", "apple pie", "sky high"}
	for i := range p {
		d := map[string]any{"_id": p[i], "title": titles[i%len(titles)], "rank": int64(i % 4)}
		if i%5 != 4 {
			d["author"] = ref(i%8 - 1)
		}
		if i%3 != 2 {
			d["editors"] = refs((i+1)%7, (i*3)%7, i%2-1)
		}
		posts = append(posts, d)
	}
	return w, orgs, users, posts
}

// openJP opens a store seeded with jpDocs, keeping only the users keep
// accepts.
func openJP(t testing.TB, ids []oid.ID, keep func(id oid.ID) bool) (*Store, jpWorld) {
	t.Helper()
	s, err := Open(t.Context(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	posts, users, orgs := jpCollections()
	w, od, ud, pd := jpDocs(ids)
	for _, c := range []*schema.Collection{orgs, users, posts} {
		if err := s.Sync(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	var kept []map[string]any
	for _, u := range ud {
		if keep(u["_id"].(oid.ID)) {
			kept = append(kept, u)
		}
	}
	for _, x := range []struct {
		c    *schema.Collection
		docs []map[string]any
	}{{orgs, od}, {users, kept}, {posts, pd}} {
		if len(x.docs) > 0 {
			if err := s.Insert(t.Context(), x.c, x.docs...); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s, w
}

// jpReadable are the users jpNested(false) lets the caller read.
func jpReadable(w jpWorld) map[oid.ID]bool {
	return map[oid.ID]bool{w.users[0]: true, w.users[4]: true}
}

// jpTriple is a store where every user exists and is guarded by perm,
// and the stores where the unreadable ones (or all) are missing.
type jpTriple struct {
	present, missing, none *Store
	w                      jpWorld
}

func openJPTriple(t testing.TB) *jpTriple {
	ids := testIDs(40) // the same ids in every store
	present, w := openJP(t, ids, func(oid.ID) bool { return true })
	readable := jpReadable(w)
	missing, _ := openJP(t, ids, func(id oid.ID) bool { return readable[id] })
	none, _ := openJP(t, ids, func(oid.ID) bool { return false })
	return &jpTriple{present: present, missing: missing, none: none, w: w}
}

// withJoins returns a copy of n whose joins carry j's Filter and Deny.
func withJoins(n query.Node, filter query.Node, deny bool) query.Node {
	switch n := n.(type) {
	case query.And:
		out := make(query.And, len(n))
		for i, x := range n {
			out[i] = withJoins(x, filter, deny)
		}
		return out
	case query.Or:
		out := make(query.Or, len(n))
		for i, x := range n {
			out[i] = withJoins(x, filter, deny)
		}
		return out
	case *query.Cond:
		c := *n
		if c.Join != nil {
			j := *c.Join
			j.Filter, j.Deny = filter, deny
			c.Join = &j
		}
		return &c
	}
	return n
}

// answer is a read's outcome, comparable across stores.
func jpAnswer(t testing.TB, s *Store, q *query.Query) string {
	t.Helper()
	posts, _, _ := jpCollections()
	res, err := s.Read(t.Context(), posts, q)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return fmt.Sprintf("total %d docs %v groups %v", res.Total, res.Docs, res.Groups)
}

// check asserts that q (with plain joins) answers the same on the store
// with unreadable users guarded and on the store without them, for the
// nested filter and for Deny.
func (tr *jpTriple) check(t testing.TB, q *query.Query) (seesData bool) {
	t.Helper()
	guarded, denied := *q, *q
	guarded.Filter = withJoins(q.Filter, jpNested(false), false)
	denied.Filter = withJoins(q.Filter, nil, true)
	got, want := jpAnswer(t, tr.present, &guarded), jpAnswer(t, tr.missing, q)
	if got != want {
		t.Errorf("filter %s: unreadable users\n%s\nmissing users\n%s", describe(q), got, want)
	}
	got, want = jpAnswer(t, tr.present, &denied), jpAnswer(t, tr.none, q)
	if got != want {
		t.Errorf("deny %s: unreadable users\n%s\nno users\n%s", describe(q), got, want)
	}
	return jpAnswer(t, tr.present, q) != want
}

func describe(q *query.Query) string {
	var node func(n query.Node) string
	node = func(n query.Node) string {
		switch n := n.(type) {
		case query.And, query.Or:
			var parts []string
			name := "AND"
			l, ok := n.(query.And)
			if !ok {
				l, name = query.And(n.(query.Or)), "OR"
			}
			for _, x := range l {
				parts = append(parts, node(x))
			}
			return name + "(" + strings.Join(parts, ", ") + ")"
		case *query.Cond:
			p := n.Path
			if n.Join != nil {
				p = n.Join.Local + "." + p
			}
			return fmt.Sprintf("%s %s %v %v", p, n.Op, n.Value, n.Value2)
		}
		return fmt.Sprintf("%T", n)
	}
	return fmt.Sprintf("%s sort %v skip %d limit %d group %v search %q", node(q.Filter), q.Sort, q.Skip, q.Limit, q.Group, q.Search)
}

// jpCond is a condition through author or editors.
func jpCond(local, path string, op query.Op, v, v2 any) *query.Cond {
	return &query.Cond{Path: path, Op: op, Value: v, Value2: v2,
		Join: &query.Join{Local: local, Collection: "users", IDList: local == "editors"}}
}

func TestJoinPermUnreadableIsMissing(t *testing.T) {
	tr := openJPTriple(t)
	u := tr.w.users
	var conds []query.Node
	for _, local := range []string{"author", "editors"} {
		c := func(path string, op query.Op, v any) *query.Cond { return jpCond(local, path, op, v, nil) }
		conds = append(conds,
			c("email", query.Eq, "bob@x.com"), c("email", query.Ne, "ADMIN@x.com"), c("email", query.Gt, "c"),
			c("email", query.Gte, "dan@y.com"), c("email", query.Lt, "c"), c("email", query.Lte, "bob@x.com"),
			jpCond(local, "email", query.Bet, "b", "e"), c("email", query.In, []any{"bob@x.com", "eve@y.com"}),
			c("email", query.Nin, []any{"eve@y.com"}), c("email", query.Regex, "^[a-c]"),
			c("email", query.Eq, nil), c("email", query.Ne, nil), c("email", query.In, []any{nil, "cat@x.com"}),
			c("email", query.Nin, []any{nil}), c("n", query.Gt, int64(2)), c("tags", query.All, []any{"a", "b"}),
			c("tags", query.Eq, []any{}), c("_id", query.Eq, u[1]), c("_id", query.In, []any{u[0], u[2]}),
			c("org", query.Eq, tr.w.orgs[0]), c("status", query.Ne, "banned"),
			query.Or{c("email", query.Eq, "bob@x.com"), &query.Cond{Path: "rank", Op: query.Eq, Value: int64(3)}},
			query.And{c("n", query.Lt, int64(8)), c("email", query.Regex, "x\\.com$")},
		)
	}
	specials := []query.Query{{}, {Sort: []query.Sort{{Path: "rank", Desc: true}}}, {Skip: 1, Limit: 3},
		{Group: []query.Group{{By: "rank", Count: 2}}}, {Search: "apple"}, {Attrs: []string{"title"}}}
	sees := 0
	for _, c := range conds {
		for _, sp := range specials {
			q := sp
			q.Filter = c
			if tr.check(t, &q) {
				sees++
			}
		}
	}
	if sees < len(conds)*len(specials)/2 {
		t.Errorf("only %d of %d queries answer differently without the guard", sees, len(conds)*len(specials))
	}
}

// FuzzJoinPermUnreadableIsMissing generates queries through reference
// paths (every operator, values from a pool, OR/AND with plain
// conditions, $sort, $skip/$limit, $group, $search) and checks that
// references to unreadable documents answer as missing ones, both for a
// nested permission filter and for Deny.
func FuzzJoinPermUnreadableIsMissing(f *testing.F) {
	for _, seed := range []string{"\x00\x00\x00\x00", "\x01\x02\x03\x04\x05\x06", "\x0a\x07\x01\xff\x10\x22\x33", "\x05\x05\x05\x05\x05\x05\x05\x05\x05"} {
		f.Add([]byte(seed))
	}
	tr := openJPTriple(f)
	u, o := tr.w.users, tr.w.orgs
	paths := []string{"email", "status", "n", "tags", "_id", "org"}
	pool := []any{nil, "ADMIN@x.com", "bob@x.com", "c", "active", "banned", "a", int64(1), int64(5), 7.5,
		u[0], u[1], u[3], u[5], o[0], o[1], true, ""}
	ops := []query.Op{query.Eq, query.Ne, query.Gt, query.Gte, query.Lt, query.Lte, query.Bet, query.In, query.Nin, query.All, query.Regex}
	f.Fuzz(func(t *testing.T, data []byte) {
		at := 0
		next := func() int {
			if at >= len(data) {
				return 0
			}
			at++
			return int(data[at-1])
		}
		pick := func() any { return pool[next()%len(pool)] }
		cond := func() query.Node {
			local := []string{"author", "editors", ""}[next()%3]
			op := ops[next()%len(ops)]
			var v, v2 any = pick(), nil
			switch op {
			case query.In, query.Nin, query.All:
				v = []any{v, pick()}
			case query.Bet:
				v2 = pick()
			case query.Regex:
				v = []string{"^a", "x", "\\.com$", "^$", "B"}[next()%5]
			}
			if local == "" {
				return &query.Cond{Path: []string{"rank", "title"}[next()%2], Op: op, Value: v, Value2: v2}
			}
			return jpCond(local, paths[next()%len(paths)], op, v, v2)
		}
		var n query.Node = cond()
		switch next() % 3 {
		case 1:
			n = query.And{n, cond()}
		case 2:
			n = query.Or{n, cond()}
		}
		q := &query.Query{Filter: n}
		flags := next()
		if flags&1 != 0 {
			q.Sort = []query.Sort{{Path: "rank", Desc: flags&2 != 0}}
		}
		if flags&4 != 0 {
			q.Skip, q.Limit = int64(next()%4), int64(next()%5)
		}
		if flags&8 != 0 {
			q.Group = []query.Group{{By: "rank", Count: 1 + next()%3}}
		}
		if flags&16 != 0 {
			q.Search = "apple"
		}
		if _, err := Compile(tr.w.postsColl(), q); err != nil {
			return // a value the parser would have refused
		}
		tr.check(t, q)
	})
}

func (jpWorld) postsColl() *schema.Collection { p, _, _ := jpCollections(); return p }

// TestOrAlwaysTrueDropsArgs: an OR that compiles to "always" (here a
// negated denied join, or $nin []) drops the arguments of the
// alternatives compiled before it (they shifted the page's LIMIT/OFFSET
// arguments: "datatype mismatch").
func TestOrAlwaysTrueDropsArgs(t *testing.T) {
	tr := openJPTriple(t)
	posts, _, _ := jpCollections()
	rx := &query.Cond{Path: "title", Op: query.Regex, Value: "^red"}
	for _, always := range []query.Node{
		&query.Cond{Path: "email", Op: query.Ne, Value: "x", Join: &query.Join{Local: "editors", Collection: "users", IDList: true, Deny: true}},
		&query.Cond{Path: "rank", Op: query.Nin, Value: []any{}},
	} {
		q := &query.Query{Filter: query.Or{rx, always}, Skip: 1, Limit: 2, Search: "apple"}
		res, err := tr.present.Read(t.Context(), posts, q)
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != 6 || len(res.Docs) != 2 {
			t.Fatalf("total %d, %d docs, want 6 and 2", res.Total, len(res.Docs))
		}
	}
}

// BenchmarkJoinPerm is the store side of the permission guard's cost: a
// read of 20 of 1,000 posts (with total) by a condition through their
// author (100 users), without a permission filter (before) and with one
// that admits every user (after), so both return the same rows.
func BenchmarkJoinPerm(b *testing.B) {
	s, err := Open(b.Context(), ":memory:", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	posts, users, orgs := jpCollections()
	for _, c := range []*schema.Collection{orgs, users, posts} {
		if err := s.Sync(b.Context(), c); err != nil {
			b.Fatal(err)
		}
	}
	ids := testIDs(1100)
	var ud, pd []map[string]any
	for i := range 100 {
		ud = append(ud, map[string]any{"_id": ids[i], "email": fmt.Sprintf("u%d@x", i), "status": "active"})
	}
	for i := range 1000 {
		pd = append(pd, map[string]any{"_id": ids[100+i], "title": "t", "rank": int64(i), "author": ids[i%100]})
	}
	if err := s.Insert(b.Context(), users, ud...); err != nil {
		b.Fatal(err)
	}
	if err := s.Insert(b.Context(), posts, pd...); err != nil {
		b.Fatal(err)
	}
	mk := func(filter query.Node) *query.Query {
		return &query.Query{Limit: 20, Filter: &query.Cond{Path: "status", Op: query.Eq, Value: "active",
			Join: &query.Join{Local: "author", Collection: "users", Filter: filter}}}
	}
	for _, tc := range []struct {
		name string
		perm query.Node
	}{
		{"ne", &query.Cond{Path: "status", Op: query.Ne, Value: "banned"}},
		{"eq", &query.Cond{Path: "status", Op: query.Eq, Value: "active"}},
		{"self", &query.Cond{Path: "_id", Op: query.Eq, Value: ids[7]}},
	} {
		b.Run(tc.name, func(b *testing.B) { benchJoinPerm(b, s, posts, mk(nil), mk(tc.perm), tc.name != "self") })
	}
}

// benchJoinPerm reads before and after in turn (interleaved, so both see
// the same machine load) and reports each one's time per read.
func benchJoinPerm(b *testing.B, s *Store, posts *schema.Collection, before, after *query.Query, all bool) {
	qs := [2]*query.Query{before, after}
	var el [2]time.Duration
	var n [2]int
	i := 0
	for b.Loop() {
		mode := i % 2
		i++
		t0 := time.Now()
		res, err := s.Read(b.Context(), posts, qs[mode])
		el[mode] += time.Since(t0)
		n[mode]++
		if err != nil || (mode == 0 || all) && (res.Total != 1000 || len(res.Docs) != 20) {
			b.Fatal(res, err)
		}
	}
	if n[0] > 0 && n[1] > 0 {
		before, after := float64(el[0].Nanoseconds())/float64(n[0]), float64(el[1].Nanoseconds())/float64(n[1])
		b.ReportMetric(before, "before-ns/read")
		b.ReportMetric(after, "after-ns/read")
		b.ReportMetric(after/before, "after/before")
	}
}
