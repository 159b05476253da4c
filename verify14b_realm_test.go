package limp_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// TestVerify14bRealmRefWatch: realm acme's note references beta's vault
// by its _id (the id leaked or guessed). An acme watch through the
// reference ("vault.name") never matches it, as read does not, while
// beta renames its vault to the watched name; acme's own vault renamed to
// it does make acme's note enter.
func TestVerify14bRealmRefWatch(t *testing.T) {
	rw := limp.Perms("read")
	vaults := limp.NewModule[v14RVault]("rvault", limp.Methods{"read": {Permissions: rw}, "create": {Permissions: rw},
		"update": {Permissions: rw}})
	notes := limp.NewModule[v14RNote]("rnote", limp.Methods{"read": {Permissions: rw}, "watch": {Permissions: rw, Watch: true},
		"create": {Permissions: rw}})
	app := limp.New(limptest.Config(t, limp.Config{Name: "realms", Realm: true, Locale: "en_AE", Locales: []string{"en_AE"},
		QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1}))
	app.Register("test", vaults, notes)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Shutdown(context.Background()) })
	for _, r := range [][2]string{{"acme", "boss@acme.example"}, {"beta", "boss@beta.example"}} {
		if err := newRealm(t, app, r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	acme, beta := dial(t, ws+"/acme"), dial(t, ws+"/beta")
	signIn(t, acme, "boss@acme.example", "pw")
	signIn(t, beta, "boss@beta.example", "pw")
	bv := docs(t, must(t, beta.call("rvault/create", nil, map[string]any{"name": "b"})))[0]["_id"].(string)
	av := docs(t, must(t, acme.call("rvault/create", nil, map[string]any{"name": "a"})))[0]["_id"].(string)
	r := acme.call("rnote/create", nil, map[string]any{"text": "foreign", "vault": bv})
	if r.Status != 200 {
		t.Logf("a reference to another realm's document is refused: %d %s", r.Status, r.code())
	}
	an := docs(t, must(t, acme.call("rnote/create", nil, map[string]any{"text": "own", "vault": av})))[0]["_id"].(string)
	w := dial(t, ws+"/acme")
	signIn(t, w, "boss@acme.example", "pw")
	q := []any{map[string]any{"vault.name": "x"}}
	w.send("rnote/watch", q, nil)
	must(t, w.recv())
	must(t, beta.call("rvault/update", []any{map[string]any{"_id": bv}}, map[string]any{"name": "x"}))
	time.Sleep(300 * time.Millisecond)
	quiet(t, w, "after beta renamed its vault")
	if d := docs(t, must(t, acme.call("rnote/read", q, nil))); len(d) != 0 {
		t.Fatalf("acme reads through beta's vault: %v", d)
	}
	must(t, acme.call("rvault/update", []any{map[string]any{"_id": av}}, map[string]any{"name": "x"}))
	if oper, d := evOf(t, w); oper != "create" || d["_id"] != an {
		t.Fatalf("acme's own vault renamed: %s %v", oper, d)
	}
	quiet(t, w, "after acme's note entered")
}
