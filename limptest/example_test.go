package limptest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

type Note struct {
	limp.OwnedDoc
	Title string `json:"title"`
}

// Serve runs an app on the in-memory store over loopback, for examples and
// tools; tests use Start, which also shuts it down when the test ends.
// Here ANON creates and reads notes over the websocket.
func ExampleServe() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	notes := limp.NewModule[Note]("note", limp.Methods{
		"read":   {Permissions: limp.Perms("*")},
		"create": {Permissions: limp.Perms("*")},
	})
	app := limp.New(limptest.ExampleConfig(limp.Config{Name: "notes", AnonPrivileges: limp.Privileges{"note": {"read", "create"}}}))
	app.Register("notes", notes)
	srv, err := limptest.Serve(ctx, app)
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	c, err := srv.Dial(ctx, nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	res, err := c.Call(ctx, "note/create", nil, map[string]any{"title": "first"})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Msg)
	r, err := client.Read[Note](ctx, c, "note", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Total, r.Docs[0].Title)
	// Output:
	// Created 1 docs.
	// 1 first
}
