// Reviewer checks of issues 11 and 18 (branch verify18): MongoDB sort
// and equality at depth, $in with arrays, text folding, NUL strings,
// $group totals, no-op update counts, concurrent bounded $add, a strict
// user type.
package limp_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/limp-go/limp"
)

type Probe struct {
	limp.Doc
	Name  string         `json:"name"`
	Meta  map[string]any `json:"meta" limp:"default={}"`
	Tags  []string       `json:"tags" limp:"default=[]"`
	S     string         `json:"s" limp:"default="`
	Title limp.Locale    `json:"title" limp:"search"`
	N     int64          `json:"n" limp:"min=0,max=10,default=0"`
}

func probeServer(t *testing.T) (*wsClient, string) {
	m := limp.NewModule[Probe]("probe", limp.Methods{
		"read":   {Permissions: limp.Perms("*")},
		"create": {Permissions: limp.Perms("*")},
		"update": {Permissions: limp.Perms("*")},
	})
	s := startApp(t, limp.Config{Name: "probe", QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1}, m)
	return dial(t, s.WS), s.WS
}

func names(t *testing.T, r reply) string {
	t.Helper()
	if r.Status != 200 {
		return fmt.Sprintf("ERR %d %s %q", r.Status, r.code(), r.Msg)
	}
	var out []string
	for _, d := range docs(t, r) {
		out = append(out, fmt.Sprint(d["name"]))
	}
	return fmt.Sprint(out)
}

func mk(t *testing.T, c *wsClient, name string, doc map[string]any) {
	t.Helper()
	doc["name"] = name
	if _, ok := doc["title"]; !ok {
		doc["title"] = map[string]any{"en_AE": name}
	}
	must(t, c.call("probe/create", nil, doc))
}

