package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
	"github.com/limp-go/limp/limptest"
)

// BenchmarkStores runs the same blog calls on the embedded store (a
// database file) and, when LIMP_TEST_MONGO_URI is set, on that server (a
// database of its own), in the same run: a read by _id among 200 posts,
// a list of 20 with its total, and a create. Figures in BENCHMARKS.md;
// they are an indication only (one machine, loopback, whatever server the
// variable names).
//
//	LIMP_TEST_MONGO_URI=mongodb://127.0.0.1:27017/ go test -run '^$' -bench Stores ./examples/blog
func BenchmarkStores(b *testing.B) {
	stores := []struct{ name, data string }{{"embedded", ""}}
	if os.Getenv(mongotest.Env) != "" {
		stores = append(stores, struct{ name, data string }{"mongo", "mongo"})
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			data := filepath.Join(b.TempDir(), "blog.db")
			if st.data == "mongo" {
				data = mongotest.URI(b)
			}
			s := limptest.Start(b, NewApp(limptest.Config(b, limp.Config{Data: data, QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1})))
			ctx := context.Background()
			admin := s.Client(b, nil)
			if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
				b.Fatal(err)
			}
			r, err := admin.Call(ctx, "blog_cat/create", nil, map[string]any{"title": map[string]any{"ar_AE": "ت", "en_AE": "T"}})
			if err != nil {
				b.Fatal(err)
			}
			var created struct {
				Docs []struct {
					ID string `json:"_id"`
				} `json:"docs"`
			}
			if err := r.DecodeArgs(&created); err != nil || len(created.Docs) != 1 {
				b.Fatal(err)
			}
			cat := created.Docs[0].ID
			n := 0
			post := func() map[string]any {
				n++
				return map[string]any{"title": map[string]any{"ar_AE": "م"}, "content": map[string]any{"ar_AE": "..."},
					"cat": cat, "permalink": fmt.Sprintf("p-%d", n)}
			}
			var ids []string
			for range 200 {
				r, err := admin.Call(ctx, "blog/create", nil, post())
				if err != nil {
					b.Fatal(err)
				}
				if err := r.DecodeArgs(&created); err != nil || len(created.Docs) != 1 {
					b.Fatal(err)
				}
				ids = append(ids, created.Docs[0].ID)
			}
			b.Run("read_by_id", func(b *testing.B) {
				for i := range b.N {
					rr, err := client.Read[map[string]any](ctx, admin, "blog", []any{map[string]any{"_id": ids[i%len(ids)]}})
					if err != nil || len(rr.Docs) != 1 {
						b.Fatalf("read: %v", err)
					}
				}
			})
			b.Run("list_20_total", func(b *testing.B) {
				for range b.N {
					rr, err := client.Read[map[string]any](ctx, admin, "blog", []any{map[string]any{"$limit": 20}})
					if err != nil || len(rr.Docs) != 20 || rr.Total < 200 {
						b.Fatalf("list: %v %d %d", err, len(rr.Docs), rr.Total)
					}
				}
			})
			b.Run("create", func(b *testing.B) {
				for range b.N {
					if _, err := admin.Call(ctx, "blog/create", nil, post()); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
