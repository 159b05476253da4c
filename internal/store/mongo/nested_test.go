package mongo

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

func TestHasNestedArray(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want bool
	}{
		{bson.D{{Key: "a", Value: bson.A{int32(1), "x"}}}, false},
		{bson.D{{Key: "a", Value: bson.A{bson.A{int32(1)}}}}, true},
		{bson.D{{Key: "a", Value: bson.A{bson.A{}}}}, true},
		{bson.D{{Key: "a", Value: bson.A{bson.D{{Key: "b", Value: bson.A{int32(1)}}}}}}, false},
		{bson.D{{Key: "a", Value: bson.D{{Key: "b", Value: bson.A{bson.D{{Key: "c", Value: bson.A{bson.A{}}}}}}}}}, true},
		{bson.A{int32(1)}, false},
	} {
		if got := hasNestedArray(tt.v, false); got != tt.want {
			t.Errorf("hasNestedArray(%v) = %v, want %v", tt.v, got, tt.want)
		}
	}
	for _, tt := range []struct {
		u    store.Update
		want bool
	}{
		{store.Update{Set: map[string]any{"meta": []any{[]any{int64(1)}}}}, true},
		{store.Update{Set: map[string]any{"meta": map[string]any{"k": []any{int64(1)}}}}, false},
		{store.Update{Append: map[string]store.Append{"tags": {Values: []any{[]any{"a"}}}}}, true},
		{store.Update{Append: map[string]store.Append{"tags": {Values: []any{"a", map[string]any{"k": []any{"b"}}}}}}, false},
		{store.Update{Remove: map[string][]any{"tags": {[]any{"a"}}}}, false},
	} {
		if got := updateNestsArrays(&tt.u); got != tt.want {
			t.Errorf("updateNestsArrays(%+v) = %v, want %v", tt.u, got, tt.want)
		}
	}
}

// TestNestedArraysUnsupported: on a server without nested arrays (here
// forced with Options.Without, so it runs on any server) a write holding
// a list inside a list fails with a *store.UnsupportedError naming the
// feature and stores nothing; other writes work.
func TestNestedArraysUnsupported(t *testing.T) {
	uri := os.Getenv("LIMP_TEST_MONGO_URI")
	if uri == "" {
		t.Skip("LIMP_TEST_MONGO_URI is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "limp_test_" + oid.New().Hex()
	s, err := Open(ctx, uri, &Options{Database: name, Without: []string{store.FeatureNestedArrays}})
	if err != nil {
		t.Fatal(err)
	}
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
	if s.Supports(store.FeatureNestedArrays) {
		t.Fatal("Without nested arrays: still supported")
	}
	c := &schema.Collection{Name: "st_nested", Attrs: map[string]*schema.Type{"meta": {Kind: schema.Any}}}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	unsupported := func(what string, err error) {
		t.Helper()
		var ue *store.UnsupportedError
		if !errors.As(err, &ue) || ue.Feature != store.FeatureNestedArrays {
			t.Errorf("%s: %v, want a *store.UnsupportedError for %q", what, err, store.FeatureNestedArrays)
		}
	}
	id := oid.New()
	unsupported("insert", s.Insert(ctx, c, map[string]any{"_id": oid.New(), "meta": []any{[]any{int64(1)}}}))
	if err := s.Insert(ctx, c, map[string]any{"_id": id, "meta": []any{int64(1)}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Read(ctx, c, nil)
	if err != nil || res.Total != 1 {
		t.Fatalf("read after refused insert: %v %v", res, err)
	}
	_, err = s.Update(ctx, c, nil, &store.Update{Set: map[string]any{"meta": []any{[]any{"x"}}}})
	unsupported("update $set", err)
	_, err = s.Update(ctx, c, nil, &store.Update{Append: map[string]store.Append{"meta": {Values: []any{[]any{"x"}}}}})
	unsupported("update $append", err)
	if got, err := s.Update(ctx, c, nil, &store.Update{Append: map[string]store.Append{"meta": {Values: []any{int64(2)}}}}); err != nil || got.Modified != 1 {
		t.Errorf("plain append: %v %v", got, err)
	}
}
