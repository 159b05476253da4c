package mongo

import (
	"context"
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// TestGuardResult: the Go evaluation of a guard gives what the update
// would store (value or number of items), and refuses what the server
// refuses.
func TestGuardResult(t *testing.T) {
	one, ten := 1.0, 10.0
	b := map[string]store.Bounds{"n": {Min: &one, Max: &ten}, "l": {Max: &ten}, "a.0.q": {Max: &ten}}
	for _, tt := range []struct {
		name  string
		u     *store.Update
		path  string
		doc   bson.D
		want  float64
		check bool
	}{
		{"add to int32", &store.Update{Add: map[string]any{"n": int64(2)}}, "n", bson.D{{Key: "n", Value: int32(3)}}, 5, true},
		{"add to missing", &store.Update{Add: map[string]any{"n": int64(2)}}, "n", nil, 2, true},
		{"add to null", &store.Update{Add: map[string]any{"n": 1.5}}, "n", bson.D{{Key: "n", Value: nil}}, 1.5, true},
		{"add then multiply", &store.Update{Add: map[string]any{"n": int64(1)}, Mul: map[string]any{"n": int64(3)}}, "n", bson.D{{Key: "n", Value: int64(2)}}, 9, true},
		{"multiply double", &store.Update{Mul: map[string]any{"n": 0.5}}, "n", bson.D{{Key: "n", Value: int64(3)}}, 1.5, true},
		{"set beside", &store.Update{Set: map[string]any{"n": int64(7)}, Add: map[string]any{"n": int64(1)}}, "n", bson.D{{Key: "n", Value: int64(100)}}, 8, true},
		{"unset beside", &store.Update{Unset: []string{"n"}, Add: map[string]any{"n": int64(1)}}, "n", bson.D{{Key: "n", Value: int64(100)}}, 1, true},
		{"int64 overflow", &store.Update{Add: map[string]any{"n": int64(math.MaxInt64)}}, "n", bson.D{{Key: "n", Value: int64(1)}}, 0, false},
		{"mul overflow", &store.Update{Mul: map[string]any{"n": int64(math.MinInt64)}}, "n", bson.D{{Key: "n", Value: int64(-1)}}, 0, false},
		{"not a number", &store.Update{Add: map[string]any{"n": int64(1)}}, "n", bson.D{{Key: "n", Value: "x"}}, 0, false},
		{"numeric segment", &store.Update{Add: map[string]any{"a.0.q": int64(-3)}}, "a.0.q", bson.D{{Key: "a", Value: bson.A{bson.D{{Key: "q", Value: int64(2)}}}}}, -1, true},
		{"numeric key", &store.Update{Add: map[string]any{"a.0.q": int64(1)}}, "a.0.q", bson.D{{Key: "a", Value: bson.D{{Key: "0", Value: bson.D{{Key: "q", Value: int32(4)}}}}}}, 5, true},
		{"push", &store.Update{Append: map[string]store.Append{"l": {Values: []any{"a", "a"}}}}, "l", bson.D{{Key: "l", Value: bson.A{"a"}}}, 3, true},
		{"push to missing", &store.Update{Append: map[string]store.Append{"l": {Values: []any{"a"}}}}, "l", nil, 1, true},
		{"add to set", &store.Update{Append: map[string]store.Append{"l": {Values: []any{int64(1), 2.0, "c", "c"}, Unique: true}}}, "l", bson.D{{Key: "l", Value: bson.A{1.0, int32(2)}}}, 3, true},
		{"pull all", &store.Update{Remove: map[string][]any{"l": {int64(1), map[string]any{"k": "v"}}}}, "l", bson.D{{Key: "l", Value: bson.A{int32(1), 1.0, bson.D{{Key: "k", Value: "v"}}, "x"}}}, 1, true},
		{"push then pull", &store.Update{Append: map[string]store.Append{"l": {Values: []any{"y", "z"}}}, Remove: map[string][]any{"l": {"y"}}}, "l", bson.D{{Key: "l", Value: bson.A{"y"}}}, 1, true},
		{"push to a string", &store.Update{Append: map[string]store.Append{"l": {Values: []any{"a"}}}}, "l", bson.D{{Key: "l", Value: "s"}}, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.u.Bounds = map[string]store.Bounds{tt.path: b[tt.path]}
			gs, err := CompileGuards(tt.u)
			if err != nil || len(gs) != 1 {
				t.Fatalf("CompileGuards: %v %v", gs, err)
			}
			start, _ := startValue(tt.u, tt.path, tt.doc)
			got, ok := guardResult(tt.u, gs[0], start)
			if ok != tt.check || ok && got != tt.want {
				t.Errorf("guardResult = %v, %v; want %v, %v", got, ok, tt.want, tt.check)
			}
		})
	}
}

