// Command limpserver serves limp-go's example blog (examples/blog, copied
// in example.go) for the side-by-side benchmark: the embedded store in
// -dir, quotas off, an extra compound index on (status, create_time desc)
// like PocketBase's (status, created), seeded with -n posts of
// bench/internal/data as the system user, and (unless -analytics) without
// the example's per-read analytics. It listens on a free loopback
// port and prints "READY ws://ADDR/ws" once seeded; SIGTERM or SIGINT
// stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/bench/internal/data"
)

func main() {
	dir := flag.String("dir", "", "data directory (required)")
	n := flag.Int("n", 10000, "posts to seed")
	analytics := flag.Bool("analytics", false, "keep the example's BLOG_READ analytics (one occurrence appended per read)")
	flag.Parse()
	if err := run(*dir, *n, *analytics); err != nil {
		fmt.Fprintln(os.Stderr, "limpserver:", err)
		os.Exit(1)
	}
}

func run(dir string, n int, analytics bool) error {
	if dir == "" {
		return fmt.Errorf("-dir is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	app := NewApp(limp.Config{
		Data:         filepath.Join(dir, "blog.db"),
		QuotaIPMin:   -1,
		QuotaAnonMin: -1,
		QuotaAuthMin: -1,
		DataIndexes: []limp.DataIndex{{Collection: "blog", Keys: []limp.IndexKey{
			{Path: "status"}, {Path: "create_time", Desc: true}}}},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err := app.Start(ctx); err != nil {
		return err
	}
	if !analytics {
		// The example records one BLOG_READ occurrence per read, appended
		// to one analytics document per (user, event): under load that
		// document grows without bound and rewriting it dominates the
		// server's time. Off by default so that the race measures reads;
		// -analytics keeps it.
		app.Module("blog").Analytics = nil
	}
	t0 := time.Now()
	if err := seed(ctx, app, n); err != nil {
		_ = app.Shutdown(context.Background())
		return err
	}
	fmt.Fprintf(os.Stderr, "limpserver: seeded %d posts in %s\n", n, time.Since(t0).Round(time.Millisecond))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = app.Shutdown(context.Background())
		return err
	}
	fmt.Printf("%sws://%s/ws\n", data.ReadyPrefix, ln.Addr())
	return app.Serve(ctx, ln)
}

// seed creates data.Cats categories and n posts through the modules'
// create methods as the system user (the admin permission set: status
// and views as given).
func seed(ctx context.Context, app *limp.App, n int) error {
	sys := app.SystemSession()
	create := func(endpoint string, doc limp.M) (any, error) {
		res, err := app.Invoke(ctx, sys, endpoint, nil, doc)
		if err != nil {
			return nil, fmt.Errorf("seed %s: %w", endpoint, err)
		}
		if docs, ok := res.Args["docs"].([]any); ok && len(docs) == 1 {
			if d, ok := docs[0].(limp.M); ok && d["_id"] != nil {
				return d["_id"], nil
			}
		}
		return nil, fmt.Errorf("seed %s: reply has no docs[0]._id: %v", endpoint, res.Args)
	}
	cats := make([]any, data.Cats)
	for i := range cats {
		id, err := create("blog_cat/create", limp.M{"title": data.Cat(i)})
		if err != nil {
			return err
		}
		cats[i] = id
	}
	for i := range n {
		doc := limp.M(data.Post(i))
		doc["cat"] = cats[i%data.Cats]
		if _, err := create("blog/create", doc); err != nil {
			return fmt.Errorf("post %d: %w", i, err)
		}
	}
	return nil
}
