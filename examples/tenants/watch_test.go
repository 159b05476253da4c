package main

import (
	"context"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// TestWatchStaysInRealm: a watcher learns nothing of another realm's
// documents (issue 14 with issue 16's rule): a customer created in beta
// never reaches acme's watch, one created in acme does.
func TestWatchStaysInRealm(t *testing.T) {
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	root := dial(t, s, limp.GlobalRealm)
	if _, err := root.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	admins := map[string]*client.Client{}
	for _, name := range []string{"acme", "beta"} {
		email := "admin@" + name + ".example"
		h, err := client.Hash(client.HashLevel56, "email", email, "pw-"+name, limp.DefaultAnonToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := root.Call(ctx, "realm/create", nil, map[string]any{"name": name,
			"user": map[string]any{"name": map[string]any{"en_AE": name + " admin"}, "email": email, "email_hash": h}}); err != nil {
			t.Fatalf("realm/create %s: %v", name, err)
		}
		admins[name] = dial(t, s, name)
		if _, err := admins[name].Auth(ctx, "email", email, "pw-"+name); err != nil {
			t.Fatal(err)
		}
	}
	w, err := admins["acme"].Watch(ctx, "customer/watch", nil, nil)
	if err != nil {
		t.Fatalf("customer/watch: %v", err)
	}
	if _, err := admins["beta"].Call(ctx, "customer/create", nil, map[string]any{"name": "Beta only"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admins["acme"].Call(ctx, "customer/create", nil, map[string]any{"name": "Acme only"}); err != nil {
		t.Fatal(err)
	}
	// Events arrive in commit order: the first one must be acme's.
	r, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("watch event: %v", err)
	}
	docs, _ := r.Args["docs"].([]any)
	if r.Args["oper"] != "create" || len(docs) != 1 || docs[0].(map[string]any)["name"] != "Acme only" {
		t.Fatalf("acme's watcher got %+v, want only acme's customer", r.Args)
	}
}
