package sqlite

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestExplainGolden pins the SQL each query shape compiles to.
func TestExplainGolden(t *testing.T) {
	c := testCollection()
	cat := &schema.Collection{Name: "cat", Attrs: map[string]*schema.Type{"title": {Kind: schema.Locale}}}
	c.Extns = map[string]*schema.Extn{"ref": {Collection: "cat", Target: cat}, "refs": {Collection: "cat", Target: cat}}
	id := oid.MustParse("65920080fae70221dce01bbd")
	cnd := func(p string, op query.Op, v any) *query.Cond { return &query.Cond{Path: p, Op: op, Value: v} }
	tests := []struct {
		name string
		q    *query.Query
	}{
		{"all", &query.Query{}},
		{"eq", &query.Query{Filter: cnd("title", query.Eq, "x")}},
		{"eq_id", &query.Query{Filter: cnd("_id", query.Eq, id)}},
		{"eq_nil_bool", &query.Query{Filter: query.And{cnd("n", query.Eq, nil), cnd("ok", query.Eq, true)}}},
		{"ne_nin", &query.Query{Filter: query.And{cnd("title", query.Ne, "x"), cnd("n", query.Nin, []any{int64(1), 2.5, "s", nil})}}},
		{"ranges", &query.Query{Filter: query.And{cnd("n", query.Gt, int64(1)), cnd("f", query.Lte, 2.5), cnd("title", query.Gte, "b"),
			&query.Cond{Path: "n", Op: query.Bet, Value: int64(1), Value2: int64(9)}}}},
		{"list", &query.Query{Filter: query.And{cnd("tags", query.Eq, "a"), cnd("tags", query.In, []any{"a", []any{"b"}}), cnd("tags", query.All, []any{"a", "b"})}}},
		{"list_of_dict", &query.Query{Filter: query.And{cnd("items.qty", query.Gt, int64(1)), cnd("items.0.name", query.Eq, "x")}}},
		{"any", &query.Query{Filter: cnd("meta", query.Eq, map[string]any{"$gt": ""})}},
		{"or_regex", &query.Query{Filter: query.Or{cnd("title", query.Regex, "^a"), cnd("loc.en_AE", query.Regex, "b")}}},
		{"join", &query.Query{Filter: query.Or{
			&query.Cond{Path: "title.en_AE", Op: query.Eq, Value: "x", Join: &query.Join{Local: "ref", Collection: "cat"}},
			&query.Cond{Path: "title.en_AE", Op: query.Ne, Value: "y", Join: &query.Join{Local: "refs", Collection: "cat", IDList: true}},
		}}},
		{"access", &query.Query{Filter: &query.Access{Path: "acc", User: id, Groups: []oid.ID{id}}}},
		{"search", &query.Query{Search: "red 'apple' OR", Limit: 10}},
		{"search_sorted", &query.Query{Search: "red", Sort: []query.Sort{{Path: "n", Desc: true}}}},
		{"sort_page", &query.Query{Sort: []query.Sort{{Path: "n"}, {Path: "loc.en_AE", Desc: true}, {Path: "n"}}, Skip: 20, Limit: 10}},
		{"sort_id", &query.Query{Sort: []query.Sort{{Path: "_id"}}, Skip: 5}},
		{"sort_mongo_order", &query.Query{Sort: []query.Sort{{Path: "meta"}, {Path: "tags", Desc: true}, {Path: "items.qty"}}}},
		// Side-only plan (columns.go): unindexed declared scalars only.
		{"side_page", &query.Query{Filter: query.Or{cnd("f", query.Lte, 2.5), query.And{cnd("ok", query.Eq, true), cnd("f", query.Ne, nil)}},
			Sort: []query.Sort{{Path: "f", Desc: true}, {Path: "_id"}}, Skip: 10, Limit: 20}},
		{"geo", &query.Query{GeoNear: &query.GeoNear{Attr: "at", Lng: 55.27, Lat: 25.2, MaxDistance: 1000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Explain(c, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			args, err := jsonv.Marshal(p.Args)
			if err != nil {
				t.Fatal(err)
			}
			got := []byte(p.SQL + "\n" + string(args) + "\n")
			// Deterministic: the same query compiles to the same plan.
			if again, _ := Explain(c, tt.q); again.SQL != p.SQL {
				t.Errorf("not deterministic:\n%s\n%s", p.SQL, again.SQL)
			}
			golden(t, "explain_"+tt.name, got)
		})
	}
}

// TestGroupGolden pins the SQL of a `$group` ($bucketAuto) statement.
func TestGroupGolden(t *testing.T) {
	c := testCollection()
	p, err := Compile(c, &query.Query{Filter: &query.Cond{Path: "ok", Op: query.Eq, Value: true}})
	if err != nil {
		t.Fatal(err)
	}
	sql, args, err := p.Group(c, query.Group{By: "n", Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	js, err := jsonv.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "group", []byte(sql+"\n"+string(js)+"\n"))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot\n%s\nwant\n%s", path, got, want)
	}
}

// FuzzCompile checks that no path or value makes Compile panic, and that
// paths it accepts never carry quotes into the SQL text.
func FuzzCompile(f *testing.F) {
	f.Add("title", "x", int64(1))
	f.Add("items.0.qty", "it's", int64(-1))
	f.Add(`a"b`, `"; DROP TABLE x; --`, int64(0))
	f.Add("loc.en AE", "\x00", int64(9))
	c := testCollection()
	f.Fuzz(func(t *testing.T, path, s string, n int64) {
		q := &query.Query{
			Filter: query.And{
				&query.Cond{Path: path, Op: query.Eq, Value: s},
				&query.Cond{Path: path, Op: query.In, Value: []any{s, n, nil}},
				&query.Cond{Path: path, Op: query.Regex, Value: s},
			},
			Sort:   []query.Sort{{Path: path}},
			Search: s,
		}
		p, err := Explain(c, q)
		if err != nil {
			return
		}
		if strings.Contains(p.SQL, s) && len(s) > 3 && strings.ContainsAny(s, `'"`) {
			t.Errorf("value %q in SQL text: %s", s, p.SQL)
		}
		if n := placeholders(p.SQL); n != len(p.Args) {
			t.Errorf("%d placeholders, %d args: %s", n, len(p.Args), p.SQL)
		}
		_ = fmt.Sprint(p.Args)
	})
}

// placeholders counts the ? outside SQL string literals and quoted
// identifiers.
func placeholders(sql string) int {
	n := 0
	var quote byte
	for i := 0; i < len(sql); i++ {
		ch := sql[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '?':
			n++
		}
	}
	return n
}
