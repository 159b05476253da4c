package limp_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

type proxyIndexPost struct {
	limp.Doc
	Status string `json:"status"`
	Views  int64  `json:"views"`
}

// TestProxyKeepsIndexes: a proxy shares its target's collection and its
// schema, compound indexes included, so syncing both at start keeps the
// target's compound index on the collection's table and its mirror on the
// embedded store's side table (a proxy with a schema of its own would
// drop them and rebuild the side table at every start).
func TestProxyKeepsIndexes(t *testing.T) {
	path := t.TempDir() + "/app.db"
	all := limp.Perms("*")
	post := limp.NewModule[proxyIndexPost]("post", limp.Methods{"read": {Permissions: all}, "create": {Permissions: all}})
	post.Indexes = [][]string{{"status", "-views"}}
	pub := limp.NewProxy("post_pub", "post", nil)
	app := limp.New(limptest.Config(t, limp.Config{Name: "proxyidx", Data: path}))
	app.Register("test", post, pub)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := app.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range []string{"limp_post_i_status_views_desc", "k_post_i_status_views_desc"} {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("index %s missing after a start with a proxy of the module", name)
		}
	}
}
