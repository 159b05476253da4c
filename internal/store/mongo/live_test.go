package mongo

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
)

func openLive(t *testing.T, o *Options) *Store {
	t.Helper()
	uri := mongotest.URI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, uri, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Sync adopts a database written by LIMP or an earlier version: soft-deleted
// documents without "__deleted_key" get one, so the unique index (no
// partial filter) builds beside a live document with the same value, and a
// partial unique index of an earlier version is replaced.
func TestSyncMigrates(t *testing.T) {
	s := openLive(t, nil)
	ctx := t.Context()
	c := &schema.Collection{Name: "mig", Attrs: map[string]*schema.Type{"title": {Kind: schema.Str}}, Unique: [][]string{{"title"}}}
	coll := s.db.Collection(c.Name)
	dead, live := bson.NewObjectID(), bson.NewObjectID()
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: dead}, {Key: "title", Value: "a"}, {Key: "__deleted", Value: true}},
		bson.D{{Key: "_id", Value: live}, {Key: "title", Value: "a"}},
	}); err != nil {
		t.Fatal(err)
	}
	partial := options.Index().SetName(uniqueName([]string{"title"})).SetUnique(true).
		SetPartialFilterExpression(bson.D{{Key: deletedField, Value: false}})
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "title", Value: int32(1)}}, Options: partial}); err != nil {
		t.Logf("server lacks partial indexes (%v): the index replacement is not exercised", err)
	}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	var got bson.D
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: dead}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if lookup(got, deletedKeyField) != dead {
		t.Errorf("soft-deleted document after Sync: %v", got)
	}
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var idx []bson.D
	if err := cur.All(ctx, &idx); err != nil {
		t.Fatal(err)
	}
	for _, h := range idx {
		if lookup(h, "name") == uniqueName([]string{"title"}) && lookup(h, "partialFilterExpression") != nil {
			t.Errorf("partial index kept: %v", h)
		}
	}
	var dup *store.DuplicateError
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "a"}); !errors.As(err, &dup) || !slices.Equal(dup.Attrs, []string{"title"}) {
		t.Errorf("insert over the live document: %v", err)
	}
	// A caller's "__deleted": true is stored as such (issue 11 item 15):
	// invisible, and colliding with nothing.
	hidden := oid.New()
	if err := s.Insert(ctx, c, map[string]any{"_id": hidden, "title": "a", "__deleted": true}); err != nil {
		t.Fatalf("insert a deleted document: %v", err)
	}
	res, err := s.Read(ctx, c, &query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Docs) != 1 || res.Docs[0]["_id"] != oid.ID(live) {
		t.Errorf("read sees %v, want only the live document", res.Docs)
	}
}

// Options.Without makes a feature missing: the call needing it answers a
// *store.UnsupportedError, everything else works.
func TestWithout(t *testing.T) {
	s := openLive(t, &Options{Without: []string{store.FeatureText, store.FeatureBucketAuto}})
	if s.Supports(store.FeatureText) || s.Supports(store.FeatureBucketAuto) {
		t.Fatalf("capabilities %+v", s.Capabilities())
	}
	ctx := t.Context()
	c := &schema.Collection{Name: "w", Attrs: map[string]*schema.Type{"title": {Kind: schema.Str}, "n": {Kind: schema.Int}},
		Search: []string{"title"}}
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "x", "n": int64(1)}); err != nil {
		t.Fatal(err)
	}
	var ue *store.UnsupportedError
	if _, err := s.Read(ctx, c, &query.Query{Search: "x"}); !errors.As(err, &ue) || ue.Feature != store.FeatureText {
		t.Errorf("$search without text indexes: %v", err)
	}
	if _, err := s.Read(ctx, c, &query.Query{Group: []query.Group{{By: "n", Count: 1}}}); !errors.As(err, &ue) || ue.Feature != store.FeatureBucketAuto {
		t.Errorf("$group without $bucketAuto: %v", err)
	}
	if _, err := s.Delete(ctx, c, &query.Query{Search: "x"}, false); !errors.As(err, &ue) {
		t.Errorf("delete by $search without text indexes: %v", err)
	}
	if res, err := s.Read(ctx, c, &query.Query{}); err != nil || res.Total != 1 {
		t.Errorf("plain read: %v %v", res, err)
	}
}
