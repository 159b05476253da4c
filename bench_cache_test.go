package limp_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

type benchCacheDoc struct {
	limp.Doc
	Title string `json:"title"`
	N     int64  `json:"n"`
}

// BenchmarkCachedRead: a 50-document read through App.Invoke, with and
// without a cache set (a hit returns a deep copy).
func BenchmarkCachedRead(b *testing.B) {
	mk := func(name string, cached bool) *limp.Module {
		m := limp.NewModule[benchCacheDoc](name, limp.Methods{"read": {Permissions: limp.Perms("*")}, "create": {Permissions: limp.Perms("*")}})
		if cached {
			m.Cache = []limp.CacheSet{{}}
		}
		return m
	}
	app := limp.New(limptest.Config(b, limp.Config{Name: "benchcache", Locale: "en_AE"}))
	app.Register("bench", mk("plain", false), mk("cached", true))
	limptest.Start(b, app)
	ctx := context.Background()
	sys := app.SystemSession()
	for _, mod := range []string{"plain", "cached"} {
		for i := range 50 {
			if _, err := app.Invoke(ctx, sys, mod+"/create", nil, limp.M{"title": fmt.Sprintf("title %d", i), "n": int64(i)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, mod := range []string{"plain", "cached"} {
		b.Run(mod, func(b *testing.B) {
			for b.Loop() {
				r, err := app.Invoke(ctx, sys, mod+"/read", nil, nil)
				if err != nil || r.Args["count"] != int64(50) {
					b.Fatalf("%v %v", err, r)
				}
			}
		})
	}
}
