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
// bench_post [{"author.status": "active", "$limit": 20}] (1,000 posts,
// 100 authors, one call at a time over the websocket), where ANON's read
// on bench_author carries a query_mod admitting every author
// ({"status": {"$ne": "banned"}}), so both modes return the same docs. The
// guard is toggled every 100 calls within the same run (interleaved, so
// both modes see the same machine load); it reports calls/s of each and
// their ratio.
func BenchmarkReadJoinPerm(b *testing.B) {
	authors := limp.NewModule[benchAuthor]("bench_author", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "read", QueryMod: limp.M{"status": limp.M{"$ne": "banned"}}}}},
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
	anon := dial(b, s.WS)
	q := []any{map[string]any{"author.status": "active", "$limit": 20}}
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
		if r.Status != 200 || r.Args["total"] != 1000.0 {
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
