package mongo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/limp-go/limp/internal/schema"
)

// Index names are deterministic and prefixed "limp_": Sync drops any
// "limp_" index the schema no longer asks for and leaves other indexes
// alone.
const indexPrefix = "limp_"

// deletedKeyField is absent on live documents and holds the document's own
// _id once it is soft-deleted. Every unique index ends with it, so deleted
// documents never collide with anything, with no partial index.
const deletedKeyField = "__deleted_key"

// IndexSpec is one index Sync maintains.
type IndexSpec struct {
	Name string
	Keys bson.D
	// Unique indexes are sparse and end with "__deleted_key" (after the
	// set's attrs), so soft-deleted documents never collide, and live
	// documents lacking every attr of the set are not indexed. A live
	// document lacking some attrs of a compound set indexes them as null.
	Unique bool
	// Text indexes use default_language "none" (no stemming, no stop
	// words: the same for every locale, like the embedded store) and
	// language_override "__language", so an attr named "language" is
	// just data.
	Text bool
}

const (
	textLanguage         = "none"
	textLanguageOverride = "__language"
)

func uniqueName(set []string) string { return indexPrefix + "u_" + strings.Join(set, "_") }

// Indexes returns the indexes Sync maintains for c, in a fixed order:
// unique sets, plain indexes, one 2dsphere index per top-level GEO attr
// (needed by $geo_near), and the text index over c.Search.
//
// The text index covers each STR search attr; a LOCALE search attr is
// indexed at "<attr>.<locale>" for each of locales, or, when locales is
// empty, the collection gets a wildcard text index ("$**", every string
// field) since MongoDB cannot text-index an embedded document's values.
func Indexes(c *schema.Collection, locales []string) []IndexSpec {
	var out []IndexSpec
	for _, set := range c.Unique {
		keys := bson.D{}
		for _, a := range set {
			keys = append(keys, bson.E{Key: a, Value: int32(1)})
		}
		keys = append(keys, bson.E{Key: deletedKeyField, Value: int32(1)})
		out = append(out, IndexSpec{Name: uniqueName(set), Keys: keys, Unique: true})
	}
	for _, idx := range c.Indexes {
		keys := bson.D{}
		var parts []string
		for _, k := range idx {
			dir := int32(1)
			if k.Desc {
				dir = -1
			}
			keys = append(keys, bson.E{Key: k.Path, Value: dir})
			parts = append(parts, k.Path+"_"+strconv.Itoa(int(dir)))
		}
		out = append(out, IndexSpec{Name: indexPrefix + "i_" + strings.Join(parts, "_"), Keys: keys})
	}
	for _, a := range sortedKeys(c.Attrs) {
		if c.Attrs[a].Kind == schema.Geo {
			out = append(out, IndexSpec{Name: indexPrefix + "geo_" + a, Keys: bson.D{{Key: a, Value: "2dsphere"}}})
		}
	}
	if len(c.Search) > 0 {
		var keys bson.D
		wildcard := false
		for _, p := range c.Search {
			if t := c.Lookup(p); t != nil && t.Kind == schema.Locale {
				if len(locales) == 0 {
					wildcard = true
					break
				}
				for _, l := range locales {
					keys = append(keys, bson.E{Key: p + "." + l, Value: "text"})
				}
				continue
			}
			keys = append(keys, bson.E{Key: p, Value: "text"})
		}
		if wildcard {
			keys = bson.D{{Key: "$**", Value: "text"}}
		}
		out = append(out, IndexSpec{Name: indexPrefix + "text", Keys: keys, Text: true})
	}
	return out
}

