package mongo

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

func mustID(t testing.TB, s string) oid.ID {
	t.Helper()
	id, err := oid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var (
	catColl = &schema.Collection{Name: "blogs_cats", Attrs: map[string]*schema.Type{
		"title": {Kind: schema.Locale},
	}}
	blogColl = &schema.Collection{
		Name:   "blogs",
		Module: "blog",
		Attrs: map[string]*schema.Type{
			"user":        {Kind: schema.ID},
			"status":      {Kind: schema.Str},
			"slug":        {Kind: schema.Str},
			"price":       {Kind: schema.Float},
			"views":       {Kind: schema.Int},
			"title":       {Kind: schema.Locale},
			"body":        {Kind: schema.Str},
			"tags":        {Kind: schema.List, Items: []*schema.Type{{Kind: schema.Str}}},
			"cat":         {Kind: schema.ID},
			"cats":        {Kind: schema.List, Items: []*schema.Type{{Kind: schema.ID}}},
			"access":      {Kind: schema.Access},
			"loc":         {Kind: schema.Geo},
			"create_time": {Kind: schema.Datetime},
		},
		Unique:  [][]string{{"slug"}, {"user", "title.en_AE"}},
		Indexes: [][]schema.IndexKey{{{Path: "create_time", Desc: true}}, {{Path: "status"}, {Path: "price", Desc: true}}},
		Search:  []string{"title", "body"},
		Extns: map[string]*schema.Extn{
			"cat":  {Module: "blog_cat", Collection: "blogs_cats", Target: catColl},
			"cats": {Module: "blog_cat", Collection: "blogs_cats", Target: catColl},
		},
	}
)

// golden compares got with testdata/name.golden, rewriting it with -update.
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
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// indentJSON marshals v as indented canonical Extended JSON.
func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := bson.MarshalExtJSONIndent(v, true, false, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestCompileGolden(t *testing.T) {
	u1 := mustID(t, "f00000000000000000000010")
	u2 := mustID(t, "f00000000000000000000011")
	g1 := mustID(t, "f00000000000000000000020")
	g2 := mustID(t, "f00000000000000000000021")
	catJoin := &query.Join{Local: "cat", Collection: "blogs_cats"}
	catsJoin := &query.Join{Local: "cats", Collection: "blogs_cats", IDList: true}
	cond := func(path string, op query.Op, v any) *query.Cond { return &query.Cond{Path: path, Op: op, Value: v} }

	tests := []struct {
		name string
		q    *query.Query
	}{
		{"all", &query.Query{}},
		{"nil_filter_and_empty_and", &query.Query{Filter: query.And{}}},
		{"eq", &query.Query{Filter: cond("status", query.Eq, "published")}},
		{"eq_nil", &query.Query{Filter: cond("status", query.Eq, nil)}},
		{"eq_id", &query.Query{Filter: cond("_id", query.Eq, u1)}},
		{"eq_literal_operator_doc", &query.Query{Filter: cond("status", query.Eq, map[string]any{"$where": "1", "$gt": int64(1)})}},
		{"ne", &query.Query{Filter: cond("status", query.Ne, "draft")}},
		{"gt_gte_lt_lte", &query.Query{Filter: query.And{
			cond("price", query.Gt, 1.5), cond("price", query.Gte, int64(2)),
			cond("views", query.Lt, int64(100)), cond("views", query.Lte, int64(99)),
		}}},
		{"bet", &query.Query{Filter: &query.Cond{Path: "price", Op: query.Bet, Value: int64(1), Value2: int64(9)}}},
		{"in_nin_all", &query.Query{Filter: query.And{
			cond("_id", query.In, []any{u1, u2}),
			cond("status", query.Nin, []any{"draft", "deleted"}),
			cond("tags", query.All, []any{"go", "db"}),
		}}},
		{"regex", &query.Query{Filter: cond("title.en_AE", query.Regex, "^abc")}},
		{"or", &query.Query{Filter: query.Or{cond("status", query.Eq, "draft"), cond("status", query.Eq, "published")}}},
		{"empty_or", &query.Query{Filter: query.Or{}}},
		{"and_or_nested", &query.Query{Filter: query.And{
			cond("user", query.Eq, u1),
			query.Or{&query.Cond{Path: "price", Op: query.Bet, Value: int64(1), Value2: int64(9)}, cond("title.en_AE", query.Regex, "^abc")},
			query.And{cond("views", query.Gt, int64(0)), query.Or{cond("tags", query.Eq, "a")}},
		}}},
		{"join", &query.Query{Filter: query.And{
			cond("status", query.Eq, "published"),
			&query.Cond{Path: "title.en_AE", Op: query.Eq, Value: "x", Join: catJoin},
		}}},
		{"join_in_or_two_joins", &query.Query{Filter: query.Or{
			&query.Cond{Path: "title.en_AE", Op: query.Regex, Value: "news", Join: catJoin},
			&query.Cond{Path: "title.ar_AE", Op: query.Eq, Value: "y", Join: catsJoin},
			cond("status", query.Eq, "draft"),
		}}},
		{"access", &query.Query{Filter: &query.Access{Path: "access", User: u1, Groups: []oid.ID{g1, g2}}}},
		{"access_no_groups", &query.Query{Filter: query.And{cond("status", query.Eq, "x"), &query.Access{Path: "access", User: u1}}}},
		{"search", &query.Query{Search: "hello world"}},
		{"search_sorted", &query.Query{Search: "hello", Sort: []query.Sort{{Path: "create_time", Desc: true}}, Filter: cond("status", query.Eq, "published")}},
		{"sort_skip_limit", &query.Query{
			Filter: query.And{cond("status", query.Eq, "published"), cond("price", query.Gt, int64(5))},
			Sort:   []query.Sort{{Path: "create_time", Desc: true}, {Path: "title.en_AE"}, {Path: "create_time"}},
			Skip:   20, Limit: 10,
		}},
		{"sort_by_id", &query.Query{Sort: []query.Sort{{Path: "_id"}}}},
		{"attrs", &query.Query{Attrs: []string{"title", "status", "title.en_AE", "_id"}}},
		{"attrs_empty", &query.Query{Attrs: []string{}}},
		{"group", &query.Query{Filter: cond("status", query.Eq, "published"), Group: []query.Group{{By: "price", Count: 5}, {By: "views", Count: 3}}}},
		{"geo", &query.Query{GeoNear: &query.GeoNear{Attr: "loc", Lng: 55.27, Lat: 25.2, MaxDistance: 1000}, Filter: cond("status", query.Eq, "published"), Limit: 5}},
		{"geo_with_join", &query.Query{GeoNear: &query.GeoNear{Attr: "loc", Lng: 1, Lat: 2, MaxDistance: 3},
			Filter: &query.Cond{Path: "title.en_AE", Op: query.Eq, Value: "x", Join: catJoin}}},
		// Issue 11: MongoDB's own semantics need no rewriting: an array
		// member of $in/$nin is whole-array equality, an object operand
		// compares numbers as numbers, a sort on an object orders field
		// by field, a NUL survives in a value, and $group buckets every
		// document (null and missing as the lowest value).
		{"in_array_members", &query.Query{Filter: query.And{
			cond("tags", query.In, []any{[]any{}, "web"}),
			cond("tags", query.Nin, []any{[]any{"a", "b"}}),
			cond("tags", query.All, []any{[]any{"a", "b"}}),
		}}},
		{"eq_object_numbers", &query.Query{Filter: cond("meta", query.Eq, map[string]any{"score": int64(2), "label": "l"}),
			Sort: []query.Sort{{Path: "meta"}, {Path: "tags", Desc: true}}}},
		{"regex_nul", &query.Query{Filter: query.And{cond("body", query.Regex, "tail$"), cond("body", query.Ne, "head\x00tail")}}},
		{"group_list", &query.Query{Group: []query.Group{{By: "tags", Count: 10}}}},
		{"values", &query.Query{Filter: cond("meta", query.Eq, map[string]any{
			"b": []any{int64(1), 2.0, "s", true, nil, u1}, "a": map[string]any{"z": int64(1), "y": 0.5},
		})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(blogColl, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			s := &Store{}
			plan, err := s.Explain(blogColl, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.ExtJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plan.Pipeline, b) {
				t.Errorf("Explain = %s, want %s", plan.Pipeline, b)
			}
			// Determinism: compiling again gives the same bytes.
			p2, err := Compile(blogColl, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			b2, _ := p2.ExtJSON()
			if !bytes.Equal(b, b2) {
				t.Errorf("nondeterministic:\n%s\n%s", b, b2)
			}
			doc := bson.D{{Key: "pipeline", Value: stagesA(p.Docs())}, {Key: "count", Value: stagesA(p.Count())}}
			if len(p.Groups) > 0 {
				gs := bson.A{}
				for _, g := range p.Groups {
					gs = append(gs, bson.D{{Key: "by", Value: g.By}, {Key: "pipeline", Value: stagesA(g.Stages)}})
				}
				doc = append(doc, bson.E{Key: "groups", Value: gs})
			}
			golden(t, "compile_"+tt.name, indentJSON(t, doc))
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		q    *query.Query
		want string
	}{
		{"search_and_geo", &query.Query{Search: "x", GeoNear: &query.GeoNear{Attr: "loc"}}, "cannot be combined"},
		{"dollar_path", &query.Query{Filter: &query.Cond{Path: "$where", Op: query.Eq, Value: "1"}}, "invalid field path"},
		{"dollar_segment", &query.Query{Filter: &query.Cond{Path: "a.$b", Op: query.Eq, Value: "1"}}, "invalid field path"},
		{"empty_segment", &query.Query{Filter: &query.Cond{Path: "a..b", Op: query.Eq, Value: "1"}}, "invalid field path"},
		{"empty_path", &query.Query{Filter: &query.Cond{Op: query.Eq, Value: "1"}}, "empty field path"},
		{"sort_path", &query.Query{Sort: []query.Sort{{Path: "$natural"}}}, "invalid field path"},
		{"attrs_path", &query.Query{Attrs: []string{"$$ROOT"}}, "invalid field path"},
		{"group_path", &query.Query{Group: []query.Group{{By: "$x", Count: 1}}}, "invalid field path"},
		{"group_count", &query.Query{Group: []query.Group{{By: "x", Count: 0}}}, "not positive"},
		{"access_path", &query.Query{Filter: &query.Access{Path: "$a"}}, "invalid field path"},
		{"in_not_list", &query.Query{Filter: &query.Cond{Path: "a", Op: query.In, Value: "x"}}, "needs a list"},
		{"regex_not_string", &query.Query{Filter: &query.Cond{Path: "a", Op: query.Regex, Value: int64(1)}}, "needs a string"},
		{"unknown_op", &query.Query{Filter: &query.Cond{Path: "a", Op: query.Op(200), Value: int64(1)}}, "unknown operator"},
		{"bad_value", &query.Query{Filter: &query.Cond{Path: "a", Op: query.Eq, Value: struct{}{}}}, "unsupported value type"},
		{"join_local_path", &query.Query{Filter: &query.Cond{Path: "t", Op: query.Eq, Value: "x", Join: &query.Join{Local: "$c"}}}, "invalid field path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(blogColl, tt.q)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestCompileUpdateGolden(t *testing.T) {
	u1 := mustID(t, "f00000000000000000000010")
	tests := []struct {
		name string
		u    *store.Update
	}{
		{"set", &store.Update{Set: map[string]any{"status": "published", "title.en_AE": "Hi", "cat": u1, "meta": map[string]any{"b": int64(1), "a": []any{1.5}}}}},
		{"unset", &store.Update{Unset: []string{"price", "cat"}}},
		{"add_mul", &store.Update{Add: map[string]any{"views": int64(1), "price": -2.5}, Mul: map[string]any{"score": 1.1}}},
		{"append", &store.Update{Append: map[string]store.Append{
			"tags": {Values: []any{"a", "b"}},
			"cats": {Values: []any{u1}, Unique: true},
		}}},
		{"remove", &store.Update{Remove: map[string][]any{"tags": {"x"}, "cats": {u1}}}},
		{"everything", &store.Update{
			Set: map[string]any{"status": "x"}, Unset: []string{"slug"}, Add: map[string]any{"views": int64(2)},
			Mul: map[string]any{"price": int64(3)}, Append: map[string]store.Append{"tags": {Values: []any{"t"}}},
			Remove: map[string][]any{"cats": {u1}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := CompileUpdate(tt.u)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "update_"+tt.name, indentJSON(t, d))
		})
	}
}

func TestCompileUpdateEmptyAndErrors(t *testing.T) {
	for _, u := range []*store.Update{nil, {}} {
		d, err := CompileUpdate(u)
		if err != nil || d != nil {
			t.Errorf("CompileUpdate(%v) = %v, %v; want nil, nil", u, d, err)
		}
	}
	tests := []struct {
		name string
		u    *store.Update
		want string
	}{
		{"set_id", &store.Update{Set: map[string]any{"_id": "x"}}, "cannot be updated"},
		{"set_deleted", &store.Update{Set: map[string]any{"__deleted": true}}, "cannot be updated"},
		{"set_dollar", &store.Update{Set: map[string]any{"a.$[]": int64(1)}}, "invalid field path"},
		{"unset_dollar", &store.Update{Unset: []string{"$x"}}, "invalid field path"},
		{"add_string", &store.Update{Add: map[string]any{"views": "1"}}, "needs an int64 or float64"},
		{"bad_value", &store.Update{Set: map[string]any{"a": struct{}{}}}, "unsupported value type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileUpdate(tt.u)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CompileUpdate error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestIndexesGolden(t *testing.T) {
	for _, tt := range []struct {
		name    string
		locales []string
	}{{"wildcard", nil}, {"locales", []string{"ar_AE", "en_AE"}}} {
		t.Run(tt.name, func(t *testing.T) {
			var a bson.A
			for _, ix := range Indexes(blogColl, tt.locales) {
				d := bson.D{{Key: "name", Value: ix.Name}, {Key: "key", Value: ix.Keys}}
				if ix.Unique {
					d = append(d, bson.E{Key: "unique", Value: true}, bson.E{Key: "sparse", Value: true})
				}
				if ix.Text {
					d = append(d, bson.E{Key: "default_language", Value: textLanguage}, bson.E{Key: "language_override", Value: textLanguageOverride})
				}
				a = append(a, d)
			}
			golden(t, "indexes_"+tt.name, indentJSON(t, bson.D{{Key: "indexes", Value: a}}))
		})
	}
}

// TestCompilePurgeGolden pins the selection of a hard delete: no
// soft-delete guard, so soft-deleted documents are purged too.
func TestCompilePurgeGolden(t *testing.T) {
	q := &query.Query{Filter: &query.Cond{Path: "status", Op: query.Eq, Value: "draft"}, Limit: 3}
	p, err := compile(blogColl, q, true)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "compile_purge", indentJSON(t, bson.D{{Key: "pipeline", Value: stagesA(p.Match)}}))
	live, err := Compile(blogColl, q)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := bson.MarshalExtJSON(live.Match[0], true, false); !bytes.Contains(b, []byte(deletedField)) {
		t.Errorf("a read lost its soft-delete guard: %s", b)
	}
}
