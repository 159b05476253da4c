package limp_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
)

type ovf struct {
	limp.Doc
	N int64 `json:"n"`
}

// TestUpdateIntOverflow: $add or $multiply past a 64-bit integer is the
// client's 400 INVALID_ATTR (as MongoDB refuses it), not a 500, and
// changes nothing, on the embedded store and on MongoDB (when
// LIMP_TEST_MONGO_URI is set).
func TestUpdateIntOverflow(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testUpdateIntOverflow(t, "") })
	t.Run("mongo", func(t *testing.T) { testUpdateIntOverflow(t, mongotest.URI(t)) })
}

func testUpdateIntOverflow(t *testing.T, uri string) {
	m := limp.NewModule[ovf]("ovf", limp.Methods{"read": {Permissions: limp.Perms("*")}, "create": {Permissions: limp.Perms("*")}, "update": {Permissions: limp.Perms("*")}})
	s := startApp(t, limp.Config{Name: "ovf", Data: uri, QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1}, m)
	c := dial(t, s.WS)
	must(t, c.call("ovf/create", nil, map[string]any{"n": json.Number("9223372036854775807")}))
	must(t, c.call("ovf/create", nil, map[string]any{"n": 1}))
	q := []any{map[string]any{"n": map[string]any{"$gt": 0}}}
	for _, d := range []map[string]any{{"n": map[string]any{"$add": 1}}, {"n": map[string]any{"$multiply": 2}}} {
		r := c.call("ovf/update", q, d)
		if r.Status != 400 || r.code() != "TEST_OVF_INVALID_ATTR" {
			t.Errorf("update %v: %d %s %q, want 400 TEST_OVF_INVALID_ATTR", d, r.Status, r.code(), r.Msg)
		}
	}
	c.send("ovf/read", []any{map[string]any{"$sort": map[string]any{"n": 1}}}, nil)
	_, data, err := c.ws.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Args struct{ Docs []struct{ N json.Number } }
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil || len(got.Args.Docs) != 2 || got.Args.Docs[0].N != "1" || got.Args.Docs[1].N != "9223372036854775807" {
		t.Errorf("after refused updates: %s", data)
	}
}
