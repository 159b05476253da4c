package limp_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/limp-go/limp"
)

type Counter struct {
	limp.Doc
	Name  string   `json:"name"`
	N     int64    `json:"n" limp:"min=0,max=10"`
	Ratio float64  `json:"ratio" validate:"gte=0,lte=1"`
	Tags  []string `json:"tags" limp:"min=1,max=2"`
	Flags []string `json:"flags" limp:"default=[]" validate:"max=2,dive,oneof=a b c"`
	Odd   int64    `json:"odd" validate:"oneof=1 3 5"`
}

func counters(t testing.TB) *wsClient {
	c, _ := countersServer(t)
	return c
}

func countersServer(t testing.TB) (*wsClient, string) {
	m := limp.NewModule[Counter]("counter", limp.Methods{
		"read":   {Permissions: limp.Perms("*")},
		"create": {Permissions: limp.Perms("*")},
		"update": {Permissions: limp.Perms("*")},
	})
	s := startApp(t, limp.Config{Name: "counters", QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1}, m)
	return dial(t, s.WS), s.WS
}

func readAll(t testing.TB, c *wsClient) string {
	t.Helper()
	b, _ := json.Marshal(docs(t, must(t, c.call("counter/read", []any{map[string]any{"$sort": map[string]any{"name": 1}}}, nil))))
	return string(b)
}

