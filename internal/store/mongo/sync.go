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

// IndexSpec is one index Sync maintains.
type IndexSpec struct {
	Name string
	Keys bson.D
	// Unique indexes are partial: {__deleted: false} plus {attr:
	// {$exists: true}} per attr, so deleted documents and documents
	// lacking an attr never collide.
	Unique  bool
	Partial bson.D
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
		partial := bson.D{{Key: deletedField, Value: false}}
		for _, a := range set {
			keys = append(keys, bson.E{Key: a, Value: int32(1)})
			partial = append(partial, bson.E{Key: a, Value: bson.D{{Key: "$exists", Value: true}}})
		}
		out = append(out, IndexSpec{Name: uniqueName(set), Keys: keys, Unique: true, Partial: partial})
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
// on documents lacking it, and brings the "limp_" indexes in line with c:
// missing ones are created, changed ones rebuilt, stale ones dropped.
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

	want := Indexes(c, s.locales)
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
			opts.SetUnique(true).SetPartialFilterExpression(w.Partial)
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
		p, _ := lookup(h, "partialFilterExpression").(bson.D)
		if !sameD(p, w.Partial) {
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
