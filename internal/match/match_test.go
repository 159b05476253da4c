package match

import (
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

func TestMatch(t *testing.T) {
	u, g, ref := oid.New(), oid.New(), oid.New()
	doc := map[string]any{
		"_id": oid.New(), "title": "Hello", "n": int64(2), "f": 2.5, "tags": []any{"a", "b"},
		"items": []any{map[string]any{"qty": int64(1)}, map[string]any{"name": "x"}},
		"user":  u, "cat": ref, "acc": map[string]any{"anon": false, "users": []any{}, "groups": []any{g}},
		"null": nil,
	}
	c := func(p string, op query.Op, v any) query.Node { return &query.Cond{Path: p, Op: op, Value: v} }
	j := func(p string, op query.Op, v any, filter query.Node) query.Node {
		return &query.Cond{Path: p, Op: op, Value: v, Join: &query.Join{Local: "cat", Collection: "cats", Filter: filter}}
	}
	refs := map[oid.ID]map[string]any{ref: {"_id": ref, "name": "Fruit", "published": false}}
	resolve := func(coll string, id oid.ID) map[string]any {
		if coll != "cats" {
			return nil
		}
		return refs[id]
	}
	tests := []struct {
		name string
		n    query.Node
		want bool
	}{
		{"nil filter", nil, true},
		{"eq", c("title", query.Eq, "Hello"), true},
		{"eq int float", c("n", query.Eq, 2.0), true},
		{"eq type", c("n", query.Eq, "2"), false},
		{"eq missing is null", c("nope", query.Eq, nil), true},
		{"eq null", c("null", query.Eq, nil), true},
		{"ne null", c("title", query.Ne, nil), true},
		{"list element", c("tags", query.Eq, "b"), true},
		{"list whole", c("tags", query.Eq, []any{"a", "b"}), true},
		{"list whole order", c("tags", query.Eq, []any{"b", "a"}), false},
		{"list ne", c("tags", query.Ne, "a"), false},
		{"all", c("tags", query.All, []any{"a", "b"}), true},
		{"all missing one", c("tags", query.All, []any{"a", "z"}), false},
		{"all empty", c("tags", query.All, []any{}), false},
		{"in", c("n", query.In, []any{int64(1), int64(2)}), true},
		{"nin", c("n", query.Nin, []any{int64(1), int64(2)}), false},
		{"gt bracketed", c("title", query.Gt, int64(0)), false},
		{"gt", c("f", query.Gt, int64(2)), true},
		{"bet", &query.Cond{Path: "n", Op: query.Bet, Value: int64(1), Value2: int64(2)}, true},
		{"bet out", &query.Cond{Path: "n", Op: query.Bet, Value: int64(3), Value2: int64(4)}, false},
		{"regex ci", c("title", query.Regex, "^hel"), true},
		{"regex list", c("tags", query.Regex, "B"), true},
		{"list of dict", c("items.qty", query.Gte, int64(1)), true},
		{"list of dict missing is null", c("items.qty", query.Eq, nil), true},
		{"list index", c("items.1.name", query.Eq, "x"), true},
		{"or", query.Or{c("n", query.Eq, int64(9)), c("title", query.Eq, "Hello")}, true},
		{"empty or", query.Or{}, false},
		{"and", query.And{c("n", query.Eq, int64(2)), c("title", query.Eq, "x")}, false},
		{"access owner", &query.Access{Path: "acc", User: u}, true},
		{"access group", &query.Access{Path: "acc", User: oid.New(), Groups: []oid.ID{g}}, true},
		{"access none", &query.Access{Path: "acc", User: oid.New()}, false},
		{"join", j("name", query.Eq, "Fruit", nil), true},
		{"join ne", j("name", query.Ne, "Fruit", nil), false},
		{"join filtered out", j("name", query.Eq, "Fruit", c("published", query.Eq, true)), false},
		{"join filtered out ne", j("name", query.Ne, "Fruit", c("published", query.Eq, true)), true},
		{"join deny", &query.Cond{Path: "name", Op: query.Eq, Value: "Fruit", Join: &query.Join{Local: "cat", Collection: "cats", Deny: true}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.n, doc, resolve); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	if Match(nil, map[string]any{"__deleted": true}, nil) {
		t.Error("a deleted document matches")
	}
	r := Refs(nil, query.And{j("name", query.Eq, "x", nil), c("n", query.Eq, int64(1))}, doc)
	if len(r["cats"]) != 1 || r["cats"][0] != ref {
		t.Errorf("Refs = %v, want cats:[%v]", r, ref)
	}
}
