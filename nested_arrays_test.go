package limp_test

import (
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
)

type NestItem struct {
	limp.Doc
	Meta any `json:"meta"`
}

// TestNestedArraysOnMongo: an ANY value holding a list inside a list is
// stored where the MongoDB server supports it, and answered 501
// CORE_STORE_UNSUPPORTED naming "nested arrays" (never a 500) where the
// capability probe found it missing (FerretDB v1.x); the connection keeps
// working either way.
func TestNestedArraysOnMongo(t *testing.T) {
	uri := mongotest.URI(t)
	mod := limp.NewModule[NestItem]("nestitem", limp.Methods{
		"read": {Permissions: limp.Perms("read")}, "create": {Permissions: limp.Perms("create")},
		"update": {Permissions: limp.Perms("update")},
	})
	s := startApp(t, limp.Config{Name: "nested", Data: uri, AnonPrivileges: limp.Privileges{"nestitem": {"*"}},
		QuotaIPMin: -1, QuotaAnonMin: -1}, mod)
	c := dial(t, s.WS)
	nested := []any{[]any{1.0, 2.0}}
	r := c.call("nestitem/create", nil, map[string]any{"meta": nested})
	switch {
	case r.Status == 501:
		t.Log("the server lacks nested arrays: 501")
		if r.code() != limp.CodeStoreUnsupported || r.Args["feature"] != "nested arrays" {
			t.Fatalf("create nested: %d %s %v, want 501 %s naming nested arrays", r.Status, r.code(), r.Args, limp.CodeStoreUnsupported)
		}
		if d := docs(t, must(t, c.call("nestitem/read", nil, nil))); len(d) != 0 {
			t.Errorf("a refused create stored %v", d)
		}
		id := docs(t, must(t, c.call("nestitem/create", nil, map[string]any{"meta": []any{1.0}})))[0]["_id"]
		r = c.call("nestitem/update", []any{map[string]any{"_id": id}}, map[string]any{"meta": nested})
		if r.Status != 501 || r.code() != limp.CodeStoreUnsupported || r.Args["feature"] != "nested arrays" {
			t.Fatalf("update nested: %d %s %v, want 501 naming nested arrays", r.Status, r.code(), r.Args)
		}
	case r.Status == 200:
		d := docs(t, must(t, c.call("nestitem/read", nil, nil)))
		if len(d) != 1 {
			t.Fatalf("read back %v", d)
		}
		if got, ok := d[0]["meta"].([]any); !ok || len(got) != 1 {
			t.Errorf("meta = %#v, want %v", d[0]["meta"], nested)
		}
	default:
		t.Fatalf("create nested: %d %s %q", r.Status, r.code(), r.Msg)
	}
}
