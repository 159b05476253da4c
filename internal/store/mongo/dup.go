package mongo

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// dupError maps a duplicate-key error — recognised by its code (11000,
// 11001, 12582) or an "E11000" message, whatever the server — to a
// *store.DuplicateError naming the violated unique set, found from, in
// order: the index name in the message ("index: limp_u_title"), the
// keyPattern the server reports, resolve (which asks the database which
// set collides: FerretDB names neither), the only unique set of c, else
// "_id". A generic "UNIQUE constraint failed" error naming one of c's
// unique indexes is a duplicate too. Other errors pass through.
func dupError(c *schema.Collection, err error, resolve func() []string) error {
	dup := func(set []string) error { return &store.DuplicateError{Attrs: slices.Clone(set)} }
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !mongo.IsDuplicateKeyError(err) {
		// A server on a SQL backend may answer a unique violation with
		// a generic error naming the backend's index, which ends with
		// ours ("UNIQUE constraint failed: index 'coll_1a2b_limp_u_slug'",
		// FerretDB on SQLite, on update): still a duplicate, never a 500.
		if strings.Contains(msg, "UNIQUE constraint failed") {
			for _, set := range c.Unique {
				if strings.Contains(msg, uniqueName(set)+"'") {
					return dup(set)
				}
			}
		}
		return err
	}
	if i := strings.Index(msg, "index: "); i >= 0 {
		name, _, _ := strings.Cut(msg[i+len("index: "):], " ")
		if name == "_id_" {
			return dup([]string{"_id"})
		}
		for _, set := range c.Unique {
			if uniqueName(set) == name {
				return dup(set)
			}
		}
	}
	for _, raw := range rawErrors(err) {
		kp, ok := raw.Lookup("keyPattern").DocumentOK()
		if !ok {
			continue
		}
		elems, _ := kp.Elements()
		var keys []string
		for _, e := range elems {
			if k := e.Key(); k != deletedKeyField {
				keys = append(keys, k)
			}
		}
		if slices.Equal(keys, []string{"_id"}) {
			return dup(keys)
		}
		for _, set := range c.Unique {
			if slices.Equal(set, keys) {
				return dup(set)
			}
		}
	}
	if resolve != nil {
		if set := resolve(); set != nil {
			return dup(set)
		}
	}
	if len(c.Unique) == 1 {
		return dup(c.Unique[0])
	}
	return dup([]string{"_id"})
}

// rawErrors returns the server's error documents inside err.
func rawErrors(err error) []bson.Raw {
	var out []bson.Raw
	var we mongo.WriteException
	if errors.As(err, &we) {
		for _, e := range we.WriteErrors {
			out = append(out, e.Raw)
		}
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) {
		for _, e := range bwe.WriteErrors {
			out = append(out, e.Raw)
		}
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		out = append(out, ce.Raw)
	}
	return out
}

// insertConflict returns a resolver finding the unique set docs violate:
// "_id" when two of them share one or one is already stored, else the
// first set (in c.Unique order) whose values two of them share or a live
// stored document holds. Documents lacking an attr of a set are not
// checked against it.
func (s *Store) insertConflict(ctx context.Context, c *schema.Collection, docs []map[string]any) func() []string {
	return func() []string {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		coll := s.db.Collection(c.Name)
		ids := make([]bson.ObjectID, 0, len(docs))
		for _, d := range docs {
			id, _ := d["_id"].(oid.ID)
			if slices.Contains(ids, bson.ObjectID(id)) {
				return []string{"_id"}
			}
			ids = append(ids, bson.ObjectID(id))
		}
		if n, err := coll.CountDocuments(ctx, byIDs(ids)); err == nil && n > 0 {
			return []string{"_id"}
		}
		for _, set := range c.Unique {
			var seen [][]any
			for _, d := range docs {
				vals, ok := setValues(d, set)
				if !ok {
					continue
				}
				if slices.ContainsFunc(seen, func(o []any) bool { return reflect.DeepEqual(o, vals) }) {
					return set
				}
				seen = append(seen, vals)
				filter := bson.D{{Key: deletedField, Value: bson.D{{Key: "$ne", Value: true}}}}
				bad := false
				for i, a := range set {
					v, err := toBSON(vals[i])
					if err != nil {
						bad = true
						break
					}
					filter = append(filter, bson.E{Key: a, Value: bson.D{{Key: "$eq", Value: v}}})
				}
				if bad {
					continue
				}
				if n, err := coll.CountDocuments(ctx, filter); err == nil && n > 0 {
					return set
				}
			}
		}
		return nil
	}
}

// setValues returns d's values at the dotted paths of set, and whether d
// has every one.
func setValues(d map[string]any, set []string) ([]any, bool) {
	vals := make([]any, len(set))
	for i, p := range set {
		var cur any = d
		for seg := range strings.SplitSeq(p, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[seg]; !ok {
				return nil, false
			}
		}
		vals[i] = cur
	}
	return vals, true
}

// updateConflict returns a resolver naming the first unique set (in
// c.Unique order) that u writes to: an update can only violate a set it
// changes.
func updateConflict(c *schema.Collection, u *store.Update) func() []string {
	return func() []string {
		paths := u.Paths()
		for _, set := range c.Unique {
			for _, a := range set {
				for _, p := range paths {
					if p == a || strings.HasPrefix(a, p+".") || strings.HasPrefix(p, a+".") {
						return set
					}
				}
			}
		}
		return nil
	}
}
