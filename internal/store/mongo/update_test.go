package mongo

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/store"
)

// conflicts returns the first pair of paths MongoDB refuses in one update
// document ("Updating the path 'a' would create a conflict at 'a'"): the
// same path under two operators, or a path and one of its prefixes.
func conflicts(d bson.D) string {
	var paths []string
	for _, op := range d {
		for _, e := range op.Value.(bson.D) {
			for _, p := range paths {
				if pathsConflict(p, e.Key) {
					return fmt.Sprintf("%s and %s", p, e.Key)
				}
			}
			paths = append(paths, e.Key)
		}
	}
	return ""
}

func f(v float64) *float64 { return &v }

func TestCompileUpdatesConflictsGolden(t *testing.T) {
	tests := []struct {
		name string
		u    *store.Update
		docs int
	}{
		{"append_remove_same_list", &store.Update{
			Append: map[string]store.Append{"tags": {Values: []any{"a"}}},
			Remove: map[string][]any{"tags": {"b"}},
		}, 2},
		{"append_unique_remove_same_list", &store.Update{
			Append: map[string]store.Append{"tags": {Values: []any{"a"}, Unique: true}, "cats": {Values: []any{"c"}}},
			Remove: map[string][]any{"tags": {"b"}, "other": {"x"}},
		}, 2},
		{"set_parent_inc_child", &store.Update{
			Set: map[string]any{"meta": map[string]any{"n": int64(1)}},
			Add: map[string]any{"meta.n": int64(2), "views": int64(1)},
		}, 2},
		{"set_parent_and_child", &store.Update{
			Set: map[string]any{"meta": map[string]any{}, "meta.n": int64(1)},
		}, 2},
		{"unset_inc_mul_same_path", &store.Update{
			Unset: []string{"price"}, Add: map[string]any{"price": int64(1)}, Mul: map[string]any{"price": int64(3)},
		}, 3},
		{"no_conflict_prefix_of_name", &store.Update{
			Set: map[string]any{"meta": "x"}, Add: map[string]any{"metadata": int64(1)},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := CompileUpdates(tt.u)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != tt.docs {
				t.Errorf("%d update documents, want %d", len(ds), tt.docs)
			}
			for i, d := range ds {
				if c := conflicts(d); c != "" {
					t.Errorf("document %d: paths %s conflict", i, c)
				}
			}
			a := make(bson.A, len(ds))
			for i, d := range ds {
				a[i] = d
			}
			golden(t, "updates_"+tt.name, indentJSON(t, bson.D{{Key: "updates", Value: a}}))
			if tt.docs > 1 {
				if _, err := CompileUpdate(tt.u); err == nil {
					t.Error("CompileUpdate of a conflicting update: no error")
				}
			}
		})
	}
}

// TestCompileUpdatesNeverConflicts compiles random updates over a few
// related paths: no emitted document may name conflicting paths, and
// every operator on every path is emitted exactly once.
func TestCompileUpdatesNeverConflicts(t *testing.T) {
	paths := []string{"a", "a.b", "a.b.c", "a.bc", "l", "l.0", "m"}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 2000 {
		u := &store.Update{}
		want := 0
		pick := func() string { return paths[r.IntN(len(paths))] }
		for range r.IntN(6) {
			p := pick()
			switch r.IntN(6) {
			case 0:
				if u.Set == nil {
					u.Set = map[string]any{}
				}
				u.Set[p] = int64(1)
			case 1:
				if u.Add == nil {
					u.Add = map[string]any{}
				}
				u.Add[p] = int64(1)
			case 2:
				if u.Mul == nil {
					u.Mul = map[string]any{}
				}
				u.Mul[p] = 2.0
			case 3:
				if u.Append == nil {
					u.Append = map[string]store.Append{}
				}
				u.Append[p] = store.Append{Values: []any{"x"}, Unique: r.IntN(2) == 0}
			case 4:
				if u.Remove == nil {
					u.Remove = map[string][]any{}
				}
				u.Remove[p] = []any{"x"}
			case 5:
				u.Unset = append(u.Unset, p)
			}
		}
		want = len(u.Set) + len(u.Add) + len(u.Mul) + len(u.Append) + len(u.Remove)
		unset := map[string]bool{}
		for _, p := range u.Unset {
			unset[p] = true
		}
		want += len(unset)
		ds, err := CompileUpdates(u)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for i, d := range ds {
			if c := conflicts(d); c != "" {
				t.Fatalf("update %d %+v: document %d: paths %s conflict", n, u, i, c)
			}
			for _, op := range d {
				got += len(op.Value.(bson.D))
			}
		}
		if got != want {
			t.Fatalf("update %d %+v: %d operations emitted, want %d", n, u, got, want)
		}
	}
}

func TestCompileGuardsGolden(t *testing.T) {
	tests := []struct {
		name string
		u    *store.Update
	}{
		{"add_max", &store.Update{Add: map[string]any{"views": int64(5)}, Bounds: map[string]store.Bounds{"views": {Min: f(0), Max: f(10)}}}},
		{"mul_min", &store.Update{Mul: map[string]any{"price": -1.5}, Bounds: map[string]store.Bounds{"price": {Min: f(0)}}}},
		{"add_nested_index", &store.Update{Add: map[string]any{"items.0.qty": int64(-1)}, Bounds: map[string]store.Bounds{"items.0.qty": {Min: f(0)}}}},
		{"append_max", &store.Update{Append: map[string]store.Append{"tags": {Values: []any{"$x", "y"}}}, Bounds: map[string]store.Bounds{"tags": {Max: f(3)}}}},
		{"append_unique_max", &store.Update{Append: map[string]store.Append{"tags": {Values: []any{"x"}, Unique: true}}, Bounds: map[string]store.Bounds{"tags": {Max: f(3)}}}},
		{"remove_min", &store.Update{Remove: map[string][]any{"tags": {"x"}}, Bounds: map[string]store.Bounds{"tags": {Min: f(1)}}}},
		{"set_parent_then_add", &store.Update{
			Set: map[string]any{"meta": map[string]any{"n": int64(9)}}, Add: map[string]any{"meta.n": int64(2)},
			Bounds: map[string]store.Bounds{"meta.n": {Max: f(10)}},
		}},
		{"unbounded_and_set_only", &store.Update{Set: map[string]any{"views": int64(1)}, Bounds: map[string]store.Bounds{"views": {Max: f(10)}, "x": {}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gs, err := CompileGuards(tt.u)
			if err != nil {
				t.Fatal(err)
			}
			a := bson.A{}
			for _, g := range gs {
				a = append(a, bson.D{{Key: "path", Value: g.Path}, {Key: "length", Value: g.Length}, {Key: "result", Value: g.Result}, {Key: "violation", Value: g.Violation}})
			}
			golden(t, "guards_"+tt.name, indentJSON(t, bson.D{{Key: "guards", Value: a}}))
		})
	}
}