// TestUpdateOperatorBounds: $add/$multiply past max or below min, $append
// past a LIST's max and $remove below its min are refused with 400
// INVALID_ATTR and change nothing, on one document or many; results
// within bounds apply (a negative $add on a min=0 attr included).
func TestUpdateOperatorBounds(t *testing.T) {
	c := counters(t)
	var ids []any
	for _, name := range []string{"a", "b"} {
		r := must(t, c.call("counter/create", nil, map[string]any{"name": name, "n": 5, "ratio": 0.5, "tags": []any{"x", "y"}, "odd": 3}))
		ids = append(ids, docs(t, r)[0]["_id"])
	}
	must(t, c.call("counter/update", []any{map[string]any{"_id": ids[1]}}, map[string]any{"n": 9}))
	one := []any{map[string]any{"_id": ids[0]}}
	both := []any{map[string]any{"_id": map[string]any{"$in": ids}}}
	before := readAll(t, c)
	const code = "TEST_COUNTER_INVALID_ATTR"
	for _, tt := range []struct {
		query []any
		doc   map[string]any
		msg   string
	}{
		{one, map[string]any{"n": map[string]any{"$add": 6}}, "Invalid attr 'n': $add would make the value 11, above the maximum 10; nothing was changed for 'update' request on module 'TEST_COUNTER'."},
		{one, map[string]any{"n": map[string]any{"$add": -6}}, "Invalid attr 'n': $add would make the value -1, below the minimum 0; nothing was changed for 'update' request on module 'TEST_COUNTER'."},
		{one, map[string]any{"n": map[string]any{"$multiply": 3}}, "Invalid attr 'n': $multiply would make the value 15, above the maximum 10; nothing was changed for 'update' request on module 'TEST_COUNTER'."},
		{one, map[string]any{"n": map[string]any{"$multiply": -1}}, "Invalid attr 'n': $multiply would make the value -5, below the minimum 0; nothing was changed for 'update' request on module 'TEST_COUNTER'."},
		{one, map[string]any{"ratio": map[string]any{"$add": 0.75}}, "Invalid attr 'ratio': $add would make the value 1.25, above the maximum 1; nothing was changed for 'update' request on module 'TEST_COUNTER'."},
		{one, map[string]any{"tags": map[string]any{"$append": "z"}, "name": "changed"}, "Invalid attr 'tags': $append would make the number of items 3, above the maximum 2; nothing was changed for 'update' request on module 'TEST_COUNTER'."},
		{one, map[string]any{"tags": map[string]any{"$remove": []any{"x", "y"}}}, "Invalid attr 'tags': $remove would make the number of items 0, below the minimum 1; nothing was changed for 'update' request on module 'TEST_COUNTER'."},
		{one, map[string]any{"flags": map[string]any{"$append": "z"}}, "Invalid attr 'flags': fails rule \"max=2,dive,oneof=a b c\" for 'update' request on module 'TEST_COUNTER'."},
		{one, map[string]any{"odd": map[string]any{"$add": 2}}, "Invalid attr 'odd': $add cannot be used: its validate rule \"oneof=1 3 5\" cannot be checked on the result of an update operator; set the value instead for 'update' request on module 'TEST_COUNTER'."},
		// Many documents: b would go past max, so neither changes.
		{both, map[string]any{"n": map[string]any{"$add": 2}}, "Invalid attr 'n': $add would make the value 11, above the maximum 10; nothing was changed for 'update' request on module 'TEST_COUNTER'."},
	} {
		r := c.call("counter/update", tt.query, tt.doc)
		if r.Status != 400 || r.code() != code {
			t.Errorf("update %v: %d %s %q, want 400 %s", tt.doc, r.Status, r.code(), r.Msg, code)
		} else if tt.msg != "" && r.Msg != tt.msg {
			t.Errorf("update %v: msg\n%q, want\n%q", tt.doc, r.Msg, tt.msg)
		}
	}
	if after := readAll(t, c); after != before {
		t.Fatalf("a refused update changed documents:\nbefore %s\nafter  %s", before, after)
	}
	// Within bounds.
	must(t, c.call("counter/update", one, map[string]any{"n": map[string]any{"$add": -5}}))
	must(t, c.call("counter/update", both, map[string]any{"n": map[string]any{"$add": 1}}))
	must(t, c.call("counter/update", one, map[string]any{"ratio": map[string]any{"$add": -0.5}}))
	must(t, c.call("counter/update", one, map[string]any{"tags": map[string]any{"$remove": []any{"x"}}}))
	must(t, c.call("counter/update", one, map[string]any{"tags": map[string]any{"$append": "z"}}))
	must(t, c.call("counter/update", one, map[string]any{"flags": map[string]any{"$append": "a"}}))
	d := docs(t, must(t, c.call("counter/read", one, nil)))[0]
	if d["n"] != 1.0 || d["ratio"] != 0.0 || len(d["tags"].([]any)) != 2 || d["tags"].([]any)[0] != "y" || len(d["flags"].([]any)) != 1 {
		t.Fatalf("after updates within bounds: %v", d)
	}
	if d := docs(t, must(t, c.call("counter/read", []any{map[string]any{"_id": ids[1]}}, nil)))[0]; d["n"] != 10.0 {
		t.Fatalf("b: n = %v, want 10", d["n"])
	}
}

// TestUpdateOperatorBoundsConcurrent: concurrent $add calls never take the
// value past max (the check and the write are one step in the store).
func TestUpdateOperatorBoundsConcurrent(t *testing.T) {
	c, url := countersServer(t)
	r := must(t, c.call("counter/create", nil, map[string]any{"name": "a", "n": 0, "ratio": 0, "tags": []any{"x"}, "odd": 1}))
	q := []any{map[string]any{"_id": docs(t, r)[0]["_id"]}}
	const calls = 24
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for range 4 {
		c := dial(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls / 4 {
				r := c.call("counter/update", q, map[string]any{"n": map[string]any{"$add": 1}})
				mu.Lock()
				switch {
				case r.Status == 200:
					ok++
				case r.Status == 400 && r.code() == "TEST_COUNTER_INVALID_ATTR":
					refused++
				default:
					t.Errorf("update: %d %s %q", r.Status, r.code(), r.Msg)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	d := docs(t, must(t, c.call("counter/read", q, nil)))[0]
	if ok != 10 || refused != calls-10 || d["n"] != 10.0 {
		t.Fatalf("%d applied, %d refused, n = %v; want 10, %d, 10", ok, refused, d["n"], calls-10)
	}
}
