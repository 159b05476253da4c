package query

import (
	"strings"
	"testing"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/schema"
)

// TestSecretAttrsRefused: a secret attr (credential digest) is refused in
// every place a query names an attr, directly and through a reference.
func TestSecretAttrsRefused(t *testing.T) {
	users := &schema.Collection{Name: "users", Module: "user", Attrs: map[string]*schema.Type{
		"email": {Kind: schema.Email}, "email_hash": {Kind: schema.Str},
		"prefs": {Kind: schema.Dict, Val: &schema.Type{Kind: schema.Any}},
	}, Secret: []string{"email_hash", "prefs"}, Search: []string{"email"}}
	posts := &schema.Collection{Name: "posts", Module: "post", Attrs: map[string]*schema.Type{
		"author": {Kind: schema.ID}, "title": {Kind: schema.Str},
	}, Extns: map[string]*schema.Extn{"author": {Module: "user", Collection: "users", Target: users}}}
	obj := func(kv ...any) jsonv.Object {
		var o jsonv.Object
		for i := 0; i < len(kv); i += 2 {
			o = append(o, jsonv.Member{Key: kv[i].(string), Value: kv[i+1]})
		}
		return o
	}
	tests := []struct {
		c    *schema.Collection
		step any
	}{
		{users, obj("email_hash", "x")},
		{users, obj("email_hash", obj("$regex", "^a"))},
		{users, obj("email_hash", nil)},
		{users, obj("prefs.theme", "dark")},
		{users, []any{obj("email", "a"), obj("email_hash", obj("$ne", "b"))}},
		{users, obj("$sort", obj("email_hash", int64(1)))},
		{users, obj("$group", []any{obj("by", "email_hash", "count", int64(2))})},
		{users, obj("$attrs", []any{"email", "email_hash"})},
		{posts, obj("author.email_hash", obj("$gt", ""))},
		{posts, obj("author.prefs.theme", obj("$in", []any{"a"}))},
		{posts, obj("__or", []any{obj("title", "x"), obj("author.email_hash", "y")})},
	}
	for _, tt := range tests {
		_, err := Parse([]any{tt.step}, tt.c)
		qe, ok := err.(*Error)
		if !ok || !strings.Contains(qe.Msg, "secret") {
			t.Errorf("%s: Parse error = %v, want the secret attr refused", compact(tt.step), err)
		}
	}
	// Other attrs of the same collections still work.
	for _, step := range []any{obj("email", obj("$regex", "^a")), obj("$sort", obj("email", int64(-1))), obj("$attrs", []any{"email"})} {
		if _, err := Parse([]any{step}, users); err != nil {
			t.Errorf("%s: %v", compact(step), err)
		}
	}
	if _, err := Parse([]any{obj("author.email", "a")}, posts); err != nil {
		t.Errorf("author.email: %v", err)
	}
}
