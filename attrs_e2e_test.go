package limp_test

import (
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
)

type Gadget struct {
	limp.OwnedDoc
	Name   string   `json:"name" limp:"unique"`
	Kind   string   `json:"kind"`
	Serial string   `json:"serial"`
	Qty    int64    `json:"qty" limp:"min=0,max=100"`
	Price  float64  `json:"price" limp:"default=1.5"`
	Tags   []string `json:"tags" limp:"default=[],max=3"`
	Email  *string  `json:"email" limp:"type=EMAIL"`
	When   string   `json:"when" limp:"type=DATETIME,default=$__datetime"`
	Meta   struct {
		Color string `json:"color"`
		Size  *int64 `json:"size"`
	} `json:"meta"`
	Parts []struct {
		Name string `json:"name"`
		Qty  int64  `json:"qty"`
	} `json:"parts" limp:"default=[]"`
}

func gadgets(t testing.TB) (*limp.Module, *wsClient) {
	m := limp.NewModule[Gadget]("gadget", limp.Methods{
		"read":   {Permissions: limp.Perms("*")},
		"create": {Permissions: limp.Perms("*")},
		"update": {Permissions: limp.Perms("*"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
	})
	m.Unique = [][]string{{"kind", "serial"}}
	m.Defaults = map[string]any{
		"meta.color": "black",
		// A conditional default: a function of the call.
		"kind": limp.ValueFunc(func(ctx context.Context, c *limp.Call) (any, error) {
			if strings.HasPrefix(c.Doc["name"].(string), "big") {
				return "large", nil
			}
			return "small", nil
		}),
	}
	s := startApp(t, limp.Config{Name: "gadgets", QuotaIPMin: -1, QuotaAnonMin: -1}, m)
	return m, dial(t, s.WS)
}

func readOne(t testing.TB, c *wsClient, id any) map[string]any {
	t.Helper()
	r := must(t, c.call("gadget/read", []any{map[string]any{"_id": id}}, nil))
	d := docs(t, r)
	if len(d) != 1 {
		t.Fatalf("read %v: %d docs", id, len(d))
	}
	return d[0]
}

func TestDefaultsAndAutoAttrs(t *testing.T) {
	_, c := gadgets(t)
	r := must(t, c.call("gadget/create", nil, map[string]any{"name": "big one", "serial": "1", "qty": 2, "meta": map[string]any{},
		"user": "f00000000000000000000010", "create_time": "1999-01-01T00:00:00"}))
	d := readOne(t, c, docs(t, r)[0]["_id"])
	if d["user"] != "f00000000000000000000011" || d["create_time"] == "1999-01-01T00:00:00" {
		t.Fatalf("auto attrs forged: user %v create_time %v", d["user"], d["create_time"])
	}
	if d["kind"] != "large" || d["price"] != 1.5 || d["meta"].(map[string]any)["color"] != "black" {
		t.Fatalf("defaults: kind %v price %v meta %v", d["kind"], d["price"], d["meta"])
	}
	if w, _ := d["when"].(string); len(w) < 19 {
		t.Fatalf("$__datetime default = %v", d["when"])
	}
	r = must(t, c.call("gadget/create", nil, map[string]any{"name": "tiny", "serial": "1", "qty": 0, "meta": map[string]any{"color": "red"}}))
	d = readOne(t, c, docs(t, r)[0]["_id"])
	if d["kind"] != "small" || d["meta"].(map[string]any)["color"] != "red" {
		t.Fatalf("conditional default or given value: %v", d)
	}
	// Compound uniqueness (kind, serial).
	wantErr(t, c.call("gadget/create", nil, map[string]any{"name": "big two", "serial": "1", "qty": 0, "meta": map[string]any{}}),
		400, "TEST_GADGET_DUPLICATE_DOC")
}

// TestRejectedUpdatesChangeNothing sends bad updates and checks the stored
// document is byte-for-byte unchanged.
func TestRejectedUpdatesChangeNothing(t *testing.T) {
	_, c := gadgets(t)
	r := must(t, c.call("gadget/create", nil, map[string]any{"name": "g", "serial": "9", "qty": 5, "tags": []any{"a"},
		"meta": map[string]any{"size": 2}, "parts": []any{map[string]any{"name": "p", "qty": 1}}}))
	id := docs(t, r)[0]["_id"]
	before, _ := json.Marshal(readOne(t, c, id))
	q := []any{map[string]any{"_id": id}}
	bad := []struct {
		doc  map[string]any
		code string
	}{
		{map[string]any{"qty": 101}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"qty": -1}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"qty": "x"}, "TEST_GADGET_CONVERT_INVALID_ATTR"},
		{map[string]any{"qty": 1.5}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"tags": []any{"a", "b", "c", "d"}}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"email": "not-an-email"}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"meta.size": "big"}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"meta.nope": 1}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"nope.x": 1}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"parts.0.qty": "x"}, "TEST_GADGET_CONVERT_INVALID_ATTR"},
		{map[string]any{"qty": map[string]any{"$add": "x"}}, "TEST_GADGET_CONVERT_INVALID_ATTR"},
		{map[string]any{"qty": map[string]any{"$add": 1.5}}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"qty": map[string]any{"$where": 1}}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"name": map[string]any{"$add": 1}}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"tags": map[string]any{"$append": 5}}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"$set": map[string]any{"qty": 1}}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"qty": 6, "email": "bad"}, "TEST_GADGET_INVALID_ATTR"},
		{map[string]any{"price": nil}, "TEST_GADGET_INVALID_ATTR"},
	}
	for _, b := range bad {
		r := c.call("gadget/update", q, b.doc)
		if r.Status != 400 || !strings.HasPrefix(r.code(), "TEST_GADGET_") {
			t.Errorf("update %v: %d %s %q, want 400 %s", b.doc, r.Status, r.code(), r.Msg, b.code)
		} else if r.code() != b.code && !(strings.HasSuffix(b.code, "INVALID_ATTR") && strings.HasSuffix(r.code(), "INVALID_ATTR")) {
			t.Errorf("update %v: code %s (%q), want %s", b.doc, r.code(), r.Msg, b.code)
		}
	}
	after, _ := json.Marshal(readOne(t, c, id))
	if string(before) != string(after) {
		t.Fatalf("a rejected update changed the doc:\nbefore %s\nafter  %s", before, after)
	}
	// The operators themselves work and are type-checked.
	must(t, c.call("gadget/update", q, map[string]any{"qty": map[string]any{"$add": 3}, "tags": map[string]any{"$append": "b", "$unique": true},
		"meta.size": 7, "email": "a@example.com"}))
	must(t, c.call("gadget/update", q, map[string]any{"tags": map[string]any{"$append": "b", "$unique": true}}))
	must(t, c.call("gadget/update", q, map[string]any{"price": map[string]any{"$multiply": 2}}))
	d := readOne(t, c, id)
	if d["qty"] != 8.0 || d["price"] != 3.0 || len(d["tags"].([]any)) != 2 || d["meta"].(map[string]any)["size"] != 7.0 || d["email"] != "a@example.com" {
		t.Fatalf("after operators: %v", d)
	}
	// An optional attr goes back to null.
	must(t, c.call("gadget/update", q, map[string]any{"email": nil}))
	if d := readOne(t, c, id); d["email"] != nil {
		t.Fatalf("email = %v, want null", d["email"])
	}
	must(t, c.call("gadget/update", q, map[string]any{"tags": map[string]any{"$remove": []any{"a"}}}))
	if d := readOne(t, c, id); len(d["tags"].([]any)) != 1 {
		t.Fatalf("$remove: tags = %v", d["tags"])
	}
}

// TestNoGoroutineLeak: after Shutdown, every goroutine the app started
// (connections, readers, calls) is gone.
func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		app := limp.New(limp.Config{Name: "leak", Data: ":memory:", QuotaIPMin: -1, QuotaAnonMin: -1})
		ctx := context.Background()
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		srv := newTestServer(app)
		for range 5 {
			c := dial(t, srv.ws)
			must(t, c.call("heart/beat", nil, nil))
			c.send("user/read", nil, nil)
			go func() { // a client keeps reading, so the close handshake completes
				for {
					if _, _, err := c.ws.Read(context.Background()); err != nil {
						return
					}
				}
			}()
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := app.Shutdown(sctx); err != nil {
			t.Fatal(err)
		}
		srv.close()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+2 { // the test's own dial clean-ups may linger briefly
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after shutdown, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