func TestVerify18Semantics(t *testing.T) {
	c, url := probeServer(t)
	mk(t, c, "ten", map[string]any{"meta": map[string]any{"score": 10}})
	mk(t, c, "nine", map[string]any{"meta": map[string]any{"score": json.Number("9.0")}})
	mk(t, c, "ninehalf", map[string]any{"meta": map[string]any{"score": 9.5}})
	mk(t, c, "str", map[string]any{"meta": map[string]any{"score": "a"}})
	mk(t, c, "big1", map[string]any{"meta": map[string]any{"score": json.Number("9007199254740993")}})
	mk(t, c, "big0", map[string]any{"meta": map[string]any{"score": json.Number("9007199254740992.0")}})
	mk(t, c, "neg0", map[string]any{"meta": map[string]any{"score": json.Number("-0.0")}})
	mk(t, c, "deep", map[string]any{"meta": map[string]any{"x": []any{map[string]any{"y": json.Number("2.0")}}}, "tags": []any{}})
	mk(t, c, "nul", map[string]any{"s": "head\u0000tail"})
	mk(t, c, "nl", map[string]any{"s": "line1\nline2"})
	mk(t, c, "cafe", map[string]any{"title": map[string]any{"en_AE": "Café Crème brûlée"}})
	mk(t, c, "arab", map[string]any{"title": map[string]any{"en_AE": "مُحَمَّد رَسُول"}})
	mk(t, c, "cyr", map[string]any{"title": map[string]any{"en_AE": "Ёлка Йогурт"}})
	mk(t, c, "cjk", map[string]any{"title": map[string]any{"en_AE": "東京タワー です"}})
	mk(t, c, "fw", map[string]any{"title": map[string]any{"en_AE": "ＡＢＣ"}})

	rd := func(q ...any) string { return names(t, c.call("probe/read", q, nil)) }
	onlyScore := map[string]any{"name": map[string]any{"$in": []any{"neg0", "nine", "ninehalf", "ten", "big0", "big1", "str"}}}
	for _, tt := range []struct{ name, got, want string }{
		{"sort objects asc", rd(onlyScore, map[string]any{"$sort": map[string]any{"meta": 1}}), "[neg0 nine ninehalf ten big0 big1 str]"},
		{"sort meta.score asc", rd(onlyScore, map[string]any{"$sort": map[string]any{"meta.score": 1}}), "[neg0 nine ninehalf ten big0 big1 str]"},
		{"eq 2 vs 2.0 at depth", rd(map[string]any{"meta": map[string]any{"x": []any{map[string]any{"y": 2}}}}), "[deep]"},
		{"eq meta.x list", rd(map[string]any{"meta.x": []any{map[string]any{"y": 2}}}), "[deep]"},
		{"eq -0.0 == 0", rd(map[string]any{"meta.score": 0}), "[neg0]"},
		{"big int not equal big float", rd(map[string]any{"meta.score": json.Number("9007199254740993")}), "[big1]"},
		{"$in array member", rd(map[string]any{"tags": map[string]any{"$in": []any{[]any{}, "web"}}}, map[string]any{"name": "deep"}), "[deep]"},
		{"$nin array member", rd(map[string]any{"tags": map[string]any{"$nin": []any{[]any{}}}}, map[string]any{"name": "deep"}), "[]"},
		{"regex nul tail$", rd(map[string]any{"s": map[string]any{"$regex": "tail$"}}), "[nul]"},
		{"regex nul ^head$", rd(map[string]any{"s": map[string]any{"$regex": "^head$"}}), "[]"},
		{"regex ^line2 no m", rd(map[string]any{"s": map[string]any{"$regex": "^line2"}}), "[]"},
		{"regex nul literal", rd(map[string]any{"s": "head\u0000tail"}), "[nul]"},
		{"search cafe", rd(map[string]any{"$search": "cafe creme"}), "[cafe]"},
		{"search brulee", rd(map[string]any{"$search": "BRULEE"}), "[cafe]"},
		{"search arabic no marks", rd(map[string]any{"$search": "محمد"}), "[arab]"},
		{"search cyr ё", rd(map[string]any{"$search": "елка"}), "[cyr]"},
		{"search cyr й", rd(map[string]any{"$search": "йогурт"}), "[cyr]"},
		{"search cjk", rd(map[string]any{"$search": "東京タワー"}), "[cjk]"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: got %s want %s", tt.name, tt.got, tt.want)
		}
	}

	for _, by := range []string{"meta.score", "meta", "tags"} {
		r := c.call("probe/read", []any{map[string]any{"$group": []any{map[string]any{"by": by, "count": 3}}}}, nil)
		groups, _ := r.Args["groups"].(map[string]any)
		buckets, _ := groups[by].([]any)
		total := 0.0
		for _, b := range buckets {
			total += b.(map[string]any)["count"].(float64)
		}
		if r.Status != 200 || total != 15 {
			t.Errorf("$group by %s: %d %q buckets %v, counts add to %v, want 15", by, r.Status, r.Msg, buckets, total)
		}
	}
	// update counts
	q := []any{map[string]any{"name": "ten"}}
	for _, d := range []map[string]any{
		{"meta": map[string]any{"score": 10}},
		{"n": map[string]any{"$add": 0}},
		{"n": map[string]any{"$multiply": 1}},
		{"tags": []any{}},
		{"name": "ten"},
	} {
		r := c.call("probe/update", q, d)
		if r.Status != 200 || fmt.Sprint(r.Args["count"]) != "0" {
			t.Errorf("no-op update %v: %d %q count=%v", d, r.Status, r.Msg, r.Args["count"])
		}
	}

	// concurrent $add: n=0 max=10, 12 clients add 3 each
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	cs := make([]*wsClient, 12)
	for i := range cs {
		cs[i] = dial(t, url)
	}
	for _, cc := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := cc.send("probe/update", q, map[string]any{"n": map[string]any{"$add": 3}})
			_ = id
			ctx := t.Context()
			_, data, err := cc.ws.Read(ctx)
			if err != nil {
				return
			}
			var r reply
			_ = json.Unmarshal(data, &r)
			if r.Status == 200 {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	d := docs(t, must(t, c.call("probe/read", q, nil)))[0]
	if fmt.Sprint(d["n"]) != fmt.Sprint(ok*3) || ok != 3 {
		t.Errorf("concurrent $add: %d succeeded, n=%v", ok, d["n"])
	}
}

func TestVerify18ArraySort(t *testing.T) {
	c, _ := probeServer(t)
	mk(t, c, "bz", map[string]any{"tags": []any{"b", "z"}, "meta": map[string]any{"l": []any{3, 1}}})
	mk(t, c, "c", map[string]any{"tags": []any{"c"}, "meta": map[string]any{"l": 2}})
	mk(t, c, "a9zz", map[string]any{"tags": []any{"zz", "a9"}, "meta": map[string]any{"l": []any{json.Number("1.5"), 4}}})
	mk(t, c, "empty", map[string]any{"tags": []any{}, "meta": map[string]any{"l": []any{}}})
	rd := func(q ...any) string { return names(t, c.call("probe/read", q, nil)) }
	for _, tt := range []struct{ name, got, want string }{
		{"tags asc", rd(map[string]any{"$sort": map[string]any{"tags": 1}}), "[empty a9zz bz c]"},
		{"tags desc", rd(map[string]any{"$sort": map[string]any{"tags": -1}}), "[a9zz bz c empty]"},
		{"meta.l asc", rd(map[string]any{"$sort": map[string]any{"meta.l": 1}}), "[empty bz a9zz c]"},
		{"meta.l desc", rd(map[string]any{"$sort": map[string]any{"meta.l": -1}}), "[a9zz bz c empty]"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: got %s want %s", tt.name, tt.got, tt.want)
		}
	}
}
