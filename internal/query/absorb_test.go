package query

import (
	"testing"

	"github.com/limp-go/limp/internal/oid"
)

func TestAbsorb(t *testing.T) {
	eq := func(p string, v any) *Cond { return &Cond{Path: p, Op: Eq, Value: v} }
	user := oid.MustParse("f00000000000000000000011")
	pub, pub2, usr := eq("status", "published"), eq("status", "published"), eq("user", user)
	tests := []struct {
		name    string
		in, out Node
	}{
		{"nil", nil, nil},
		{"cond", pub, pub},
		{"absorbed or", And{pub, Or{pub2, usr}}, pub},
		{"absorbed or, or first", And{Or{usr, pub2}, pub}, pub},
		{"or of a conjunction of siblings", And{pub, usr, Or{And{pub2, eq("user", user)}, eq("x", int64(1))}}, And{pub, usr}},
		{"repeated conjunct", And{pub, eq("a", int64(1)), pub2}, And{pub, eq("a", int64(1))}},
		{"different kinds do not absorb", And{eq("n", int64(2)), Or{eq("n", 2.0), usr}}, And{eq("n", int64(2)), Or{eq("n", 2.0), usr}}},
		{"different operator", And{pub, Or{&Cond{Path: "status", Op: Ne, Value: "published"}, usr}},
			And{pub, Or{&Cond{Path: "status", Op: Ne, Value: "published"}, usr}}},
		{"or without the sibling", And{eq("views", int64(3)), Or{pub, usr}}, And{eq("views", int64(3)), Or{pub, usr}}},
		{"empty or matches nothing", And{pub, Or{}}, And{pub, Or{}}},
		{"partial conjunction kept", And{pub, Or{And{pub2, eq("x", int64(1))}, usr}}, And{pub, Or{And{pub2, eq("x", int64(1))}, usr}}},
		{"nested", Or{And{pub, Or{pub2, usr}}, eq("x", int64(1))}, Or{pub, eq("x", int64(1))}},
		{"or through a reference kept", And{pub, Or{pub2, &Cond{Path: "title", Op: Eq, Value: "a", Join: &Join{Local: "cat", Collection: "c"}}}},
			And{pub, Or{pub2, &Cond{Path: "title", Op: Eq, Value: "a", Join: &Join{Local: "cat", Collection: "c"}}}}},
		{"join scoping differs", And{&Cond{Path: "title", Op: Eq, Value: "a", Join: &Join{Local: "cat", Collection: "c"}},
			Or{&Cond{Path: "title", Op: Eq, Value: "a", Join: &Join{Local: "cat", Collection: "c", Deny: true}}, usr}},
			And{&Cond{Path: "title", Op: Eq, Value: "a", Join: &Join{Local: "cat", Collection: "c"}},
				Or{&Cond{Path: "title", Op: Eq, Value: "a", Join: &Join{Local: "cat", Collection: "c", Deny: true}}, usr}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := NodeKey(tt.in)
			got := Absorb(tt.in)
			if g, w := NodeKey(got), NodeKey(tt.out); g != w {
				t.Errorf("Absorb = %s, want %s", g, w)
			}
			if NodeKey(tt.in) != before {
				t.Errorf("Absorb changed its input: %s, was %s", NodeKey(tt.in), before)
			}
		})
	}
}
