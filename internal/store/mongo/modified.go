package mongo

import (
	"bytes"
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/limp-go/limp/internal/store"
)

// snapshot returns the stored bytes of the documents ids, by _id (inside
// the update's transaction).
func snapshot(ctx context.Context, coll *mongo.Collection, ids []bson.ObjectID) (map[bson.ObjectID]bson.Raw, error) {
	cur, err := coll.Find(ctx, byIDs(ids))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	out := make(map[bson.ObjectID]bson.Raw, len(ids))
	for cur.Next(ctx) {
		raw := append(bson.Raw(nil), cur.Current...)
		id, ok := raw.Lookup("_id").ObjectIDOK()
		if !ok {
			return nil, fmt.Errorf("document without an ObjectId _id")
		}
		out[id] = raw
	}
	return out, cur.Err()
}

// changed counts the documents whose bytes differ between two snapshots
// (MongoDB's modifiedCount over several update steps: a document counts
// once however many steps changed it, and not at all if they changed it
// back).
func changed(before, after map[bson.ObjectID]bson.Raw) int64 {
	var n int64
	for id, a := range after {
		if b, ok := before[id]; !ok || !bytes.Equal(a, b) {
			n++
		}
	}
	return n
}

// mayBeNoOp reports whether u adds zero or multiplies by one at some path:
// MongoDB leaves a document whose value stays identical (same number, same
// type) unmodified, but some MongoDB-compatible servers (FerretDB v1.24)
// count such an $inc as a modification. Update compares snapshots for
// these updates, so the modified count is MongoDB's on every server.
func mayBeNoOp(u *store.Update) bool {
	identity := func(m map[string]any, id float64) bool {
		for _, v := range m {
			switch n := v.(type) {
			case int64:
				if float64(n) == id {
					return true
				}
			case float64:
				if n == id {
					return true
				}
			}
		}
		return false
	}
	return identity(u.Add, 0) || identity(u.Mul, 1)
}