func TestBSONEqual(t *testing.T) {
	for _, tt := range []struct {
		a, b any
		want bool
	}{
		{int32(1), int64(1), true},
		{int64(1), 1.0, true},
		{int64(1), 1.5, false},
		{int64(math.MaxInt64), float64(math.MaxInt64), false},
		{nil, int64(0), false},
		{nil, nil, true},
		{"1", int64(1), false},
		{bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: "x"}}, bson.D{{Key: "a", Value: 1.0}, {Key: "b", Value: "x"}}, true},
		{bson.D{{Key: "a", Value: 1}, {Key: "b", Value: "x"}}, bson.D{{Key: "b", Value: "x"}, {Key: "a", Value: 1}}, false},
		{bson.A{int32(1), "x"}, bson.A{int64(1), "x"}, true},
		{bson.A{int32(1)}, bson.A{int32(1), int32(1)}, false},
		{bson.ObjectID{1, 2}, bson.ObjectID{1, 2}, true},
	} {
		if got := bsonEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("bsonEqual(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestReadGuardsConcurrentChange: a document changed at a bounded path
// between applyUpdateRead's read and its write is not updated: the write's
// guard no longer matches it, and the update fails (a *store.BoundsError;
// inside a transaction the server may answer a write conflict first), so
// the concurrent value is never taken out of bounds.
func TestReadGuardsConcurrentChange(t *testing.T) {
	uri := os.Getenv("LIMP_TEST_MONGO_URI")
	if uri == "" {
		t.Skip("LIMP_TEST_MONGO_URI is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "limp_test_" + oid.New().Hex()
	s, err := Open(ctx, uri, &Options{Database: name})
	if err != nil {
		t.Fatal(err)
	}
	s.readGuards = true
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.db.Drop(ctx); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	c := &schema.Collection{Name: "st_guard", Attrs: map[string]*schema.Type{"n": {Kind: schema.Int}}}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	id := oid.New()
	if err := s.Insert(ctx, c, map[string]any{"_id": id, "n": int64(5)}); err != nil {
		t.Fatal(err)
	}
	coll := s.db.Collection(c.Name)
	testHookGuardedWrite = func(context.Context) {
		// Outside the update's transaction, as another client would.
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: bson.ObjectID(id)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: int64(9)}}}}); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { testHookGuardedWrite = nil })
	ten := 10.0
	_, err = s.Update(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id}},
		&store.Update{Add: map[string]any{"n": int64(3)}, Bounds: map[string]store.Bounds{"n": {Max: &ten}}})
	var be *store.BoundsError
	if err == nil || !errors.As(err, &be) && !s.caps.Transactions {
		t.Fatalf("update after a concurrent change: %v, want a *store.BoundsError", err)
	}
	if be != nil && (be.Path != "n" || be.ID != oid.Nil) {
		t.Errorf("BoundsError %+v, want path n, no id", be)
	}
	testHookGuardedWrite = nil
	res, err := s.Read(ctx, c, nil)
	if err != nil || len(res.Docs) != 1 || res.Docs[0]["n"] != int64(9) {
		t.Fatalf("after: %v %v, want n = 9 (the concurrent value, not 12)", res, err)
	}
}
