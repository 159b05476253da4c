package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// TestVerify1617Realms tries what TestTenants leaves out: the read cache
// (customer has a Cache set) keyed per realm, a session of one realm
// resumed at another, reserved realm names, and a deleted realm's name.
func TestVerify1617Realms(t *testing.T) {
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	ctx := context.Background()
	root := dial(t, s, limp.GlobalRealm)
	if _, err := root.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	mk := func(name string) (*client.Client, *client.Session) {
		t.Helper()
		email := "admin@" + name + ".example"
		h, err := client.Hash(client.HashLevel56, "email", email, "pw-"+name, limp.DefaultAnonToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := root.Call(ctx, "realm/create", nil, map[string]any{"name": name,
			"user": map[string]any{"name": map[string]any{"en_AE": name}, "email": email, "email_hash": h}}); err != nil {
			t.Fatalf("realm/create %s: %v", name, err)
		}
		c := dial(t, s, name)
		sess, err := c.Auth(ctx, "email", email, "pw-"+name)
		if err != nil {
			t.Fatal(err)
		}
		return c, sess
	}
	acme, acmeSess := mk("acme")
	beta, _ := mk("beta")

	// Cache: the same query in two realms never shares an entry.
	globex := createdID(t)(acme.Call(ctx, "customer/create", nil, map[string]any{"name": "Globex"}))
	for i := 0; i < 2; i++ { // fill, then hit
		r, err := acme.Call(ctx, "customer/read", []any{}, nil)
		if err != nil || fmt.Sprint(r.Args["count"]) != "1" {
			t.Fatalf("acme reads customers: %v %v", err, r)
		}
	}
	r, err := beta.Call(ctx, "customer/read", []any{}, nil)
	if err != nil || fmt.Sprint(r.Args["count"]) != "0" {
		t.Errorf("beta reads acme's cached customers: %v %v", err, r.Args)
	}
	// A write in beta does not leave acme's stale view, and vice versa.
	if _, err := beta.Call(ctx, "customer/create", nil, map[string]any{"name": "Initech"}); err != nil {
		t.Fatal(err)
	}
	if r, err := beta.Call(ctx, "customer/read", []any{}, nil); err != nil || fmt.Sprint(r.Args["count"]) != "1" {
		t.Errorf("beta after its write: %v %v", err, r)
	}
	if r, err := acme.Call(ctx, "customer/read", []any{}, nil); err != nil || fmt.Sprint(r.Args["count"]) != "1" {
		t.Errorf("acme after beta's write: %v %v", err, r)
	}

	// The Go client's FileURL/Download reach the realm's HTTP routes.
	png := pngBytes(t)
	if err := acme.Upload(ctx, "shot", 0, client.File{Name: "shot.png", Type: "image/png", Size: int64(len(png)),
		LastModified: time.UnixMilli(1578220000000)}, bytes.NewReader(png)); err != nil {
		t.Fatal(err)
	}
	tid := createdID(t)(acme.Call(ctx, "ticket/create", nil, map[string]any{"title": "t", "customer": globex, "shot": []any{map[string]any{}}}))
	if u, want := acme.FileURL("ticket", tid, "shot", "shot.png", ""), s.URL+"/acme/ticket/retrieve_file/"+tid+"/shot/shot.png"; u != want {
		t.Errorf("FileURL in realm acme = %s, want %s", u, want)
	}
	var got bytes.Buffer
	if _, _, err := acme.Download(ctx, "ticket", tid, "shot", "shot.png", "", &got); err != nil || !bytes.Equal(got.Bytes(), png) {
		t.Errorf("Download in realm acme: %v (%d bytes)", err, got.Len())
	}

	// Expansion cache across realms: beta reads its ticket (expanding its
	// customer), then acme reads a ticket naming beta's customer: the
	// reference must stay unexpanded, whichever realm filled the cache.
	bcust := createdID(t)(beta.Call(ctx, "customer/create", nil, map[string]any{"name": "Umbrella"}))
	btick := createdID(t)(beta.Call(ctx, "ticket/create", nil, map[string]any{"title": "b", "customer": bcust}))
	stray := createdID(t)(acme.Call(ctx, "ticket/create", nil, map[string]any{"title": "stray", "customer": bcust}))
	for i := 0; i < 2; i++ {
		r, err := beta.Call(ctx, "ticket/read", []any{map[string]any{"_id": btick}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := r.Args["docs"].([]any)[0].(map[string]any)["customer"].(map[string]any); c == nil || c["name"] != "Umbrella" {
			t.Fatalf("beta's own ticket does not expand: %v", r.Args["docs"])
		}
		r, err = acme.Call(ctx, "ticket/read", []any{map[string]any{"_id": stray}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c := r.Args["docs"].([]any)[0].(map[string]any)["customer"]; c != nil {
			if m, ok := c.(map[string]any); ok && m["name"] != nil {
				t.Errorf("round %d: acme's stray ticket expands beta's customer: %v", i, c)
			}
		}
	}

	// acme's session resumed at beta is unknown there.
	other := dial(t, s, "beta")
	if _, err := other.Reauth(ctx, acmeSess.ID, acmeSess.Token); err == nil {
		t.Errorf("acme's session reauthed at beta")
	}
	// ... and at the global realm.
	glob := dial(t, s, limp.GlobalRealm)
	if _, err := glob.Reauth(ctx, acmeSess.ID, acmeSess.Token); err == nil {
		t.Errorf("acme's session reauthed at __global")
	}

	// Reserved and invalid names are refused with a code.
	for _, name := range []string{limp.GlobalRealm, "__purge__x", "ACME", "acme", "", "a/b", "ws", "console", "health"} {
		h, _ := client.Hash(client.HashLevel56, "email", "x@y.example", "pw", limp.DefaultAnonToken)
		_, err := root.Call(ctx, "realm/create", nil, map[string]any{"name": name,
			"user": map[string]any{"name": map[string]any{"en_AE": "x"}, "email": "x@y.example", "email_hash": h}})
		if name == "ws" || name == "console" || name == "health" {
			// Names that are also top-level routes must still be usable,
			// or refused: either way the realm must answer at /ws/NAME.
			if err == nil {
				c := dial(t, s, name)
				if _, err := c.Call(ctx, "customer/read", []any{}, nil); err != nil {
					t.Errorf("realm %q made but unusable: %v", name, err)
				}
			}
			continue
		}
		if err == nil {
			t.Errorf("realm/create %q accepted", name)
		}
	}

	// Delete beta: its name is refused at once, and so is its purge name.
	rr, err := root.Call(ctx, "realm/read", []any{map[string]any{"name": "beta"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := rr.Args["docs"].([]any)[0].(map[string]any)["_id"]
	if _, err := root.Call(ctx, "realm/delete", []any{map[string]any{"_id": id}}, nil); err != nil {
		t.Fatalf("realm/delete: %v", err)
	}
	if _, err := beta.Call(ctx, "customer/read", []any{}, nil); err == nil {
		t.Errorf("a deleted realm's connection still calls")
	}
	for _, name := range []string{"beta", "__purge__beta"} {
		if st, body := get(t, s.URL+"/"+name+"/ticket/open", nil); st != 400 || code(body) != limp.CodeInvalidRealm {
			t.Errorf("deleted realm %s over HTTP: %d %s", name, st, body)
		}
	}
}

// TestVerify1617RealmAdminJobs: jobs are the app's (run with the system
// session in __global): a realm's admin, who holds every privilege in
// their realm, must not run them with job_run/run_now nor read their
// history; ADMIN at __global may.
func TestVerify1617RealmAdminJobs(t *testing.T) {
	ran := make(chan struct{}, 8)
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{Jobs: []limp.Job{{Name: "nightly", Schedule: "0 3 * * *",
		Func: func(context.Context, *limp.JobContext) error { ran <- struct{}{}; return nil }}}})))
	ctx := context.Background()
	root := dial(t, s, limp.GlobalRealm)
	if _, err := root.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	h, _ := client.Hash(client.HashLevel56, "email", "admin@acme.example", "pw", limp.DefaultAnonToken)
	if _, err := root.Call(ctx, "realm/create", nil, map[string]any{"name": "acme",
		"user": map[string]any{"name": map[string]any{"en_AE": "a"}, "email": "admin@acme.example", "email_hash": h}}); err != nil {
		t.Fatal(err)
	}
	acme := dial(t, s, "acme")
	if _, err := acme.Auth(ctx, "email", "admin@acme.example", "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Call(ctx, "job_run/run_now", nil, map[string]any{"job": "nightly"}); err != nil {
		t.Fatalf("ADMIN run_now: %v", err)
	}
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("ADMIN's run_now did not run the job")
	}
	_, err := acme.Call(ctx, "job_run/run_now", nil, map[string]any{"job": "nightly"})
	if client.CodeOf(err) != limp.CodeForbidden {
		t.Errorf("a realm admin's job_run/run_now: %v, want 403 %s", err, limp.CodeForbidden)
	}
	if err == nil {
		select {
		case <-ran:
			t.Error("a realm admin ran an app job (system session) with job_run/run_now")
		case <-time.After(2 * time.Second):
			t.Error("a realm admin's job_run/run_now was accepted")
		}
	}
	if r, err := acme.Call(ctx, "job_run/read", []any{}, nil); err == nil && fmt.Sprint(r.Args["count"]) != "0" {
		t.Errorf("a realm admin reads the app's job history: %v", r.Args["docs"])
	}
	// ADMIN reads the history of its run_now.
	if r, err := root.Call(ctx, "job_run/read", []any{map[string]any{"job": "nightly"}}, nil); err != nil || fmt.Sprint(r.Args["count"]) != "1" {
		t.Errorf("ADMIN reads the job history: %v %v", err, r)
	}
}

// TestVerify1617RealmDocUpdate: a realm's admin updates its realm doc
// but never its name (immutable: connections and documents name it).
func TestVerify1617RealmDocUpdate(t *testing.T) {
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	ctx := context.Background()
	root := dial(t, s, limp.GlobalRealm)
	if _, err := root.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	h, _ := client.Hash(client.HashLevel56, "email", "admin@acme.example", "pw", limp.DefaultAnonToken)
	if _, err := root.Call(ctx, "realm/create", nil, map[string]any{"name": "acme",
		"user": map[string]any{"name": map[string]any{"en_AE": "a"}, "email": "admin@acme.example", "email_hash": h}}); err != nil {
		t.Fatal(err)
	}
	acme := dial(t, s, "acme")
	if _, err := acme.Auth(ctx, "email", "admin@acme.example", "pw"); err != nil {
		t.Fatal(err)
	}
	r, err := acme.Call(ctx, "realm/read", []any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := r.Args["docs"].([]any)[0].(map[string]any)["_id"]
	_, _ = acme.Call(ctx, "realm/update", []any{map[string]any{"_id": id}}, map[string]any{"name": "evil"})
	_, _ = root.Call(ctx, "realm/update", []any{map[string]any{"_id": id}}, map[string]any{"name": "evil2"})
	if st, body := get(t, s.URL+"/acme/ticket/open", nil); st != 200 {
		t.Errorf("acme after a rename attempt: %d %s", st, body)
	}
	if r, err := acme.Call(ctx, "customer/read", []any{}, nil); err != nil {
		t.Errorf("acme's connection after a rename attempt: %v %v", err, r)
	}
}
