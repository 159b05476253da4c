package limp_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
)

type createPost struct {
	limp.OwnedDoc
	Status    string       `json:"status" limp:"default=draft" validate:"oneof=draft pending rejected published"`
	Title     limp.Locale  `json:"title" limp:"search"`
	Subtitle  *limp.Locale `json:"subtitle"`
	Content   limp.Locale  `json:"content" limp:"search"`
	Permalink string       `json:"permalink" limp:"unique,pattern=^[a-z0-9-]+$"`
	Cat       limp.ID      `json:"cat" limp:"index"`
	Tags      []string     `json:"tags" limp:"default=[]"`
	Views     int64        `json:"views" limp:"default=0,min=0"`
}

// BenchmarkCreateConns is bench/run's create on an examples/blog-like
// module (search attrs, a unique permalink, an indexed cat, a compound
// index on (status, create_time), the author's DocMod), in a database
// file: conns clients signed in as one author, one create in flight each,
// over the websocket. It reports creates/s and cpu-µs/op (the whole
// process's CPU, clients included). Run with -cpu 1 to see a server on
// one core, as bench/run pins it.
//
//	go test -run '^$' -bench BenchmarkCreateConns -cpu 1,2 .
func BenchmarkCreateConns(b *testing.B) {
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprint("conns=", conns), func(b *testing.B) {
			m := limp.NewModule[createPost]("cpost", limp.Methods{
				"create": {Permissions: []limp.Perm{{Privilege: "create", DocMod: limp.M{"status": "draft", "views": nil}}}},
			})
			m.Indexes = [][]string{{"status", "create_time"}}
			s := startApp(b, limp.Config{Name: "bench", Data: filepath.Join(b.TempDir(), "c.db"), Locales: []string{"ar_AE", "en_AE"}, Locale: "ar_AE",
				QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1,
				DefaultPrivileges: limp.Privileges{"cpost": {"create"}}}, m)
			ctx := context.Background()
			admin := s.Client(b, nil)
			if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
				b.Fatal(err)
			}
			if _, err := admin.Call(ctx, "user/create", nil, limp.M{"name": limp.M{"ar_AE": "a"}, "email": "author@example.com",
				"email_hash": authHash(b, "author@example.com", "pw")}); err != nil {
				b.Fatal(err)
			}
			clients := make(chan *client.Client, conns)
			for range conns {
				c := s.Client(b, nil)
				if _, err := c.Auth(ctx, "email", "author@example.com", "pw"); err != nil {
					b.Fatal(err)
				}
				clients <- c
			}
			var n atomic.Int64
			cat := limp.NewID().Hex()
			b.SetParallelism((conns + 1) / 2) // ≈ conns goroutines on 2 cores; -cpu 1 gives conns
			if conns == 1 {
				b.SetParallelism(1)
			}
			cpu0 := cpuTime()
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := <-clients
				defer func() { clients <- c }()
				for pb.Next() {
					i := n.Add(1)
					doc := limp.M{"title": limp.M{"ar_AE": "عنوان", "en_AE": fmt.Sprintf("Post %d of the benchmark", i)},
						"content":   limp.M{"ar_AE": "نص", "en_AE": "Some words of content for the search index."},
						"permalink": fmt.Sprintf("post-%d", i), "cat": cat, "tags": []any{"a", "b"}, "status": "draft"}
					if _, err := c.Call(ctx, "cpost/create", nil, doc); err != nil {
						b.Error(err)
						return
					}
				}
			})
			el := time.Since(start)
			b.ReportMetric(float64(b.N)/el.Seconds(), "creates/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
