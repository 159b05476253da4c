// Command pbserver serves PocketBase, used as a library, for the
// side-by-side benchmark: a "cats" collection and a "blogs" collection
// with the fields of limp-go's example blog (locales as JSON fields), an
// index on cat, a unique one on permalink and one on (status, created),
// seeded with -n posts of bench/internal/data, and a user
// bench@example.com (password -password) who may create posts.
//
// Rules mirror the example's permissions: anyone lists and views
// published posts (list and view rule status = 'published', as the
// example's ANON query_mod) and categories; a signed-in user creates posts
// owned by themselves (@request.auth.id != "" && @request.body.user =
// @request.auth.id). PocketBase's defaults are kept otherwise (request
// logs on unless -logs=false, rate limits off).
//
// It listens on a free loopback port and prints "READY http://ADDR" once
// seeded; SIGTERM or SIGINT stops it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/limp-go/limp/bench/internal/data"
)

// UserEmail is the benchmark's author account.
const UserEmail = "bench@example.com"

func main() {
	dir := flag.String("dir", "", "data directory (required)")
	n := flag.Int("n", 10000, "posts to seed")
	password := flag.String("password", "bench-password", "password of "+UserEmail)
	logs := flag.Bool("logs", true, "keep PocketBase's request logs (its default; false sets Logs.MaxDays = 0)")
	flag.Parse()
	if err := run(*dir, *n, *password, *logs); err != nil {
		fmt.Fprintln(os.Stderr, "pbserver:", err)
		os.Exit(1)
	}
}

func run(dir string, n int, password string, logs bool) error {
	if dir == "" {
		return errors.New("-dir is required")
	}
	app := pocketbase.NewWithConfig(pocketbase.Config{DefaultDataDir: dir, HideStartBanner: true})
	if err := app.Bootstrap(); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := app.RunAllMigrations(); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if !logs {
		app.Settings().Logs.MaxDays = 0
		if err := app.Save(app.Settings()); err != nil {
			return fmt.Errorf("settings: %w", err)
		}
	}
	t0 := time.Now()
	if err := setup(app, n, password); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pbserver: seeded %d posts in %s\n", n, time.Since(t0).Round(time.Millisecond))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	app.OnServe().BindFunc(func(e *core.ServeEvent) error {
		e.Listener = ln
		e.InstallerFunc = nil // no superuser installer: the benchmark needs none
		if err := e.Next(); err != nil {
			return err
		}
		fmt.Printf("%shttp://%s\n", data.ReadyPrefix, ln.Addr())
		return nil
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- apis.Serve(app, apis.ServeConfig{HttpAddr: ln.Addr().String()}) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		_ = ln.Close()
		return app.ResetBootstrapState()
	}
}

// setup creates the collections, the author and the seed posts.
func setup(app core.App, n int, password string) error {
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		return fmt.Errorf("users collection: %w", err)
	}
	published := types.Pointer("status = 'published'")
	public := types.Pointer("")

	cats := core.NewBaseCollection("cats")
	cats.ListRule, cats.ViewRule = public, public
	cats.Fields.Add(
		&core.JSONField{Name: "title", Required: true},
		&core.JSONField{Name: "desc"},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	if err := app.Save(cats); err != nil {
		return fmt.Errorf("cats collection: %w", err)
	}

	minViews := 0.0
	blogs := core.NewBaseCollection("blogs")
	blogs.ListRule, blogs.ViewRule = published, published
	blogs.CreateRule = types.Pointer(`@request.auth.id != "" && @request.body.user = @request.auth.id`)
	blogs.Fields.Add(
		&core.RelationField{Name: "user", CollectionId: users.Id, MaxSelect: 1},
		&core.SelectField{Name: "status", Values: []string{"draft", "pending", "rejected", "published"}, MaxSelect: 1},
		&core.JSONField{Name: "title", Required: true},
		&core.JSONField{Name: "subtitle"},
		&core.JSONField{Name: "content", Required: true},
		&core.TextField{Name: "permalink", Required: true, Pattern: `^[a-z0-9-]+$`},
		&core.RelationField{Name: "cat", CollectionId: cats.Id, MaxSelect: 1, Required: true},
		&core.JSONField{Name: "tags"},
		&core.NumberField{Name: "views", OnlyInt: true, Min: &minViews},
		&core.FileField{Name: "cover", MaxSelect: 1, MaxSize: 5242880, MimeTypes: []string{"image/jpeg", "image/png", "image/gif", "image/webp"}},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	blogs.AddIndex("idx_blogs_permalink", true, "permalink", "")
	blogs.AddIndex("idx_blogs_cat", false, "cat", "")
	blogs.AddIndex("idx_blogs_status_created", false, "status, created", "")
	if err := app.Save(blogs); err != nil {
		return fmt.Errorf("blogs collection: %w", err)
	}

	author := core.NewRecord(users)
	author.SetEmail(UserEmail)
	author.SetPassword(password)
	author.SetVerified(true)
	if err := app.Save(author); err != nil {
		return fmt.Errorf("author: %w", err)
	}

	return app.RunInTransaction(func(tx core.App) error {
		catIDs := make([]string, data.Cats)
		for i := range catIDs {
			r := core.NewRecord(cats)
			r.Set("title", data.Cat(i))
			if err := tx.Save(r); err != nil {
				return fmt.Errorf("cat %d: %w", i, err)
			}
			catIDs[i] = r.Id
		}
		for i := range n {
			r := core.NewRecord(blogs)
			for k, v := range data.Post(i) {
				r.Set(k, v)
			}
			r.Set("cat", catIDs[i%data.Cats])
			r.Set("user", author.Id)
			if err := tx.Save(r); err != nil {
				return fmt.Errorf("post %d: %w", i, err)
			}
		}
		return nil
	})
}
