package query

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
)

var (
	catColl = &schema.Collection{Name: "cats", Module: "cat", Attrs: map[string]*schema.Type{
		"title": {Kind: schema.Locale}, "rank": {Kind: schema.Int},
	}}
	testColl = &schema.Collection{Name: "items", Module: "item", Attrs: map[string]*schema.Type{
		"status": {Kind: schema.Str},
		"n":      {Kind: schema.Int},
		"price":  {Kind: schema.Float},
		"tags":   {Kind: schema.List, Items: []*schema.Type{{Kind: schema.Str}}},
		"cat":    {Kind: schema.ID},
		"cats":   {Kind: schema.List, Items: []*schema.Type{{Kind: schema.ID}}},
		"user":   {Kind: schema.ID},
		"title":  {Kind: schema.Locale},
		"meta":   {Kind: schema.Dict, Fields: map[string]*schema.Type{"color": {Kind: schema.Str}, "size": {Kind: schema.Int}}},
		"extra":  {Kind: schema.Any},
		"access": {Kind: schema.Access},
		"loc":    {Kind: schema.Geo},
	}, Search: []string{"title"}, Extns: map[string]*schema.Extn{
		"cat":  {Module: "cat", Collection: "cats", Target: catColl},
		"cats": {Module: "cat", Collection: "cats", Target: catColl},
	}}
)

const hex1 = "5e1d1e0c0a1b2c3d4e5f6071"

var id1 = oid.MustParse(hex1)

func parse(t *testing.T, src string) (*Query, error) {
	t.Helper()
	v, err := jsonv.ParseOrdered([]byte(src))
	if err != nil {
		t.Fatalf("bad test JSON %s: %v", src, err)
	}
	return Parse(v, testColl)
}

// dump renders a filter tree compactly for comparisons.
func dump(n Node) string {
	switch x := n.(type) {
	case nil:
		return "∅"
	case And:
		var p []string
		for _, c := range x {
			p = append(p, dump(c))
		}
		return "AND(" + strings.Join(p, ", ") + ")"
	case Or:
		var p []string
		for _, c := range x {
			p = append(p, dump(c))
		}
		return "OR(" + strings.Join(p, ", ") + ")"
	case *Cond:
		path := x.Path
		if x.Join != nil {
			path = fmt.Sprintf("%s→%s:%s", x.Join.Local, x.Join.Collection, x.Path)
		}
		v := fmt.Sprintf("%v", show(x.Value))
		if x.Op == Bet {
			v += ".." + fmt.Sprint(show(x.Value2))
		}
		return fmt.Sprintf("%s %s %s", path, x.Op, v)
	case *Access:
		return fmt.Sprintf("ACCESS(%s, %s, %d groups)", x.Path, x.User.Hex()[20:], len(x.Groups))
	}
	return "?"
}

func show(v any) any {
	switch x := v.(type) {
	case oid.ID:
		return "ID(" + x.Hex()[20:] + ")"
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = show(e)
		}
		return out
	case string:
		return fmt.Sprintf("%q", x)
	case float64:
		return fmt.Sprintf("%gf", x)
	}
	return v
}

