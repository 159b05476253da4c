package mongo

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// jpCollections returns posts referencing users (author, editors), users
// referencing orgs: the shapes of the permission-join golden tests.
func jpCollections() (posts, users, orgs *schema.Collection) {
	orgs = &schema.Collection{Name: "orgs", Module: "org", Attrs: map[string]*schema.Type{
		"name": {Kind: schema.Str}, "public": {Kind: schema.Bool}, "access": {Kind: schema.Access},
	}}
	users = &schema.Collection{Name: "users", Module: "user", Attrs: map[string]*schema.Type{
		"email": {Kind: schema.Email}, "status": {Kind: schema.Str}, "org": {Kind: schema.ID},
		"email_hash": {Kind: schema.Str},
	}, Secret: []string{"email_hash"}, Extns: map[string]*schema.Extn{
		"org": {Module: "org", Collection: "orgs", Target: orgs},
	}}
	posts = &schema.Collection{Name: "posts", Module: "post", Attrs: map[string]*schema.Type{
		"title": {Kind: schema.Str}, "rank": {Kind: schema.Int}, "author": {Kind: schema.ID},
		"editors": {Kind: schema.List, Items: []*schema.Type{{Kind: schema.ID}}},
	}, Extns: map[string]*schema.Extn{
		"author":  {Module: "user", Collection: "users", Target: users},
		"editors": {Module: "user", Collection: "users", Target: users},
	}}
	return posts, users, orgs
}

// jpQueries are the permission-join shapes: a query_mod filter, deny,
// an ACCESS query_mod, a query_mod that joins itself (nested filter and
// nested deny), a negated condition on a LIST of references, and a join
// in an OR next to $sort/$group/$skip/$limit.
func jpQueries() []struct {
	name string
	q    *query.Query
} {
	u1 := oid.MustParse("f00000000000000000000010")
	g1 := oid.MustParse("f00000000000000000000020")
	regex := func(j *query.Join) *query.Cond {
		return &query.Cond{Path: "email", Op: query.Regex, Value: "^ADMIN@", Join: j}
	}
	self := &query.Cond{Path: "_id", Op: query.Eq, Value: u1}
	orgJoin := func(f query.Node, deny bool) *query.Join {
		return &query.Join{Local: "org", Collection: "orgs", Filter: f, Deny: deny}
	}
	nested := func(inner *query.Join) query.Node {
		return query.And{&query.Cond{Path: "status", Op: query.Eq, Value: "active"},
			&query.Cond{Path: "public", Op: query.Eq, Value: true, Join: inner}}
	}
	return []struct {
		name string
		q    *query.Query
	}{
		{"filter", &query.Query{Filter: regex(&query.Join{Local: "author", Collection: "users", Filter: self})}},
		{"deny", &query.Query{Filter: regex(&query.Join{Local: "author", Collection: "users", Deny: true})}},
		{"access", &query.Query{Filter: regex(&query.Join{Local: "author", Collection: "users",
			Filter: query.Or{self, &query.Access{Path: "access", User: u1, Groups: []oid.ID{g1}}}})}},
		{"nested", &query.Query{Filter: regex(&query.Join{Local: "author", Collection: "users",
			Filter: nested(orgJoin(&query.Cond{Path: "name", Op: query.Ne, Value: ""}, false))})}},
		{"nested_deny", &query.Query{Filter: regex(&query.Join{Local: "author", Collection: "users",
			Filter: nested(orgJoin(nil, true))})}},
		{"list_ne", &query.Query{Filter: &query.Cond{Path: "email", Op: query.Ne, Value: "x@y",
			Join: &query.Join{Local: "editors", Collection: "users", IDList: true, Filter: self}}}},
		{"or_specials", &query.Query{Filter: query.Or{&query.Cond{Path: "rank", Op: query.Gt, Value: int64(2)},
			&query.Cond{Path: "status", Op: query.In, Value: []any{"active", nil},
				Join: &query.Join{Local: "author", Collection: "users", Filter: self}}},
			Sort: []query.Sort{{Path: "rank", Desc: true}}, Skip: 1, Limit: 2, Group: []query.Group{{By: "rank", Count: 2}}}},
	}
}

// TestCompileJoinPermGolden pins the $lookup of a join carrying the
// caller's read permission on the referenced collection (issue 10 item
// 1): the permission filter sits inside the $lookup pipeline, after the
// soft-delete guard, so an unreadable document is left out of the joined
// array exactly as a missing one.
func TestCompileJoinPermGolden(t *testing.T) {
	posts, _, _ := jpCollections()
	for _, tt := range jpQueries() {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(posts, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			doc := bson.D{{Key: "pipeline", Value: stagesA(p.Docs())}, {Key: "count", Value: stagesA(p.Count())}}
			for _, g := range p.Groups {
				doc = append(doc, bson.E{Key: "group_" + g.By, Value: stagesA(g.Stages)})
			}
			golden(t, "joinperm_"+tt.name, indentJSON(t, doc))
		})
	}
}

// TestCompileJoinPermDepth: a permission filter nested deeper than
// maxJoinDepth is refused, not compiled.
func TestCompileJoinPermDepth(t *testing.T) {
	posts, _, _ := jpCollections()
	var f query.Node
	for range maxJoinDepth + 1 {
		f = &query.Cond{Path: "name", Op: query.Eq, Value: "x", Join: &query.Join{Local: "org", Collection: "orgs", Filter: f}}
	}
	q := &query.Query{Filter: &query.Cond{Path: "email", Op: query.Eq, Value: "x", Join: &query.Join{Local: "author", Collection: "users", Filter: f}}}
	if _, err := Compile(posts, q); err == nil {
		t.Fatal("a filter nested too deep compiled")
	}
}
