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

// TestCacheStaysInRealm: customer reads are cached, and one realm's cached
// reply never answers another realm's identical read.
func TestCacheStaysInRealm(t *testing.T) {
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	root := dial(t, s, limp.GlobalRealm)
	if _, err := root.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{"acme": "Acme only", "beta": "Beta only"}
	admins := map[string]*client.Client{}
	for realm, customer := range names {
		email := "admin@" + realm + ".example"
		h, err := client.Hash(client.HashLevel56, "email", email, "pw-"+realm, limp.DefaultAnonToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := root.Call(ctx, "realm/create", nil, map[string]any{"name": realm,
			"user": map[string]any{"name": map[string]any{"en_AE": realm + " admin"}, "email": email, "email_hash": h}}); err != nil {
			t.Fatalf("realm/create %s: %v", realm, err)
		}
		c := dial(t, s, realm)
		if _, err := c.Auth(ctx, "email", email, "pw-"+realm); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Call(ctx, "customer/create", nil, map[string]any{"name": customer}); err != nil {
			t.Fatal(err)
		}
		admins[realm] = c
	}
	for _, realm := range []string{"acme", "beta", "acme", "beta"} { // the second round hits the cache
		r, err := client.Read[map[string]any](ctx, admins[realm], "customer", nil)
		if err != nil {
			t.Fatalf("%s reads customers: %v", realm, err)
		}
		if len(r.Docs) != 1 || r.Docs[0]["name"] != names[realm] {
			t.Fatalf("%s read %v, want only %q", realm, r.Docs, names[realm])
		}
	}
}