func TestParseFilters(t *testing.T) {
	cases := []struct{ in, want string }{
		{`[]`, `∅`},
		{`null`, `∅`},
		{`[{}]`, `∅`},
		{`[{"status":"a"}]`, `status $eq "a"`},
		{`[{"status":"a","n":1}]`, `AND(status $eq "a", n $eq 1)`},
		{`[{"status":"a"},{"n":1}]`, `AND(status $eq "a", n $eq 1)`},
		{`[[{"status":"a"},{"n":1}]]`, `OR(status $eq "a", n $eq 1)`},
		{`[[{"status":"a"},[{"n":1},{"n":2}]]]`, `OR(status $eq "a", OR(n $eq 1, n $eq 2))`},
		{`[{"status":"a","__or1":[{"n":1},{"n":2}],"__or2":[{"price":1.5},{"tags":"x"}]}]`,
			`AND(status $eq "a", OR(n $eq 1, n $eq 2), OR(price $eq 1.5f, tags $eq "x"))`},
		{`[{"n":{"$gt":1}}]`, `n $gt 1`},
		{`[{"n":{"$gte":1.5}}]`, `n $gte 1.5f`},
		{`[{"n":{"$lt":"a"}}]`, `n $lt "a"`},
		{`[{"n":{"$lte":2}}]`, `n $lte 2`},
		{`[{"n":{"$ne":null}}]`, `n $ne <nil>`},
		{`[{"n":{"$bet":[1,9]}}]`, `n $bet 1..9`},
		{`[{"n":{"$in":[1,2]}}]`, `n $in [1 2]`},
		{`[{"tags":{"$all":["x","y"]}}]`, `tags $all ["x" "y"]`},
		{`[{"tags":{"$nin":["x"]}}]`, `tags $nin ["x"]`},
		{`[{"status":{"$regex":"^a"}}]`, `status $regex "^a"`},
		{`[{"meta.color":"red"}]`, `meta.color $eq "red"`},
		{`[{"title.en_AE":"x"}]`, `title.en_AE $eq "x"`},
		{`[{"meta":{"color":"red"}}]`, `meta $eq map[color:red]`},
		{`[{"extra.deep.path":1}]`, `extra.deep.path $eq 1`},
		// ID coercion everywhere, including where LIMP missed it.
		{`[{"_id":"` + hex1 + `"}]`, `_id $eq ID(6071)`},
		{`[{"_id":{"$ne":"` + hex1 + `"}}]`, `_id $ne ID(6071)`},
		{`[{"_id":{"$in":["` + hex1 + `"]}}]`, `_id $in [ID(6071)]`},
		{`[{"cat":{"$nin":["` + hex1 + `"]}}]`, `cat $nin [ID(6071)]`},
		{`[{"cats":"` + hex1 + `"}]`, `cats $eq ID(6071)`},
		{`[{"cats":{"$all":["` + hex1 + `"]}}]`, `cats $all [ID(6071)]`},
		// Paths through references.
		{`[{"cat.title.en_AE":"x"}]`, `cat→cats:title.en_AE $eq "x"`},
		{`[{"cats.rank":{"$gt":1}}]`, `cats→cats:rank $gt 1`},
		{`[{"access":{"$__user":"` + hex1 + `","$__groups":["` + hex1 + `"]}}]`, `ACCESS(access, 6071, 1 groups)`},
	}
	for _, tc := range cases {
		q, err := parse(t, tc.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", tc.in, err)
			continue
		}
		if got := dump(q.Filter); got != tc.want {
			t.Errorf("Parse(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestParseSpecials(t *testing.T) {
	q, err := parse(t, `[{"status":"a","$limit":5},{"$sort":{"price":-1,"n":1},"$skip":2,"$limit":10,"$attrs":["n","meta.color","_id"],"$search":" red ","$extn":["cat"],"$group":[{"by":"n","count":3}],"$soft":true}]`)
	if err != nil {
		t.Fatal(err)
	}
	if q.Limit != 10 || q.Skip != 2 || q.Search != "red" || !q.Soft {
		t.Fatalf("specials = %+v", q)
	}
	if len(q.Sort) != 2 || q.Sort[0] != (Sort{"price", true}) || q.Sort[1] != (Sort{"n", false}) {
		t.Fatalf("$sort lost key order: %+v", q.Sort)
	}
	if fmt.Sprint(q.Attrs) != "[n meta.color]" || fmt.Sprint(q.Extn) != "[cat]" || len(q.Group) != 1 || q.Group[0] != (Group{"n", 3}) {
		t.Fatalf("attrs %v extn %v group %v", q.Attrs, q.Extn, q.Group)
	}
	q, _ = parse(t, `[{"$extn":false}]`)
	if q.Extn == nil || len(q.Extn) != 0 {
		t.Fatalf("$extn false = %#v, want empty non-nil", q.Extn)
	}
	q, _ = parse(t, `[]`)
	if q.Extn != nil {
		t.Fatal("no $extn must leave extensions on")
	}
	q, err = parse(t, `[{"$geo_near":{"val":[55.2,25.1],"attr":"loc","dist":1000}}]`)
	if err != nil || q.GeoNear == nil || q.GeoNear.Lng != 55.2 || q.GeoNear.MaxDistance != 1000 {
		t.Fatalf("$geo_near = %+v, %v", q.GeoNear, err)
	}
}

func TestParseLegacy(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"_id":{"val":"` + hex1 + `"}}`, `_id $eq ID(6071)`},
		{`{"n":{"val":1,"oper":"$gt"}}`, `n $gt 1`},
		{`{"n":{"val":1,"oper":"$bet","val2":5},"$limit":3}`, `n $bet 1..5`},
		{`{"status":{"val":"a","oper":"$not"}}`, `status $ne "a"`},
		{`{"__OR:status":{"val":"a"},"__OR:n":{"val":2}}`, `OR(status $eq "a", n $eq 2)`},
	}
	for _, tc := range cases {
		q, err := parse(t, tc.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", tc.in, err)
			continue
		}
		if got := dump(q.Filter); got != tc.want {
			t.Errorf("Parse(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestParseGoValues(t *testing.T) {
	// Permission modifiers arrive as Go values.
	q, err := Parse([]any{map[string]any{"n": 3, "$limit": 1, "tags": []string{"a"}}, map[string]any{"user": id1}}, testColl)
	if err != nil {
		t.Fatal(err)
	}
	if q.Limit != 1 || dump(q.Filter) != `AND(n $eq 3, tags $eq ["a"], user $eq ID(6071))` {
		t.Fatalf("got %s limit %d", dump(q.Filter), q.Limit)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, step string }{
		{`"x"`, `"x"`},
		{`[5]`, `5`},
		{`[{"nope":1}]`, `nope`},
		{`[{"status.x":1}]`, `status.x`},
		{`[{"n":{"$where":"1"}}]`, `n`},
		{`[{"n":{"$expr":1}}]`, `n`},
		{`[{"n":{"$gt":1,"$lt":3}}]`, `n`},
		{`[{"n":{"a":1}}]`, `n`},
		{`[{"$where":"1"}]`, `$where`},
		{`[{"$or":[{"n":1}]}]`, `$or`},
		{`[{"n":{"$bet":[1]}}]`, `n`},
		{`[{"n":{"$in":[]}}]`, `n`},
		{`[{"n":{"$in":1}}]`, `n`},
		{`[{"n":{"$gt":[1]}}]`, `n`},
		{`[{"status":{"$regex":"("}}]`, `status`},
		{`[{"status":{"$regex":1}}]`, `status`},
		{`[{"_id":"zz"}]`, `_id`},
		{`[{"cat":{"$in":["zz"]}}]`, `cat`},
		{`[{"cat.nope":1}]`, `cat.nope`},
		{`[{"__or":{"n":1}}]`, `__or`},
		{`[{"$limit":-1}]`, `$limit`},
		{`[{"$limit":"5"}]`, `$limit`},
		{`[{"$limit":1.5}]`, `$limit`},
		{`[{"$skip":true}]`, `$skip`},
		{`[{"$sort":"n"}]`, `$sort`},
		{`[{"$sort":{"n":2}}]`, `$sort`},
		{`[{"$sort":{"nope":1}}]`, `nope`},
		{`[{"$attrs":"n"}]`, `$attrs`},
		{`[{"$attrs":["nope"]}]`, `$attrs`},
		{`[{"$extn":"x"}]`, `$extn`},
		{`[{"$extn":["n"]}]`, `$extn`},
		{`[{"$group":[{"by":"n"}]}]`, `$group`},
		{`[{"$group":[{"by":"n","count":0}]}]`, `$group`},
		{`[{"$search":5}]`, `$search`},
		{`[{"$geo_near":{"val":[1],"attr":"loc","dist":1}}]`, `$geo_near`},
		{`[{"$geo_near":{"val":[1,2],"attr":"n","dist":1}}]`, `$geo_near`},
		{`[{"$soft":"yes"}]`, `$soft`},
		{`[{"access":"x"}]`, `access`},
		{`[{"access":{"$__user":"x","$__groups":[]}}]`, `access`},
		{`[{"":1}]`, ``},
		{`[{"a..b":1}]`, `a..b`},
		{`[{"meta.$x":1}]`, `meta.$x`},
		{`{"n":{"val":1,"oper":"$where"}}`, `n`},
		{`[{"status":{"$regex":"` + strings.Repeat("a", MaxRegex+1) + `"}}]`, `status`},
	}
	for _, tc := range cases {
		_, err := parse(t, tc.in)
		var qe *Error
		if !errors.As(err, &qe) {
			t.Errorf("Parse(%.80s) = %v, want a *query.Error", tc.in, err)
			continue
		}
		if qe.Step != tc.step {
			t.Errorf("Parse(%.80s): step %q, want %q (%s)", tc.in, qe.Step, tc.step, qe.Msg)
		}
	}
	// Deep OR nesting is bounded.
	deep := strings.Repeat("[", MaxNesting+3) + `{"n":1}` + strings.Repeat("]", MaxNesting+3)
	if _, err := parse(t, deep); err == nil {
		t.Error("unbounded OR nesting accepted")
	}
}

// FuzzParse: no panic; every failure is a *query.Error; whatever parses
// only names declared paths and known operators.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`[]`, `[{"status":"a"}]`, `[[{"n":{"$gt":1}},{"tags":{"$in":["x"]}}]]`,
		`[{"__or":[{"cat.title.en_AE":"x"}],"$sort":{"n":-1},"$limit":5}]`, `{"n":{"val":1,"oper":"$bet","val2":3}}`,
		`[{"_id":{"$in":["` + hex1 + `"]},"$group":[{"by":"n","count":2}]}]`,
		`[{"access":{"$__user":"` + hex1 + `","$__groups":[]}}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := jsonv.ParseOrdered(data)
		if err != nil {
			return
		}
		q, err := Parse(v, testColl)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("non-query error %T %v", err, err)
			}
			return
		}
		var walk func(Node)
		walk = func(n Node) {
			switch x := n.(type) {
			case And:
				for _, c := range x {
					walk(c)
				}
			case Or:
				for _, c := range x {
					walk(c)
				}
			case *Cond:
				if x.Op > Regex {
					t.Fatalf("unknown op %d", x.Op)
				}
				c := testColl
				if x.Join != nil {
					c = testColl.Extns[x.Join.Local].Target
				}
				if x.Path != "_id" && c.Lookup(x.Path) == nil {
					t.Fatalf("undeclared path %q reached the AST", x.Path)
				}
			case *Access:
			case nil:
			default:
				t.Fatalf("unknown node %T", n)
			}
		}
		walk(q.Filter)
	})
}
