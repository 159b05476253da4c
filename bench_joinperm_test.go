package limp_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/limp-go/limp"
)

type benchAuthor struct {
	limp.Doc
	Name   string `json:"name"`
	Status string `json:"status"`
}

type benchPost struct {
	limp.Doc
	Title  string   `json:"title"`
	Author *limp.ID `json:"author" limp:"ref=bench_author"`
}

// BenchmarkReadJoinPerm measures the cost of the permission guard on a
// read with a join filter (issue 10 item 1): ANON reads
// bench_post [{"author.status": {"$in": ["active", "banned"]}, "$limit": 20}]
// (1,001 posts, 101 authors, one call at a time over the websocket), where
// ANON's read on bench_author carries a query_mod
// ({"status": {"$ne": "banned"}}, or {"status": "active"}) that hides one author (so the guard's
// total is 1,000, 1,001 without it); the page of 20 is the same. The
// guard is toggled every 100 calls within the same run (interleaved, so
// both modes see the same machine load); it reports calls/s of each and
// their ratio.
func BenchmarkReadJoinPerm(b *testing.B) {
	for _, tc := range []struct {
		name string
		mod  limp.M
	}{{"ne", limp.M{"status": limp.M{"$ne": "banned"}}}, {"eq", limp.M{"status": "active"}}} {
		b.Run(tc.name, func(b *testing.B) { benchReadJoinPerm(b, tc.mod) })
	}
}

func benchReadJoinPerm(b *testing.B, mod limp.M) {
	authors := limp.NewModule[benchAuthor]("bench_author", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "read", QueryMod: mod}}},
		"create": {Permissions: limp.Perms("admin")},
	})
	posts := limp.NewModule[benchPost]("bench_post", limp.Methods{
		"read": {Permissions: limp.Perms("read")}, "create": {Permissions: limp.Perms("admin")},
	})
	s := startApp(b, jpConfig(limp.Privileges{"bench_author": {"read"}, "bench_post": {"read"}}), authors, posts)
	admin := dial(b, s.WS)
	signIn(b, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	var ids []any
	for i := range 100 {
		r := must(b, admin.call("bench_author/create", nil, map[string]any{"name": "a" + strconv.Itoa(i), "status": "active"}))
		ids = append(ids, docs(b, r)[0]["_id"])
	}
	for i := range 1000 {
		must(b, admin.call("bench_post/create", nil, map[string]any{"title": "t" + strconv.Itoa(i), "author": ids[i%len(ids)]}))
	}
	// One post by a banned author: hidden from ANON by the guard only,
	// which shows the toggle works (totals 1,000 on, 1,001 off).
	banned := docs(b, must(b, admin.call("bench_author/create", nil, map[string]any{"name": "x", "status": "banned"})))[0]["_id"]
	must(b, admin.call("bench_post/create", nil, map[string]any{"title": "x", "author": banned}))
	anon := dial(b, s.WS)
	q0 := []any{map[string]any{"author.status": "banned"}}
	for _, on := range []bool{false, true} {
		limp.SetJoinGuard(on)
		want := 1.0
		if on {
			want = 0
		}
		if r := must(b, anon.call("bench_post/read", q0, nil)); r.Args["total"] != want {
			b.Fatalf("guard %v: total %v, want %v", on, r.Args["total"], want)
		}
	}
	q := []any{map[string]any{"author.status": map[string]any{"$in": []any{"active", "banned"}}, "$limit": 20}}
	defer limp.SetJoinGuard(true)
	var el [2]time.Duration
	var n [2]int
	b.ResetTimer()
	for i := range b.N {
		mode := (i / 100) % 2 // 0: guard off (before), 1: on (after)
		limp.SetJoinGuard(mode == 1)
		t0 := time.Now()
		r := anon.call("bench_post/read", q, nil)
		el[mode] += time.Since(t0)
		n[mode]++
		if r.Status != 200 || r.Args["total"] != 1000.0+float64(1-mode) {
			b.Fatalf("read = %+v", r)
		}
	}
	if n[0] > 0 && n[1] > 0 {
		off, on := float64(n[0])/el[0].Seconds(), float64(n[1])/el[1].Seconds()
		b.ReportMetric(off, "off-calls/s")
		b.ReportMetric(on, "on-calls/s")
		b.ReportMetric(on/off, "on/off")
	}
}
