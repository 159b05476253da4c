package limp_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
)

// The query-language conformance suite (testdata/conformance): the same
// wire queries, the same answers, on every store. It always runs on the
// embedded store; set LIMP_TEST_MONGO_URI (a replica set, e.g.
// mongodb://localhost:27017/limp_test?replicaSet=rs0) to run it on MongoDB
// too.

type CItem struct {
	limp.Doc
	Name   string      `json:"name"`
	Status string      `json:"status"`
	N      int64       `json:"n" limp:"index"`
	Price  float64     `json:"price"`
	Tags   []string    `json:"tags"`
	Cat    limp.ID     `json:"cat" limp:"ref=ccat"`
	Title  limp.Locale `json:"title" limp:"search"`
	Meta   struct {
		Color *string `json:"color"`
		Size  int64   `json:"size"`
	} `json:"meta"`
	When string `json:"when" limp:"type=DATETIME"`
}

type CCat struct {
	limp.Doc
	Name  string      `json:"name"`
	Title limp.Locale `json:"title"`
}

type conformance struct {
	Cats  []map[string]any `json:"cats"`
	Items []map[string]any `json:"items"`
	Cases []struct {
		Name    string          `json:"name"`
		Query   json.RawMessage `json:"query"`
		Want    []string        `json:"want"`
		WantSet []string        `json:"want_set"`
		Total   *int            `json:"total"`
	} `json:"cases"`
	AttrsCases []struct {
		Name  string          `json:"name"`
		Query json.RawMessage `json:"query"`
		Keys  []string        `json:"keys"`
	} `json:"attrs_cases"`
	GroupCases []struct {
		Name       string          `json:"name"`
		Query      json.RawMessage `json:"query"`
		By         string          `json:"by"`
		TotalCount int             `json:"total_count"`
	} `json:"group_cases"`
	Invalid []struct {
		Name  string          `json:"name"`
		Query json.RawMessage `json:"query"`
	} `json:"invalid"`
}

func TestConformance(t *testing.T) {
	stores := map[string]string{"sqlite": ":memory:"}
	if os.Getenv(mongotest.Env) != "" {
		stores["mongo"] = "" // a fresh database per run, dropped at the end
	}
	for name, data := range stores {
		t.Run(name, func(t *testing.T) {
			if name == "mongo" {
				data = mongotest.URI(t)
			}
			runConformance(t, data)
		})
	}
}