// Sync creates the collection if missing, back-fills "__deleted: false"
// on documents lacking it and "__deleted_key" on soft-deleted documents
// lacking it, and brings the "limp_" indexes in line with c: missing ones
// are created, changed ones rebuilt (a partial unique index of an earlier
// version is replaced), stale ones dropped. Text and 2dsphere indexes are
// left out on a server lacking them (see Capabilities).
func (s *Store) Sync(ctx context.Context, c *schema.Collection) error {
	if err := s.check(); err != nil {
		return err
	}
	err := s.db.CreateCollection(ctx, c.Name)
	var ce mongo.CommandError
	if err != nil && !(errors.As(err, &ce) && ce.Code == 48) { // NamespaceExists
		return fmt.Errorf("sync %s: create collection: %w", c.Name, err)
	}
	coll := s.db.Collection(c.Name)
	if _, err := coll.UpdateMany(ctx, bson.D{{Key: deletedField, Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: deletedField, Value: false}}}}); err != nil {
		return fmt.Errorf("sync %s: mark live documents: %w", c.Name, err)
	}
	live := bson.D{{Key: deletedField, Value: bson.D{{Key: "$ne", Value: true}}}, {Key: deletedKeyField, Value: bson.D{{Key: "$exists", Value: !s.missingDistinct}}}}
	mark := bson.D{{Key: "$unset", Value: bson.D{{Key: deletedKeyField, Value: ""}}}}
	if s.missingDistinct {
		mark = bson.D{{Key: "$set", Value: bson.D{{Key: deletedKeyField, Value: false}}}}
	}
	if _, err := coll.UpdateMany(ctx, live, mark); err != nil {
		return fmt.Errorf("sync %s: mark live documents: %w", c.Name, err)
	}
	if err := s.backfillDeletedKeys(ctx, coll); err != nil {
		return fmt.Errorf("sync %s: mark deleted documents: %w", c.Name, err)
	}

	want := slices.DeleteFunc(Indexes(c, s.locales), func(w IndexSpec) bool {
		return w.Text && !s.caps.Text || isGeo(w) && !s.caps.Geo
	})
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		return fmt.Errorf("sync %s: list indexes: %w", c.Name, err)
	}
	var have []bson.D
	if err := cur.All(ctx, &have); err != nil {
		return fmt.Errorf("sync %s: list indexes: %w", c.Name, err)
	}
	existing := map[string]bson.D{}
	for _, h := range have {
		name, _ := lookup(h, "name").(string)
		if !strings.HasPrefix(name, indexPrefix) {
			continue
		}
		keep := slices.ContainsFunc(want, func(w IndexSpec) bool { return w.Name == name })
		if !keep {
			if err := coll.Indexes().DropOne(ctx, name); err != nil {
				return fmt.Errorf("sync %s: drop index %s: %w", c.Name, name, err)
			}
			continue
		}
		existing[name] = h
	}
	for _, w := range want {
		if h, ok := existing[w.Name]; ok && sameIndex(w, h) {
			continue
		} else if ok {
			if err := coll.Indexes().DropOne(ctx, w.Name); err != nil {
				return fmt.Errorf("sync %s: drop changed index %s: %w", c.Name, w.Name, err)
			}
		}
		opts := options.Index().SetName(w.Name)
		if w.Unique {
			opts.SetUnique(true).SetSparse(true)
		}
		if w.Text {
			opts.SetDefaultLanguage(textLanguage).SetLanguageOverride(textLanguageOverride)
		}
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: w.Keys, Options: opts}); err != nil {
			return fmt.Errorf("sync %s: create index %s: %w", c.Name, w.Name, err)
		}
	}
	return nil
}

// sameIndex reports whether the existing index h (from listIndexes) is w.
// Text indexes list their keys as {_fts: "text", _ftsx: 1} and their
// fields under "weights", compared instead.
func sameIndex(w IndexSpec, h bson.D) bool {
	unique, _ := lookup(h, "unique").(bool)
	if unique != w.Unique {
		return false
	}
	if w.Unique {
		// Earlier versions made unique indexes partial; FerretDB does not
		// list "sparse" (it ignores it), so only its absence where the
		// server reports it is a difference.
		if lookup(h, "partialFilterExpression") != nil {
			return false
		}
		if sp, ok := lookup(h, "sparse").(bool); ok && !sp {
			return false
		}
	}
	key, _ := lookup(h, "key").(bson.D)
	if w.Text {
		if lookup(h, "default_language") != textLanguage || lookup(h, "language_override") != textLanguageOverride {
			return false
		}
		weights, _ := lookup(h, "weights").(bson.D)
		if len(weights) != len(w.Keys) {
			return false
		}
		for _, k := range w.Keys {
			if lookup(weights, k.Key) == nil {
				return false
			}
		}
		return true
	}
	return sameD(key, w.Keys)
}

// sameD compares two flat documents, numbers by value.
func sameD(a, b bson.D) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key {
			return false
		}
		x, y := a[i].Value, b[i].Value
		if xn, ok := toInt64(x); ok {
			if yn, ok := toInt64(y); !ok || xn != yn {
				return false
			}
			continue
		}
		if xd, ok := x.(bson.D); ok {
			yd, ok := y.(bson.D)
			if !ok || !sameD(xd, yd) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func isGeo(w IndexSpec) bool {
	for _, k := range w.Keys {
		if k.Value == "2dsphere" {
			return true
		}
	}
	return false
}

// backfillDeletedKeys sets "__deleted_key" to _id on soft-deleted documents
// lacking it (written by LIMP or an earlier version), in batches, one
// update per document (update pipelines are not available everywhere).
func (s *Store) backfillDeletedKeys(ctx context.Context, coll *mongo.Collection) error {
	filter := bson.D{{Key: deletedField, Value: true}, {Key: deletedKeyField, Value: bson.D{{Key: "$exists", Value: false}}}}
	cur, err := coll.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: int32(1)}}))
	if err != nil {
		return err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var batch []mongo.WriteModel
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := coll.BulkWrite(ctx, batch, options.BulkWrite().SetOrdered(false))
		batch = batch[:0]
		return err
	}
	for cur.Next(ctx) {
		id := cur.Current.Lookup("_id")
		batch = append(batch, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: deletedKeyField, Value: id}}}}))
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return err
	}
	return flush()
}

// softDelete marks the documents ids deleted, each with its own
// "__deleted_key" (one update per document: the key is the document's
// _id), in one unordered bulk write.
func (s *Store) softDelete(ctx context.Context, coll *mongo.Collection, ids []bson.ObjectID) error {
	models := make([]mongo.WriteModel, len(ids))
	for i, id := range ids {
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: deletedField, Value: true}, {Key: deletedKeyField, Value: id}}}})
	}
	_, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	return err
}
