package limp_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// BenchmarkRealmRead measures what realm scoping costs a read: the same
// app and data (1000 notes, read by _id and by a condition through a reference) without
// realm mode and in realm mode (the realm's 1000 notes beside another
// realm's 1000). BENCHMARKS.md reports realm/plain.
func BenchmarkRealmRead(b *testing.B) {
	for _, realm := range []bool{false, true} {
		name := "plain"
		if realm {
			name = "realm"
		}
		b.Run(name, func(b *testing.B) {
			all := limp.Perms("*")
			teams := limp.NewModule[realmTeam]("team", limp.Methods{"read": {Permissions: all}, "create": {Permissions: all}})
			notes := limp.NewModule[realmNote]("note", limp.Methods{"read": {Permissions: all}, "create": {Permissions: all}})
			members := limp.NewModule[realmMember]("member", limp.Methods{"read": {Permissions: all}, "create": {Permissions: all}})
			app := limp.New(limptest.Config(b, limp.Config{Name: "bench", Realm: realm, Locale: "en_AE", Locales: []string{"en_AE"}}))
			app.Register("test", teams, members, notes)
			ctx := context.Background()
			if err := app.Start(ctx); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = app.Shutdown(context.Background()) })
			sys := app.SystemSession()
			realms := []string{""}
			if realm {
				realms = []string{"other", "mine"}
				for _, r := range realms {
					h, _ := limp.AuthHash("5.6", "email", "a@x.example", "pw", limp.DefaultAnonToken)
					if _, err := app.Invoke(ctx, sys, "realm/create", nil, limp.M{"name": r, "user": limp.M{"name": limp.M{"en_AE": "a"}, "email": "a@x.example", "email_hash": h}}); err != nil {
						b.Fatal(err)
					}
				}
			}
			var last limp.ID
			for _, r := range realms {
				rctx := limp.WithRealm(ctx, r)
				if r == "" {
					rctx = ctx
				}
				res, err := app.Invoke(rctx, sys, "member/create", nil, limp.M{"name": "m", "team": limp.AnonUserID})
				if err != nil {
					b.Fatal(err)
				}
				mid := res.Args["docs"].([]any)[0].(limp.M)["_id"]
				for i := range 1000 {
					res, err := app.Invoke(rctx, sys, "note/create", nil, limp.M{"text": fmt.Sprint("note ", i), "member": mid})
					if err != nil {
						b.Fatal(err)
					}
					last = res.Args["docs"].([]any)[0].(limp.M)["_id"].(limp.ID)
				}
			}
			rctx := ctx
			if realm {
				rctx = limp.WithRealm(ctx, "mine")
			}
			byID := limp.NewQuery(limp.M{"_id": last})
			joined := limp.NewQuery(limp.M{"member.name": "m", "$limit": 10, "$extn": false})
			for _, c := range []struct {
				name string
				q    *limp.Query
			}{{"by_id", byID}, {"joined", joined}} {
				b.Run(c.name, func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						res, err := app.Invoke(rctx, sys, "note/read", c.q, nil)
						if err != nil || res.Args["count"].(int64) == 0 {
							b.Fatal(err, res)
						}
					}
				})
			}
		})
	}
}
