package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// Capabilities are the optional server features the store uses. Open finds
// them by probing the server (never by its name or version), so the store
// runs on MongoDB and on MongoDB-compatible servers (FerretDB, Amazon
// DocumentDB, Azure Cosmos DB for MongoDB) alike:
//
//   - Transactions (a replica set or sharded cluster): without them Tx runs
//     fn without a transaction — each write is atomic on its own, a
//     multi-document write that fails half way is undone best effort.
//   - Text: text indexes and $text, for `$search` (501 without).
//   - Geo: 2dsphere indexes and $geoNear, for `$geo_near` (501 without).
//   - Lookup: $lookup with a pipeline, for queries through references
//     (joins) (501 without).
//   - BucketAuto: $bucketAuto, for `$group` (501 without).
//   - ChangeStreams: change streams, for live queries (not used yet).
//   - NestedArrays: a list directly inside a list ([[1, 2]]) in a stored
//     document (501 for a write holding one, without).
type Capabilities struct {
	Transactions, Text, Geo, Lookup, BucketAuto, ChangeStreams, NestedArrays bool
}

// AllCapabilities is what MongoDB 5.0+ on a replica set supports.
var AllCapabilities = Capabilities{Transactions: true, Text: true, Geo: true, Lookup: true, BucketAuto: true, ChangeStreams: true, NestedArrays: true}

// Supports reports whether the feature (a store.Feature* name) is
// available; it implements store.Features.
func (c Capabilities) Supports(feature string) bool {
	switch feature {
	case store.FeatureTransactions:
		return c.Transactions
	case store.FeatureText:
		return c.Text
	case store.FeatureGeo:
		return c.Geo
	case store.FeatureLookup:
		return c.Lookup
	case store.FeatureBucketAuto:
		return c.BucketAuto
	case store.FeatureChangeStreams:
		return c.ChangeStreams
	case store.FeatureNestedArrays:
		return c.NestedArrays
	}
	return true
}

// Missing returns the names of the features c lacks, in a fixed order.
func (c Capabilities) Missing() []string {
	var out []string
	for _, f := range []string{store.FeatureTransactions, store.FeatureText, store.FeatureGeo,
		store.FeatureLookup, store.FeatureBucketAuto, store.FeatureChangeStreams, store.FeatureNestedArrays} {
		if !c.Supports(f) {
			out = append(out, f)
		}
	}
	return out
}

// Capabilities returns what Open found the server supports.
func (s *Store) Capabilities() Capabilities { return s.caps }

// Supports implements store.Features.
func (s *Store) Supports(feature string) bool { return s.caps.Supports(feature) }

// probe tries each optional feature on a scratch collection
// ("__limp_probe_<id>", dropped afterwards). A probe that fails for any
// reason other than ctx ending marks the feature missing.
func (s *Store) probe(ctx context.Context) (Capabilities, error) {
	var c Capabilities
	coll := s.db.Collection("__limp_probe_" + oid.New().Hex())
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = coll.Drop(dctx)
	}()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(1)}, {Key: "n", Value: int32(1)},
		{Key: "t", Value: "probe words"},
		{Key: "g", Value: bson.D{{Key: "type", Value: "Point"}, {Key: "coordinates", Value: bson.A{0.0, 0.0}}}}}); err != nil {
		return c, fmt.Errorf("probe server features: %w", err)
	}
	var exprGuards bool
	probes := []struct {
		ok *bool
		fn func(context.Context, *mongo.Collection) error
	}{
		{&c.Transactions, s.probeTx},
		{&c.Text, probeText},
		{&c.Geo, probeGeo},
		{&c.Lookup, probeLookup},
		{&c.BucketAuto, probeBucketAuto},
		{&c.ChangeStreams, probeChangeStream},
		{&c.NestedArrays, probeNestedArrays},
		{&exprGuards, probeExprGuards},
	}
	probes = append(probes, struct {
		ok *bool
		fn func(context.Context, *mongo.Collection) error
	}{&s.missingDistinct, probeMissingDistinct})
	for _, p := range probes {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := p.fn(pctx, coll)
		cancel()
		if ctx.Err() != nil {
			return c, fmt.Errorf("probe server features: %w", ctx.Err())
		}
		*p.ok = err == nil
		if err != nil {
			s.log.Debug("mongodb feature probe failed", "err", err)
		}
	}
	s.readGuards = !exprGuards
	return c, nil
}