func runConformance(t *testing.T, data string) {
	raw, err := os.ReadFile("testdata/conformance/items.json")
	if err != nil {
		t.Fatal(err)
	}
	var cf conformance
	if err := json.Unmarshal(raw, &cf); err != nil {
		t.Fatal(err)
	}
	cfg := limp.Config{Data: data, AnonPrivileges: limp.Privileges{"citem": {"*"}, "ccat": {"*"}},
		QuotaIPMin: -1, QuotaAnonMin: -1}
	items := limp.NewModule[CItem]("citem", limp.Methods{
		"read": {Permissions: limp.Perms("read")}, "create": {Permissions: limp.Perms("create")},
	})
	cats := limp.NewModule[CCat]("ccat", limp.Methods{
		"read": {Permissions: limp.Perms("read")}, "create": {Permissions: limp.Perms("create")},
	})
	cfg.Name = "conformance"
	s := startApp(t, cfg, items, cats)
	c := dial(t, s.WS)

	ids := map[string]string{}
	subst := func(v any) any { return substIDs(v, ids) }
	// Queries stay raw JSON so that key order ($sort) survives.
	rawq := func(q json.RawMessage) json.RawMessage {
		s := string(q)
		for k, id := range ids {
			s = strings.ReplaceAll(s, `"`+k+`"`, `"`+id+`"`)
		}
		return json.RawMessage(s)
	}
	for _, d := range cf.Cats {
		r := must(t, c.call("ccat/create", nil, d))
		ids["@cat:"+d["name"].(string)] = docs(t, r)[0]["_id"].(string)
	}
	for _, d := range cf.Items {
		r := must(t, c.call("citem/create", nil, subst(d)))
		ids["@id:"+d["name"].(string)] = docs(t, r)[0]["_id"].(string)
	}
	names := func(r reply) []string {
		var out []string
		for _, d := range docs(t, r) {
			out = append(out, d["name"].(string))
		}
		return out
	}
	for _, tc := range cf.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			r := c.call("citem/read", rawq(tc.Query), nil)
			skipUnsupported(t, r)
			if r.Status != 200 {
				t.Fatalf("query %s: %d %s %q", tc.Query, r.Status, r.code(), r.Msg)
			}
			got := names(r)
			if tc.WantSet != nil {
				g, w := slices.Clone(got), slices.Clone(tc.WantSet)
				slices.Sort(g)
				slices.Sort(w)
				if !slices.Equal(g, w) {
					t.Fatalf("query %s = %v, want the set %v", tc.Query, got, tc.WantSet)
				}
			} else if !slices.Equal(got, tc.Want) && !(len(got) == 0 && len(tc.Want) == 0) {
				t.Fatalf("query %s = %v, want %v", tc.Query, got, tc.Want)
			}
			want := len(tc.Want) + len(tc.WantSet)
			if tc.Total != nil {
				want = *tc.Total
			}
			if r.Args["total"] != float64(want) || r.Args["count"] != float64(len(got)) {
				t.Fatalf("total %v count %v, want total %d count %d", r.Args["total"], r.Args["count"], want, len(got))
			}
		})
	}
	for _, tc := range cf.AttrsCases {
		t.Run(tc.Name, func(t *testing.T) {
			r := c.call("citem/read", rawq(tc.Query), nil)
			skipUnsupported(t, r)
			must(t, r)
			d := docs(t, r)
			if len(d) != 1 {
				t.Fatalf("docs = %v", d)
			}
			var keys []string
			for k := range d[0] {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tc.Keys) {
				t.Fatalf("keys = %v, want %v", keys, tc.Keys)
			}
		})
	}
	for _, tc := range cf.GroupCases {
		t.Run(tc.Name, func(t *testing.T) {
			r := c.call("citem/read", rawq(tc.Query), nil)
			skipUnsupported(t, r)
			must(t, r)
			g, ok := r.Args["groups"].(map[string]any)[tc.By].([]any)
			if !ok || len(g) == 0 {
				t.Fatalf("groups = %v", r.Args["groups"])
			}
			sum := 0.0
			for _, b := range g {
				sum += b.(map[string]any)["count"].(float64)
			}
			if int(sum) != tc.TotalCount {
				t.Fatalf("bucket counts add up to %v, want %d (%v)", sum, tc.TotalCount, g)
			}
		})
	}
	for _, tc := range cf.Invalid {
		t.Run("invalid/"+tc.Name, func(t *testing.T) {
			r := c.call("citem/read", rawq(tc.Query), nil)
			if r.Status != 400 || !strings.HasSuffix(r.code(), "_INVALID_QUERY") {
				t.Fatalf("query %s: got %d %s %q, want 400 *_INVALID_QUERY", tc.Query, r.Status, r.code(), r.Msg)
			}
		})
	}
	// LIMP's legacy object form still works.
	r0 := must(t, c.call("citem/read", json.RawMessage(`{"status": {"val": "a"}, "n": {"val": 1, "oper": "$gt"}}`), nil))
	if got := names(r0); !slices.Equal(got, []string{"i3"}) {
		t.Fatalf("legacy query = %v, want [i3]", got)
	}
	// $extn: the reference is expanded by default, kept as an id with
	// $extn false.
	r := must(t, c.call("citem/read", []any{map[string]any{"name": "i1"}}, nil))
	if cat, ok := docs(t, r)[0]["cat"].(map[string]any); !ok || cat["name"] != "ca" {
		t.Fatalf("cat not expanded: %v", docs(t, r)[0]["cat"])
	}
	r = must(t, c.call("citem/read", []any{map[string]any{"name": "i1", "$extn": false}}, nil))
	if docs(t, r)[0]["cat"] != ids["@cat:ca"] {
		t.Fatalf("$extn false: cat = %v", docs(t, r)[0]["cat"])
	}
}

func substIDs(v any, ids map[string]string) any {
	switch x := v.(type) {
	case string:
		if id, ok := ids[x]; ok {
			return id
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = substIDs(e, ids)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = substIDs(e, ids)
		}
		return out
	}
	return v
}
