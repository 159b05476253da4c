package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// tenant is one realm of the test: its admin's connection and session,
// and the ids of what it created.
type tenant struct {
	name     string
	admin    *client.Client
	sess     *client.Session
	customer string
	ticket   string
}

func dial(t *testing.T, s *limptest.Server, realm string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.WS+"/"+realm, nil)
	if err != nil {
		t.Fatalf("dial realm %s: %v", realm, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func createdID(t *testing.T) func(*client.Response, error) string {
	return func(r *client.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		docs, _ := r.Args["docs"].([]any)
		if len(docs) != 1 {
			t.Fatalf("create reply %+v", r.Args)
		}
		return docs[0].(map[string]any)["_id"].(string)
	}
}

func pngBytes(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func get(t *testing.T, url string, h http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, b
}

func code(body []byte) string {
	var v struct {
		Args struct {
			Code string `json:"code"`
		} `json:"args"`
	}
	_ = json.Unmarshal(body, &v)
	return v.Args.Code
}

// TestTenants runs the example with two realms: ADMIN creates them, each
// realm admin signs in and fills its realm, and neither realm can see,
// join, group, search, update or retrieve the other's documents.
func TestTenants(t *testing.T) {
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	ctx := context.Background()

	root := dial(t, s, limp.GlobalRealm)
	if _, err := root.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatalf("ADMIN signs in at the global realm: %v", err)
	}
	tenants := []*tenant{{name: "acme"}, {name: "beta"}}
	for _, tn := range tenants {
		email := "admin@" + tn.name + ".example"
		h, err := client.Hash(client.HashLevel56, "email", email, "pw-"+tn.name, limp.DefaultAnonToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := root.Call(ctx, "realm/create", nil, map[string]any{"name": tn.name,
			"user": map[string]any{"name": map[string]any{"en_AE": tn.name + " admin"}, "email": email, "email_hash": h}}); err != nil {
			t.Fatalf("realm/create %s: %v", tn.name, err)
		}
		// The realm admin signs in at once, in their realm only.
		tn.admin = dial(t, s, tn.name)
		if tn.sess, err = tn.admin.Auth(ctx, "email", email, "pw-"+tn.name); err != nil {
			t.Fatalf("realm admin of %s signs in: %v", tn.name, err)
		}
	}
	acme, beta := tenants[0], tenants[1]
	// Same customer name in both realms: unique per realm.
	for _, tn := range tenants {
		tn.customer = createdID(t)(tn.admin.Call(ctx, "customer/create", nil, map[string]any{"name": "Globex"}))
	}
	if _, err := acme.admin.Call(ctx, "customer/create", nil, map[string]any{"name": "Globex"}); client.CodeOf(err) != "TENANTS_CUSTOMER_DUPLICATE_DOC" {
		t.Fatalf("duplicate in one realm: %v", err)
	}
	for i, tn := range tenants {
		if err := tn.admin.Upload(ctx, "shot", 0, client.File{Name: "shot.png", Type: "image/png", Size: int64(len(pngBytes(t))),
			LastModified: time.UnixMilli(1578220000000)}, bytes.NewReader(pngBytes(t))); err != nil {
			t.Fatalf("upload: %v", err)
		}
		tn.ticket = createdID(t)(tn.admin.Call(ctx, "ticket/create", nil, map[string]any{"title": "printer on fire " + tn.name,
			"customer": tn.customer, "priority": i + 1, "shot": []any{map[string]any{}}}))
	}
	// acme files a ticket naming beta's customer: the reference leads
	// nowhere.
	stray := createdID(t)(acme.admin.Call(ctx, "ticket/create", nil, map[string]any{"title": "stray", "customer": beta.customer}))

	total := func(tn *tenant, module string, q any) (int64, []map[string]any) {
		t.Helper()
		r, err := client.Read[map[string]any](ctx, tn.admin, module, q)
		if err != nil {
			t.Fatalf("%s reads %s %v: %v", tn.name, module, q, err)
		}
		return int64(r.Total), r.Docs
	}
	for _, c := range []struct {
		name string
		tn   *tenant
		q    any
		want int64
	}{
		{"all own tickets", acme, nil, 2},
		{"all own tickets", beta, nil, 1},
		{"the other's ticket by _id", acme, []any{map[string]any{"_id": beta.ticket}}, 0},
		{"the other's ticket by realm", acme, []any{map[string]any{"realm": "beta"}}, 0},
		{"search", acme, []any{map[string]any{"$search": "printer"}}, 1},
		{"search the other's words", acme, []any{map[string]any{"$search": "beta"}}, 0},
		{"join by the other's customer name", acme, []any{map[string]any{"customer.name": "Globex"}}, 1},
		{"join by the other's customer id", acme, []any{map[string]any{"customer._id": beta.customer}}, 0},
		{"join on a stray reference", acme, []any{map[string]any{"_id": stray, "customer.tier": 1}}, 0},
	} {
		if n, docs := total(c.tn, "ticket", c.q); n != c.want {
			t.Errorf("%s (%s): total %d, want %d: %v", c.name, c.tn.name, n, c.want, docs)
		}
	}
	// Expansion: the stray reference expands to nothing.
	if _, docs := total(acme, "ticket", []any{map[string]any{"_id": stray}}); len(docs) != 1 || docs[0]["customer"] != nil {
		t.Errorf("stray reference expanded: %v", docs)
	}
	// $group counts only the realm's own documents.
	r, err := acme.admin.Call(ctx, "ticket/read", []any{map[string]any{"$group": []any{map[string]any{"by": "priority", "count": 5}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	for _, b := range r.Args["groups"].(map[string]any)["priority"].([]any) {
		n, _ := b.(map[string]any)["count"].(json.Number).Int64()
		sum += int(n)
	}
	if sum != 2 {
		t.Errorf("acme's $group counts %d docs, want 2: %v", sum, r.Args["groups"])
	}
	// Writes never cross: update and delete of the other's ticket match
	// nothing, and a doc cannot be moved to another realm.
	if r, err := acme.admin.Call(ctx, "ticket/update", []any{map[string]any{"_id": beta.ticket}}, map[string]any{"status": "closed"}); err != nil || fmt.Sprint(r.Args["count"]) != "0" {
		t.Errorf("acme updates beta's ticket: %v %v", err, r)
	}
	if r, err := acme.admin.Call(ctx, "ticket/delete", []any{map[string]any{"_id": beta.ticket}}, nil); err != nil || fmt.Sprint(r.Args["count"]) != "0" {
		t.Errorf("acme deletes beta's ticket: %v %v", err, r)
	}
	if _, err := acme.admin.Call(ctx, "ticket/update", []any{map[string]any{"_id": acme.ticket}}, map[string]any{"realm": "beta"}); err != nil {
		t.Fatalf("update realm: %v", err)
	}
	if n, _ := total(beta, "ticket", nil); n != 1 {
		t.Errorf("a ticket moved into beta: beta has %d", n)
	}
	if n, _ := total(acme, "ticket", []any{map[string]any{"_id": acme.ticket}}); n != 1 {
		t.Errorf("acme's ticket left acme")
	}
	// Users: each realm admin sees only their realm's users.
	if n, docs := total(acme, "user", nil); n != 1 || docs[0]["email"] != "admin@acme.example" {
		t.Errorf("acme reads users: %d %v", n, docs)
	}
	// Realms: a realm admin sees their own realm only and cannot make one.
	if n, _ := total(acme, "realm", nil); n != 1 {
		t.Errorf("acme reads %d realms", n)
	}
	if n, _ := total(&tenant{name: "global", admin: root}, "realm", nil); n != 3 {
		t.Errorf("ADMIN reads %d realms, want 3", n)
	}
	if _, err := acme.admin.Call(ctx, "realm/create", nil, map[string]any{"name": "evil", "user": map[string]any{}}); client.CodeOf(err) != limp.CodeForbidden {
		t.Errorf("a realm admin creates a realm: %v", err)
	}
	// A realm's credentials are unknown elsewhere.
	other := dial(t, s, "beta")
	if _, err := other.Auth(ctx, "email", "admin@acme.example", "pw-acme"); client.CodeOf(err) != limp.CodeInvalidCreds {
		t.Errorf("acme's admin signs in at beta: %v", err)
	}

	// HTTP: realm-prefixed routes, file retrieval, sessions per realm.
	xauth := func(tn *tenant) http.Header {
		return http.Header{"X-Auth-Bearer": {tn.sess.UserID()}, "X-Auth-Token": {tn.sess.Token}}
	}
	if st, body := get(t, s.URL+"/acme/ticket/open", nil); st != 200 || !strings.Contains(string(body), `"count":2`) {
		t.Errorf("GET /acme/ticket/open: %d %s", st, body)
	}
	file := func(realm, id string) string {
		return s.URL + "/" + realm + "/ticket/retrieve_file/" + id + "/shot/shot.png"
	}
	if st, body := get(t, file("acme", acme.ticket), xauth(acme)); st != 200 || !bytes.Equal(body, pngBytes(t)) {
		t.Errorf("acme retrieves its file: %d", st)
	}
	if st, _ := get(t, file("acme", beta.ticket), xauth(acme)); st != 404 {
		t.Errorf("acme retrieves beta's file: %d", st)
	}
	if st, body := get(t, file("beta", beta.ticket), xauth(acme)); st != 403 {
		t.Errorf("acme's session at beta: %d %s", st, body)
	}
	// An unknown realm is refused: HTTP with a code, the websocket with
	// LIMP's in-band 1008 CORE_CONN_CLOSED.
	if st, body := get(t, s.URL+"/nowhere/ticket/open", nil); st != 400 || code(body) != limp.CodeInvalidRealm {
		t.Errorf("unknown realm over HTTP: %d %s", st, body)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if c, err := client.Dial(dctx, s.WS+"/nowhere", nil); err == nil {
		_ = c.Close()
		t.Error("dialled an unknown realm")
	} else if !strings.Contains(err.Error(), "CORE_CONN_CLOSED") && client.CodeOf(err) != limp.CodeConnClosed {
		t.Errorf("unknown realm over the websocket: %v", err)
	}
}