// probeExprGuards runs the bounds guards CompileGuards builds for an
// update using every operator kind ($add, $multiply, $append unique,
// $remove, a numeric path segment) the way applyUpdate does, and expects
// the probe document to violate them.
func probeExprGuards(ctx context.Context, coll *mongo.Collection) error {
	zero := 0.0
	b := store.Bounds{Max: &zero}
	guards, err := CompileGuards(&store.Update{
		Add:    map[string]any{"n": int64(1), "a.0.q": int64(1)},
		Mul:    map[string]any{"n": int64(2)},
		Append: map[string]store.Append{"l": {Values: []any{"x"}, Unique: true}},
		Remove: map[string][]any{"l": {"y"}},
		Bounds: map[string]store.Bounds{"n": b, "a.0.q": b, "l": b},
	})
	if err != nil {
		return err
	}
	for _, g := range guards {
		err := expectOne(ctx, coll, bson.A{
			bson.D{{Key: "$match", Value: bson.D{{Key: "_id", Value: int32(1)}, {Key: "$expr", Value: g.Violation}}}},
			bson.D{{Key: "$project", Value: bson.D{{Key: "_id", Value: int32(1)}, {Key: "v", Value: g.Result}}}},
		})
		if err != nil {
			return fmt.Errorf("guard %s: %w", g.Path, err)
		}
	}
	return nil
}

// probeNestedArrays stores (and removes again) a document holding a list
// inside a list.
func probeNestedArrays(ctx context.Context, coll *mongo.Collection) error {
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(3)}, {Key: "na", Value: bson.A{bson.A{int32(1), int32(2)}}}}); err != nil {
		return err
	}
	_, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: int32(3)}})
	return err
}

// probeTx inserts a document in a transaction, checks it is invisible
// outside the transaction, aborts, and checks it is gone: a server that
// accepts but ignores transactions fails.
func (s *Store) probeTx(ctx context.Context, coll *mongo.Collection) error {
	sess, err := s.client.StartSession()
	if err != nil {
		return err
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	if err := sess.StartTransaction(); err != nil {
		return err
	}
	tctx := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.InsertOne(tctx, bson.D{{Key: "_id", Value: int32(2)}}); err != nil {
		_ = sess.AbortTransaction(context.WithoutCancel(ctx))
		return err
	}
	n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: int32(2)}})
	if aerr := sess.AbortTransaction(ctx); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return err
	}
	if n != 0 {
		return errors.New("a write inside a transaction is visible outside it")
	}
	if n, err = coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: int32(2)}}); err != nil {
		return err
	} else if n != 0 {
		_, _ = coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: int32(2)}})
		return errors.New("an aborted transaction's write stayed")
	}
	return nil
}

func expectOne(ctx context.Context, coll *mongo.Collection, stages bson.A) error {
	cur, err := coll.Aggregate(ctx, stages)
	if err != nil {
		return err
	}
	var out []bson.D
	if err := cur.All(ctx, &out); err != nil {
		return err
	}
	if len(out) != 1 {
		return fmt.Errorf("%d results, want 1", len(out))
	}
	return nil
}

func probeText(ctx context.Context, coll *mongo.Collection) error {
	opts := options.Index().SetName("t_text").SetDefaultLanguage(textLanguage).SetLanguageOverride(textLanguageOverride)
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "t", Value: "text"}}, Options: opts}); err != nil {
		return err
	}
	return expectOne(ctx, coll, bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "$text", Value: bson.D{{Key: "$search", Value: "words"}}}}}}})
}

func probeGeo(ctx context.Context, coll *mongo.Collection) error {
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "g", Value: "2dsphere"}},
		Options: options.Index().SetName("g_2dsphere")}); err != nil {
		return err
	}
	return expectOne(ctx, coll, bson.A{bson.D{{Key: "$geoNear", Value: bson.D{
		{Key: "near", Value: bson.D{{Key: "type", Value: "Point"}, {Key: "coordinates", Value: bson.A{0.0, 0.0}}}},
		{Key: "key", Value: "g"}, {Key: "distanceField", Value: "d"}, {Key: "maxDistance", Value: 1000.0},
		{Key: "spherical", Value: true},
	}}}})
}

// probeLookup runs the $lookup form joins compile to (localField and
// foreignField with a pipeline: MongoDB 5.0+).
func probeLookup(ctx context.Context, coll *mongo.Collection) error {
	return expectOne(ctx, coll, bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "_id", Value: int32(1)}}}},
		bson.D{{Key: "$lookup", Value: bson.D{
			{Key: "from", Value: coll.Name()}, {Key: "localField", Value: "_id"}, {Key: "foreignField", Value: "_id"},
			{Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "n", Value: bson.D{{Key: "$ne", Value: int32(0)}}}}}}}},
			{Key: "as", Value: "j"},
		}}},
		bson.D{{Key: "$match", Value: bson.D{{Key: "j._id", Value: int32(1)}}}},
	})
}

