package query

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
)

var (
	catColl = &schema.Collection{Name: "cats", Module: "cat", Attrs: map[string]*schema.Type{
		"title": {Kind: schema.Locale}, "rank": {Kind: schema.Int}, "acc": {Kind: schema.Access},
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
		"done":   {Kind: schema.Bool},
		"when":   {Kind: schema.Datetime},
		"mixed":  {Kind: schema.List, Items: []*schema.Type{{Kind: schema.Str}, {Kind: schema.Int}}},
		"lit":    {Kind: schema.Literal, Literal: []any{"a", int64(1)}},
		"items":  {Kind: schema.List, Items: []*schema.Type{{Kind: schema.Dict, Fields: map[string]*schema.Type{"qty": {Kind: schema.Int}}}}},
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
		{`[{"status":{"$lt":"a"}}]`, `status $lt "a"`},
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
		{`[{"access":{"$__groups":null,"$__user":"` + hex1 + `"}}]`, `ACCESS(access, 6071, 0 groups)`},
		{`[{"access":{"$__user":"` + hex1 + `","$__groups":[]},"status":"a"}]`, `AND(ACCESS(access, 6071, 0 groups), status $eq "a")`},
		// Empty steps and groups are dropped; one-item ORs collapse.
		{`[[]]`, `∅`},
		{`[[{}],{}]`, `∅`},
		{`[{"__or":[]}]`, `∅`},
		{`[null]`, `∅`},
		{`[[{"n":1}]]`, `n $eq 1`},
		{`[[[{"n":1},{"n":2}],[{"n":3},{"n":4}]]]`, `OR(OR(n $eq 1, n $eq 2), OR(n $eq 3, n $eq 4))`},
		{`[{"__or":[[{"n":1},{"n":2}],{"n":3}]}]`, `OR(OR(n $eq 1, n $eq 2), n $eq 3)`},
		{`[{"__or":[{"n":1,"status":"a"},{"n":2}]}]`, `OR(AND(n $eq 1, status $eq "a"), n $eq 2)`},
		{`[[{"n":1,"$limit":3},{"n":2}]]`, `OR(n $eq 1, n $eq 2)`},
		// Number kinds are kept.
		{`[{"n":1.0}]`, `n $eq 1f`},
		{`[{"price":{"$bet":[1,2.5]}}]`, `price $bet 1..2.5f`},
		{`[{"n":{"$in":[1,null]}}]`, `n $in [1 <nil>]`},
		{`[{"n":{"$nin":[2.5]}}]`, `n $nin [2.5f]`},
		{`[{"meta.size":{"$gte":2}}]`, `meta.size $gte 2`},
		{`[{"done":false}]`, `done $eq false`},
		{`[{"done":{"$in":[true,null]}}]`, `done $in [true <nil>]`},
		{`[{"when":{"$bet":["2020-01-01","2021-01-01T00:00:00"]}}]`, `when $bet "2020-01-01".."2021-01-01T00:00:00"`},
		{`[{"tags":"x"}]`, `tags $eq "x"`},
		{`[{"tags":["x","y"]}]`, `tags $eq ["x" "y"]`},
		{`[{"tags.0":"x"}]`, `tags.0 $eq "x"`},
		{`[{"tags":{"$regex":"^x"}}]`, `tags $regex "^x"`},
		{`[{"status":{"$regex":"^[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,10}$"}}]`, `status $regex "^[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,10}$"`},
		{`[{"status":{"$regex":"\\d{4}-\\d{2}-\\d{2}|\\p{L}{1,50}"}}]`, `status $regex "\\d{4}-\\d{2}-\\d{2}|\\p{L}{1,50}"`},
		{`[{"status":null}]`, `status $eq <nil>`},
		// Untyped paths take anything but operators.
		{`[{"extra":{"a":[1,{"b":2}]}}]`, `extra $eq map[a:[1 map[b:2]]]`},
		{`[{"extra":{}}]`, `extra $eq map[]`},
		{`[{"extra":[1,"a"]}]`, `extra $eq [1 "a"]`},
		{`[{"extra":{"$in":[1,"a",true,{"x":1}]}}]`, `extra $in [1 "a" true map[x:1]]`},
		{`[{"title":{"en_AE":"x"}}]`, `title $eq map[en_AE:x]`},
		{`[{"mixed":1}]`, `mixed $eq 1`},
		{`[{"mixed":{"$in":["a",1]}}]`, `mixed $in ["a" 1]`},
		{`[{"lit":"a"}]`, `lit $eq "a"`},
		{`[{"items":{"qty":1}}]`, `items $eq map[qty:1]`},
		{`[{"items.qty":{"$gt":1}}]`, `items.qty $gt 1`},
		{`[{"items.0.qty":1}]`, `items.0.qty $eq 1`},
		// More ID coercion: every operator, LIST of ID, joins.
		{`[{"_id":{"$eq":"` + hex1 + `"}}]`, `_id $eq ID(6071)`},
		{`[{"_id":{"$gt":"` + hex1 + `"}}]`, `_id $gt ID(6071)`},
		{`[{"_id":{"$bet":["` + hex1 + `","` + hex1 + `"]}}]`, `_id $bet ID(6071)..ID(6071)`},
		{`[{"_id":{"$nin":["` + hex1 + `",null]}}]`, `_id $nin [ID(6071) <nil>]`},
		{`[{"cat":{"$all":["` + hex1 + `"]}}]`, `cat $all [ID(6071)]`},
		{`[{"cat":null}]`, `cat $eq <nil>`},
		{`[{"user":{"$ne":"` + hex1 + `"}}]`, `user $ne ID(6071)`},
		{`[{"cats":["` + hex1 + `","` + hex1 + `"]}]`, `cats $eq [ID(6071) ID(6071)]`},
		{`[{"cats":{"$ne":"` + hex1 + `"}}]`, `cats $ne ID(6071)`},
		{`[{"cats":{"$in":["` + hex1 + `"]}}]`, `cats $in [ID(6071)]`},
		{`[{"cat._id":"` + hex1 + `"}]`, `cat→cats:_id $eq ID(6071)`},
		{`[{"cats._id":{"$in":["` + hex1 + `"]}}]`, `cats→cats:_id $in [ID(6071)]`},
		// A list member of $in/$nin/$all on a LIST attr is whole-array
		// equality (MongoDB): its items are checked and converted.
		{`[{"tags":{"$in":[[],"web"]}}]`, `tags $in [[] "web"]`},
		{`[{"tags":{"$nin":[["a","b"]]}}]`, `tags $nin [["a" "b"]]`},
		{`[{"tags":{"$all":[["a"]]}}]`, `tags $all [["a"]]`},
		{`[{"cats":{"$in":[["` + hex1 + `"]]}}]`, `cats $in [[ID(6071)]]`},
		{`[{"extra":{"$in":[[1,{"x":2.0}]]}}]`, `extra $in [[1 map[x:2]]]`},
		{`[{"cat.title.en_AE":{"$regex":"^a"},"cat.rank":{"$bet":[1,2]}}]`, `AND(cat→cats:title.en_AE $regex "^a", cat→cats:rank $bet 1..2)`},
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
		if err := checkQuery(q, testColl); err != nil {
			t.Errorf("Parse(%s): invariant: %v", tc.in, err)
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
		{`{"__OR:status":{"val":"a"}}`, `status $eq "a"`},
		{`{"status":"a","n":{"$gt":1}}`, `AND(status $eq "a", n $gt 1)`},
		{`{"n":{"val":[1,2],"oper":"$in"}}`, `n $in [1 2]`},
		{`{"tags":{"val":["x"],"oper":"$all"}}`, `tags $all ["x"]`},
		{`{"status":{"val":"^a","oper":"$regex","strict":true}}`, `status $regex "^a"`},
		{`{"cat":{"val":"` + hex1 + `","oper":"$eq"},"status":{"val":"a"}}`, `AND(cat $eq ID(6071), status $eq "a")`},
		{`{}`, `∅`},
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
		if err := checkQuery(q, testColl); err != nil {
			t.Errorf("Parse(%s): invariant: %v", tc.in, err)
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
		{`[{"status":{"$regex":"` + strings.Repeat(`(a{1000})`, 100) + `"}}]`, `status`},
		{`[{"status":{"$regex":"((a{100}){100})"}}]`, `status`},
		{`[{"status":{"$regex":"(?<=a)b"}}]`, `status`},
		// Kinds that cannot match the path's type.
		{`[{"n":"5"}]`, `n`},
		{`[{"n":true}]`, `n`},
		{`[{"n":{"$ne":"x"}}]`, `n`},
		{`[{"n":{"$in":[1,"x"]}}]`, `n`},
		{`[{"n":{"$bet":[1,"9"]}}]`, `n`},
		{`[{"n":{"$gt":null}}]`, `n`},
		{`[{"n":{"$bet":[1,null]}}]`, `n`},
		{`[{"n":{"$eq":{"a":1}}}]`, `n`},
		{`[{"n":[1,2]}]`, `n`},
		{`[{"n":{"$regex":"1"}}]`, `n`},
		{`[{"n":{}}]`, `n`},
		{`[{"status":5}]`, `status`},
		{`[{"status":{"$in":["a",1]}}]`, `status`},
		{`[{"status":{"$in":[["a"]]}}]`, `status`},
		{`[{"tags":{"$in":[["a",5]]}}]`, `tags`},
		{`[{"tags":{"$in":[[null]]}}]`, `tags`},
		{`[{"cats":{"$in":[["zz"]]}}]`, `cats`},
		{`[{"n":{"$in":[[1]]}}]`, `n`},
		{`[{"status":{"$gt":false}}]`, `status`},
		{`[{"when":{"$gte":20200101}}]`, `when`},
		{`[{"tags":5}]`, `tags`},
		{`[{"tags":{"a":1}}]`, `tags`},
		{`[{"items.qty":"1"}]`, `items.qty`},
		{`[{"tags":["x",5]}]`, `tags`},
		{`[{"tags":{"$all":["x",null]}}]`, `tags`},
		{`[{"done":"yes"}]`, `done`},
		{`[{"done":{"$gt":true}}]`, `done`},
		{`[{"done":{"$regex":"t"}}]`, `done`},
		{`[{"extra":{"$gt":true}}]`, `extra`},
		{`[{"extra":{"$bet":[{"a":1},2]}}]`, `extra`},
		// Operators hidden inside compared values.
		{`[{"extra":{"$eq":{"$where":"1"}}}]`, `extra`},
		{`[{"extra":{"a":{"$gt":1}}}]`, `extra`},
		{`[{"extra":[{"$gt":1}]}]`, `extra`},
		{`[{"extra":{"$in":[{"$ne":1}]}}]`, `extra`},
		{`[{"meta":{"color":{"$ne":"x"}}}]`, `meta`},
		{`[{"title":{"en_AE":"x","$where":"1"}}]`, `title`},
		// ID paths.
		{`[{"_id":5}]`, `_id`},
		{`[{"_id":true}]`, `_id`},
		{`[{"_id":["` + hex1 + `"]}]`, `_id`},
		{`[{"_id":{"$gt":"zz"}}]`, `_id`},
		{`[{"_id":{"$bet":["` + hex1 + `","zz"]}}]`, `_id`},
		{`[{"_id":{"$regex":"^5e"}}]`, `_id`},
		{`[{"cats":["zz"]}]`, `cats`},
		{`[{"cats":[1]}]`, `cats`},
		{`[{"cats":{"$all":["` + hex1 + `","zz"]}}]`, `cats`},
		{`[{"user":{"$ne":"zz"}}]`, `user`},
		{`[{"cat._id":"zz"}]`, `cat._id`},
		{`[{"cat.rank":"1"}]`, `cat.rank`},
		// ACCESS.
		{`[{"access":{"$__user":"` + hex1 + `"}}]`, `access`},
		{`[{"access":{"$__groups":[]}}]`, `access`},
		{`[{"access":{"$__user":"` + hex1 + `","$__groups":["zz"]}}]`, `access`},
		{`[{"access":{"$__user":"` + hex1 + `","$__groups":"` + hex1 + `"}}]`, `access`},
		{`[{"access":{"$__user":"` + hex1 + `","$__user":"` + hex1 + `"}}]`, `access`},
		{`[{"access":{"$__user":"` + hex1 + `","$__groups":[],"x":1}}]`, `access`},
		{`[{"access":{"$__user":5,"$__groups":[]}}]`, `access`},
		{`[{"access":{"$eq":"x"}}]`, `access`},
		{`[{"cat.acc":{"$__user":"` + hex1 + `","$__groups":[]}}]`, `cat.acc`},
		// Specials.
		{`[{"$limit":-1,"$skip":-1}]`, `$limit`},
		{`[{"$sort":{"cat.rank":1}}]`, `cat.rank`},
		{`[{"$sort":{"n":1.5}}]`, `$sort`},
		{`[{"$sort":{"n":"asc"}}]`, `$sort`},
		{`[{"$group":[{"by":"cat.rank","count":2}]}]`, `cat.rank`},
		{`[{"$group":[{"by":"nope","count":2}]}]`, `nope`},
		{`[{"$group":[{"by":"n","count":2,"x":1}]}]`, `$group`},
		{`[{"$group":{"by":"n","count":2}}]`, `$group`},
		{`[{"$group":[{"by":"n","count":1001}]}]`, `$group`},
		{`[{"$geo_near":{"val":[200,2],"attr":"loc","dist":1}}]`, `$geo_near`},
		{`[{"$geo_near":{"val":[1,2],"attr":"loc","dist":-1}}]`, `$geo_near`},
		{`[{"$geo_near":{"val":[1,2],"attr":"loc"}}]`, `$geo_near`},
		{`[{"$search":"` + strings.Repeat("a", 1025) + `"}]`, `$search`},
		{`[{"$extn":[5]}]`, `$extn`},
		{`[{"$attrs":[5]}]`, `$attrs`},
		{`[[{"n":1},{"$limit":"x"}]]`, `$limit`},
		{`[{"$Limit":1}]`, `$Limit`},
		{`[{"$":1}]`, `$`},
		// Structure.
		{`[{"__or1":5}]`, `__or1`},
		{`[{"__or":[5]}]`, `5`},
		{`[[{"n":1},"x"]]`, `"x"`},
		{`[true]`, `true`},
		{`5`, `5`},
		{`[{"n":1},{"nope":2}]`, `nope`},
		{`[{".n":1}]`, `.n`},
		{`[{"n.":1}]`, `n.`},
		// Legacy form.
		{`{"n":{"val":1,"oper":5}}`, `n`},
		{`{"n":{"val":1,"x":2}}`, `n`},
		{`{"n":{"val":1,"oper":"$bet"}}`, `n`},
		{`{"n":{"val":1,"oper":"$in"}}`, `n`},
		{`{"_id":{"val":"zz"}}`, `_id`},
		{`{"nope":{"val":1}}`, `nope`},
		{`{"__OR:nope":{"val":1}}`, `nope`},
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
// passes checkQuery. Seeds are in testdata/fuzz/FuzzParse too.
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
			if len(qe.Step) > 130 || strings.ContainsRune(qe.Msg, '\n') {
				t.Fatalf("unbounded or multi-line error %q", err)
			}
			return
		}
		if err := checkQuery(q, testColl); err != nil {
			t.Fatalf("%s parsed to a bad query: %v", data, err)
		}
	})
}

// checkQuery is the structural invariant of a parsed query: what a store
// may rely on.
func checkQuery(q *Query, c *schema.Collection) error {
	var walk func(n Node, depth int) error
	walk = func(n Node, depth int) error {
		if depth > MaxNesting+2 {
			return fmt.Errorf("filter nests %d deep", depth)
		}
		switch x := n.(type) {
		case And:
			if len(x) < 2 {
				return fmt.Errorf("And of %d", len(x))
			}
			for _, e := range x {
				if _, ok := e.(And); ok {
					return errors.New("And inside And")
				}
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
		case Or:
			if len(x) < 2 {
				return fmt.Errorf("Or of %d", len(x))
			}
			for _, e := range x {
				if e == nil {
					return errors.New("nil in Or")
				}
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
		case *Cond:
			return checkCond(x, c)
		case *Access:
			if t := c.Lookup(x.Path); t == nil || t.Kind != schema.Access {
				return fmt.Errorf("access on %q", x.Path)
			}
		case nil:
			if depth > 0 {
				return errors.New("nil node below the top")
			}
		default:
			return fmt.Errorf("unknown node %T", n)
		}
		return nil
	}
	if err := walk(q.Filter, 0); err != nil {
		return err
	}
	for _, s := range q.Sort {
		if c.Lookup(s.Path) == nil {
			return fmt.Errorf("sort by %q", s.Path)
		}
	}
	for _, a := range q.Attrs {
		if c.Lookup(a) == nil {
			return fmt.Errorf("attr %q", a)
		}
	}
	for _, a := range q.Extn {
		if c.Extns[a] == nil {
			return fmt.Errorf("extn %q", a)
		}
	}
	for _, g := range q.Group {
		if c.Lookup(g.By) == nil || g.Count < 1 || g.Count > MaxGroupBuckets {
			return fmt.Errorf("group %+v", g)
		}
	}
	if g := q.GeoNear; g != nil {
		if t := c.Lookup(g.Attr); t == nil || t.Kind != schema.Geo || g.MaxDistance < 0 || math.Abs(g.Lng) > 180 || math.Abs(g.Lat) > 90 {
			return fmt.Errorf("geo %+v", g)
		}
	}
	if q.Skip < 0 || q.Limit < 0 {
		return errors.New("negative skip or limit")
	}
	if q.Search != strings.TrimSpace(q.Search) || q.Search != "" && len(c.Search) == 0 {
		return fmt.Errorf("search %q", q.Search)
	}
	return nil
}

func checkCond(x *Cond, c *schema.Collection) error {
	if x.Op > Regex {
		return fmt.Errorf("unknown op %d", x.Op)
	}
	if x.Join != nil {
		e := c.Extns[x.Join.Local]
		if e == nil || e.Target == nil || e.Target.Name != x.Join.Collection {
			return fmt.Errorf("join %+v", x.Join)
		}
		c = e.Target
	}
	t := c.Lookup(x.Path)
	if t == nil {
		return fmt.Errorf("undeclared path %q reached the AST", x.Path)
	}
	if t.Kind == schema.Access {
		return fmt.Errorf("cond on ACCESS %q", x.Path)
	}
	var vals []any
	switch x.Op {
	case In, Nin, All:
		l, ok := x.Value.([]any)
		if !ok || len(l) == 0 {
			return fmt.Errorf("%s operand %#v", x.Op, x.Value)
		}
		vals = l
	case Bet:
		vals = []any{x.Value, x.Value2}
	case Regex:
		s, ok := x.Value.(string)
		if !ok || len(s) > MaxRegex {
			return fmt.Errorf("regex %#v", x.Value)
		}
		if _, err := regexp.Compile("(?i)" + s); err != nil {
			return err
		}
		return nil
	default:
		vals = []any{x.Value}
	}
	if x.Op == Eq || x.Op == Ne {
		if l, ok := x.Value.([]any); ok && t.IsIDList() {
			vals = l
		}
	}
	isID := t.Kind == schema.ID || t.IsIDList()
	for _, v := range vals {
		if err := canonical(v, 0); err != nil {
			return fmt.Errorf("%s: %v", x.Path, err)
		}
		if _, ok := v.(string); ok && isID {
			return fmt.Errorf("%s: string left on an ID path", x.Path)
		}
		if x.Op >= Gt && x.Op <= Bet {
			switch v.(type) {
			case string, int64, float64, oid.ID:
			default:
				return fmt.Errorf("%s: ordered operand %#v", x.Path, v)
			}
		}
	}
	return nil
}

// canonical checks that v is built of canonical values only and holds no
// `$` key.
func canonical(v any, depth int) error {
	if depth > 300 {
		return errors.New("too deep")
	}
	switch x := v.(type) {
	case nil, bool, int64, string, oid.ID:
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return errors.New("non-finite float")
		}
	case []any:
		for _, e := range x {
			if err := canonical(e, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.HasPrefix(k, "$") {
				return fmt.Errorf("key %q in a value", k)
			}
			if err := canonical(e, depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("non-canonical %T", v)
	}
	return nil
}

var update = flag.Bool("update", false, "rewrite testdata/fuzz/FuzzParse seeds")

// TestFuzzSeeds keeps the checked-in fuzz corpus in step with
// invariantSeeds and fuzzSeeds (go test -run TestFuzzSeeds -update).
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	all := append(slices.Clone(invariantSeeds), fuzzSeeds...)
	for i, src := range all {
		name := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(src) + ")\n"
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != want {
			t.Errorf("%s is stale (go test -run TestFuzzSeeds -update): %v", name, err)
		}
	}
}

// fuzzSeeds are rejected or odd inputs worth mutating.
var fuzzSeeds = []string{
	`{"__OR:status":{"val":"a"},"n":{"val":1,"oper":"$not"},"$limit":2}`,
	`[{"extra":{"$eq":{"$where":"1"}}}]`,
	`[{"n":{"$gt":1,"$lt":3}}]`,
	`[[[[[[{"n":1}]]]]]]`,
	`[{"__or":[{"__or1":[{"n":1},{"n":2}]},{"tags":{"$all":["x"]}}]}]`,
	`[{"cats":["` + hex1 + `"],"cat._id":{"$bet":["` + hex1 + `","` + hex1 + `"]}}]`,
	`[{"$sort":{"n":1.0,"_id":-1},"$skip":1e2,"$limit":5.0,"$extn":false,"$soft":true}]`,
	`[{"status":{"$regex":"(a+)+$"}},{"meta.size":{"$in":[1,2.5,null]}}]`,
	`[{"cat.acc":{"$__user":"` + hex1 + `","$__groups":null}}]`,
	`[{"title":{"en_AE":"x"},"tags.0":"y","loc.coordinates":{"$gt":1}}]`,
}

// TestCheckQuery runs the invariant over every table case that parses.
func TestCheckQuery(t *testing.T) {
	for _, src := range invariantSeeds {
		q, err := parse(t, src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if err := checkQuery(q, testColl); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

var invariantSeeds = []string{
	`[{"status":"a","n":{"$bet":[1,2]},"cats":["` + hex1 + `"],"extra":{"a":[1]}}]`,
	`[[{"cat.rank":{"$in":[1,2]}},{"_id":{"$nin":["` + hex1 + `"]}}],{"$sort":{"n":-1},"$limit":3,"$attrs":["n"],"$extn":["cat"],"$search":"x"}]`,
	`[{"access":{"$__user":"` + hex1 + `","$__groups":[]},"$group":[{"by":"price","count":4}],"$geo_near":{"val":[1,2],"attr":"loc","dist":5}}]`,
	`[{"status":{"$regex":"^a"}},{"__or":[{"done":true},{"when":{"$gt":"2020"}}]}]`,
}

func TestParseSpecialsMore(t *testing.T) {
	q, err := parse(t, `[{"$limit":1,"$sort":{"n":1}},[{"n":1,"$limit":2},{"n":2}],{"$limit":5.0,"$skip":0,"$sort":{"price":-1.0,"_id":1},"$extn":true,"$attrs":[]}]`)
	if err != nil {
		t.Fatal(err)
	}
	if q.Limit != 5 || q.Skip != 0 || q.Extn != nil {
		t.Errorf("limit %d skip %d extn %#v, want the last occurrences", q.Limit, q.Skip, q.Extn)
	}
	if fmt.Sprint(q.Sort) != "[{price true} {_id false}]" {
		t.Errorf("sort = %v", q.Sort)
	}
	if q.Attrs == nil || len(q.Attrs) != 0 {
		t.Errorf("$attrs [] = %#v, want empty non-nil (only _id)", q.Attrs)
	}
	// A module without search attrs refuses $search; blank is no search.
	if _, err := Parse([]any{jsonv.Object{{Key: "$search", Value: "x"}}}, catColl); err == nil {
		t.Error("$search accepted on a module without search attrs")
	}
	if q, err := Parse([]any{jsonv.Object{{Key: "$search", Value: "  "}}}, catColl); err != nil || q.Search != "" {
		t.Errorf("blank $search = %q, %v", q.Search, err)
	}
	// Duplicate $sort keys (jsonv merges them on the wire; Go code may not).
	_, err = Parse([]any{jsonv.Object{{Key: "$sort", Value: jsonv.Object{{Key: "n", Value: int64(1)}, {Key: "n", Value: int64(-1)}}}}}, testColl)
	if qe := (*Error)(nil); !errors.As(err, &qe) || qe.Step != "n" {
		t.Errorf("duplicate sort key: %v", err)
	}
}

func TestParseGoBuilt(t *testing.T) {
	// Permission modifiers and hooks build queries from Go values.
	q, err := Parse([]any{
		map[string]any{
			"$sort":     map[string]any{"n": 1},
			"$group":    []any{map[string]any{"by": "n", "count": 2}},
			"$geo_near": map[string]any{"val": []float64{55.5, 25}, "attr": "loc", "dist": 100},
			"$limit":    uint(3),
			"$extn":     []string{"cat"},
		},
		map[string]any{"_id": map[string]any{"$in": []oid.ID{id1}}, "n": map[string]any{"$in": []int{1, 2}}, "price": float32(1.5)},
		map[string]any{"access": map[string]any{"$__user": id1, "$__groups": []oid.ID{id1, id1}}},
		map[string]any{"access": map[string]any{"$__user": id1, "$__groups": []oid.ID(nil)}},
		[]map[string]any{{"n": int8(1)}, {"n": uint64(2)}},
		map[string]any{"price": map[string]any{"$in": []float64{1, 2}}, "tags": map[string]any{"$all": []string{"a"}}, "n": map[string]any{"$nin": []int64{7}}},
	}, testColl)
	if err != nil {
		t.Fatal(err)
	}
	want := `AND(_id $in [ID(6071)], n $in [1 2], price $eq 1.5f, ACCESS(access, 6071, 2 groups), ACCESS(access, 6071, 0 groups), OR(n $eq 1, n $eq 2), n $nin [7], price $in [1f 2f], tags $all ["a"])`
	if got := dump(q.Filter); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if len(q.Sort) != 1 || len(q.Group) != 1 || q.Group[0].Count != 2 || q.GeoNear == nil || q.GeoNear.Lat != 25 || q.GeoNear.MaxDistance != 100 || q.Limit != 3 || fmt.Sprint(q.Extn) != "[cat]" {
		t.Errorf("specials: sort %v group %v geo %+v limit %d extn %v", q.Sort, q.Group, q.GeoNear, q.Limit, q.Extn)
	}
	// Non-canonical Go types never reach a store.
	for _, v := range []any{struct{}{}, []int32{1}, map[int]int{1: 1}, math.NaN(), math.Inf(1)} {
		_, err := Parse([]any{map[string]any{"extra": v}}, testColl)
		if qe := (*Error)(nil); !errors.As(err, &qe) {
			t.Errorf("extra: %#v accepted (%v)", v, err)
		}
	}
	// A cyclic Go value is bounded.
	cyc := []any{nil}
	cyc[0] = cyc
	if _, err := Parse([]any{map[string]any{"extra": cyc}}, testColl); err == nil {
		t.Error("cyclic value accepted")
	}
	if _, err := Parse([]any{cyc}, testColl); err == nil {
		t.Error("cyclic steps accepted")
	}
	cycm := map[string]any{}
	cycm["extra"] = cycm
	if _, err := Parse([]any{cycm}, testColl); err == nil {
		t.Error("cyclic object accepted")
	}
}

func TestParseErrorShape(t *testing.T) {
	long := strings.Repeat("k", 500)
	_, err := parse(t, `[{"`+long+`":1}]`)
	var qe *Error
	if !errors.As(err, &qe) || len(qe.Step) > 130 || !strings.HasSuffix(qe.Step, "…") {
		t.Errorf("long path step not truncated: %v", err)
	}
	if msg := err.Error(); msg != strings.ToLower(msg[:1])+msg[1:] || !strings.HasPrefix(msg, "invalid query step ") {
		t.Errorf("message %q", msg)
	}
	if _, err := Parse([]any{}, nil); !errors.As(err, &qe) {
		t.Errorf("nil schema: %v", err)
	}
	// Errors are deterministic.
	const src = `[{"$limit":-1,"$skip":-1,"$sort":5,"$attrs":5,"$extn":5}]`
	_, first := parse(t, src)
	for range 20 {
		if _, err := parse(t, src); err.Error() != first.Error() {
			t.Fatalf("error changed: %v, then %v", first, err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	v, err := jsonv.ParseOrdered([]byte(`[{"status":"published","price":{"$gt":5}},{"__or1":[{"n":{"$bet":[1,9]}},{"title.en_AE":{"$regex":"^abc"}}]},{"cat.title.en_AE":"x","_id":{"$in":["` + hex1 + `","` + hex1 + `"]}},{"$limit":10,"$skip":20,"$sort":{"n":-1}}]`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(v, testColl); err != nil {
			b.Fatal(err)
		}
	}
}
