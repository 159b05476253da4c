package limp_test

import (
	"context"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

type v14RVault struct {
	limp.Doc
	Name string `json:"name"`
}

type v14RNote struct {
	limp.Doc
	Text  string   `json:"text"`
	Vault *limp.ID `json:"vault" limp:"ref=rvault"`
}

// TestVerify14RealmWatch: in realm mode a watcher of realm acme never
// learns anything of realm beta: not beta's notes — also after its
// session was rebuilt (any group write marks every session stale, and a
// watch then checks its permissions again) — nor, through the expansion
// of a reference an acme note holds, a beta document that read shows as
// null.
func TestVerify14RealmWatch(t *testing.T) {
	read := limp.Perms("read")
	vaults := limp.NewModule[v14RVault]("rvault", limp.Methods{"read": {Permissions: read}, "create": {Permissions: read}})
	notes := limp.NewModule[v14RNote]("rnote", limp.Methods{"read": {Permissions: read}, "watch": {Permissions: read, Watch: true},
		"create": {Permissions: read}})
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
	w := dial(t, ws+"/acme")
	signIn(t, w, "boss@acme.example", "pw")
	wid := w.send("rnote/watch", nil, nil)
	must(t, w.recv())
	next := func(what string) reply {
		t.Helper()
		r := must(t, w.recv())
		if r.Args["call_id"] != wid {
			t.Fatalf("%s: %v", what, r)
		}
		return r
	}
	// Expansion: an acme note naming beta's vault.
	bv := invokeID(t, app, "beta", "rvault/create", limp.M{"name": "beta's secret"})
	nid := invokeID(t, app, "acme", "rnote/create", limp.M{"text": "a1", "vault": bv})
	ev := next("acme note")
	rd := docs(t, must(t, w.call("rnote/read", []any{map[string]any{"_id": nid.Hex()}}, nil)))
	if len(rd) != 1 || rd[0]["vault"] != nil {
		t.Fatalf("read in acme expands beta's vault: %v", rd)
	}
	if d := ev.Args["docs"].([]any)[0].(map[string]any); d["vault"] != nil {
		t.Errorf("the acme watcher got beta's vault through its note: %v", d["vault"])
	}

	// An acme note naming acme's vault: expanded, as read expands it.
	av := invokeID(t, app, "acme", "rvault/create", limp.M{"name": "acme's own"})
	nid = invokeID(t, app, "acme", "rnote/create", limp.M{"text": "a0", "vault": av})
	ev = next("acme note with acme's vault")
	rd = docs(t, must(t, w.call("rnote/read", []any{map[string]any{"_id": nid.Hex()}}, nil)))
	if v, _ := rd[0]["vault"].(map[string]any); v == nil || v["name"] != "acme's own" {
		t.Fatalf("read in acme does not expand acme's vault: %v", rd)
	}
	if d := ev.Args["docs"].([]any)[0].(map[string]any); !reflect.DeepEqual(d, rd[0]) {
		t.Errorf("the acme watcher's event differs from read:\n event %v\n read  %v", d, rd[0])
	}

	// A group written anywhere: every session is rebuilt at its next use.
	invokeID(t, app, "beta", "group/create", limp.M{"name": limp.M{"en_AE": "g"}, "privileges": limp.M{}})
	invokeID(t, app, "acme", "rnote/create", limp.M{"text": "a2"})
	if ev := next("second acme note"); ev.Args["docs"].([]any)[0].(map[string]any)["text"] != "a2" {
		t.Fatalf("second acme note: %v", ev.Args)
	}
	invokeID(t, app, "beta", "rnote/create", limp.M{"text": "beta note"})
	invokeID(t, app, "acme", "rnote/create", limp.M{"text": "a3"})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		d := next("after the session was rebuilt").Args["docs"].([]any)[0].(map[string]any)
		if d["text"] == "a3" {
			return
		}
		t.Fatalf("the acme watcher got %v", d)
	}
}