func probeBucketAuto(ctx context.Context, coll *mongo.Collection) error {
	return expectOne(ctx, coll, bson.A{bson.D{{Key: "$bucketAuto", Value: bson.D{
		{Key: "groupBy", Value: "$n"}, {Key: "buckets", Value: int32(1)},
	}}}})
}

// probeMissingDistinct tells how the server's unique indexes treat a
// missing key: as null, so two documents lacking it collide (MongoDB), or
// as SQL NULL, distinct from everything (FerretDB on SQLite). It must run
// last: it leaves a unique index on the probe collection.
func probeMissingDistinct(ctx context.Context, coll *mongo.Collection) error {
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "pa", Value: int32(1)}, {Key: "pm", Value: int32(1)}},
		Options: options.Index().SetName("pa_pm").SetUnique(true)}); err != nil {
		return err
	}
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(10)}})
	if mongo.IsDuplicateKeyError(err) {
		return errors.New("missing keys collide")
	}
	return err
}

func probeChangeStream(ctx context.Context, coll *mongo.Collection) error {
	cs, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		return err
	}
	return cs.Close(context.WithoutCancel(ctx))
}

// logCapabilities logs one line naming the missing features, if any.
func (s *Store) logCapabilities() {
	if m := s.caps.Missing(); len(m) > 0 {
		s.log.Warn("mongodb server lacks optional features; calls needing them answer 501 CORE_STORE_UNSUPPORTED, transactions run as single writes",
			"database", s.db.Name(), "missing", strings.Join(m, ", "))
	}
}

// needs checks that the server supports every feature the compiled
// pipeline uses: $text (text indexes), $geoNear (2dsphere indexes),
// $lookup and $bucketAuto. use names the caller's operation.
func (s *Store) needs(p *Pipeline) error {
	check := func(stages []bson.D) error {
		for _, st := range stages {
			for _, e := range st {
				var f, use string
				switch e.Key {
				case "$geoNear":
					f, use = store.FeatureGeo, "$geo_near"
				case "$lookup":
					f, use = store.FeatureLookup, "a query through a referenced document"
				case "$bucketAuto":
					f, use = store.FeatureBucketAuto, "$group"
				case "$match":
					if m, ok := e.Value.(bson.D); ok && lookup(m, "$text") != nil {
						f, use = store.FeatureText, "$search"
					}
				}
				if f != "" && !s.caps.Supports(f) {
					return &store.UnsupportedError{Feature: f, Use: use}
				}
			}
		}
		return nil
	}
	if err := check(p.Match); err != nil {
		return err
	}
	for _, g := range p.Groups {
		if err := check(g.Stages); err != nil {
			return err
		}
	}
	return nil
}

// without returns c with feature marked missing.
func (c Capabilities) without(feature string) Capabilities {
	switch feature {
	case store.FeatureTransactions:
		c.Transactions = false
	case store.FeatureText:
		c.Text = false
	case store.FeatureGeo:
		c.Geo = false
	case store.FeatureLookup:
		c.Lookup = false
	case store.FeatureBucketAuto:
		c.BucketAuto = false
	case store.FeatureChangeStreams:
		c.ChangeStreams = false
	case store.FeatureNestedArrays:
		c.NestedArrays = false
	}
	return c
}

// idStage returns a leading {$match: {_id: <ObjectId>}} when q's filter
// requires one _id (a top-level condition, or one inside a top-level
// $and), else nil. It repeats a condition the pipeline holds anyway, in
// the plain form servers without a query planner for aggregations
// (FerretDB pushes down only {_id: value}) answer from the _id index
// instead of a scan; the value is a typed ObjectId, never an operator
// document. Not used with $search or $geo_near, whose stage must be
// first.
func idStage(q *query.Query) bson.D {
	if q == nil || q.Search != "" || q.GeoNear != nil {
		return nil
	}
	var find func(n query.Node) (oid.ID, bool)
	find = func(n query.Node) (oid.ID, bool) {
		switch n := n.(type) {
		case *query.Cond:
			if id, ok := n.Value.(oid.ID); ok && n.Path == "_id" && n.Op == query.Eq {
				return id, true
			}
		case query.And:
			for _, c := range n {
				if id, ok := find(c); ok {
					return id, true
				}
			}
		}
		return oid.ID{}, false
	}
	id, ok := find(q.Filter)
	if !ok {
		return nil
	}
	return bson.D{{Key: "$match", Value: bson.D{{Key: "_id", Value: bson.ObjectID(id)}}}}
}

// withIDStage prepends idStage(q) to p's stages (see idStage).
func withIDStage(p *Pipeline, q *query.Query) {
	st := idStage(q)
	if st == nil {
		return
	}
	p.Match = append([]bson.D{st}, p.Match...)
	for i := range p.Groups {
		p.Groups[i].Stages = append([]bson.D{st}, p.Groups[i].Stages...)
	}
}
