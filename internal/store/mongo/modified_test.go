package mongo

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/store"
)

// TestChanged: over a split update, a document counts once however many
// steps changed it, and not at all when its bytes end as they were.
func TestChanged(t *testing.T) {
	raw := func(d bson.D) bson.Raw {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := bson.NewObjectID(), bson.NewObjectID(), bson.NewObjectID()
	before := map[bson.ObjectID]bson.Raw{
		a: raw(bson.D{{Key: "_id", Value: a}, {Key: "n", Value: int64(1)}}),
		b: raw(bson.D{{Key: "_id", Value: b}, {Key: "n", Value: int64(2)}}),
		c: raw(bson.D{{Key: "_id", Value: c}, {Key: "n", Value: int64(3)}}),
	}
	after := map[bson.ObjectID]bson.Raw{
		a: raw(bson.D{{Key: "_id", Value: a}, {Key: "n", Value: int64(1)}}), // unchanged
		b: raw(bson.D{{Key: "_id", Value: b}, {Key: "n", Value: 2.0}}),      // another number kind
		c: raw(bson.D{{Key: "_id", Value: c}, {Key: "n", Value: int64(4)}, {Key: "m", Value: "x"}}),
	}
	if got := changed(before, after); got != 2 {
		t.Errorf("changed = %d, want 2", got)
	}
}

// TestMayBeNoOp: an update adding zero or multiplying by one (int or
// float) is compared by snapshots; other arithmetic is not.
func TestMayBeNoOp(t *testing.T) {
	for _, tt := range []struct {
		u    store.Update
		want bool
	}{
		{store.Update{Add: map[string]any{"n": int64(0)}}, true},
		{store.Update{Add: map[string]any{"n": 0.0}}, true},
		{store.Update{Add: map[string]any{"n": int64(1), "m": int64(0)}}, true},
		{store.Update{Mul: map[string]any{"n": int64(1)}}, true},
		{store.Update{Mul: map[string]any{"n": 1.0}}, true},
		{store.Update{Add: map[string]any{"n": int64(1)}, Mul: map[string]any{"n": int64(2)}}, false},
		{store.Update{Mul: map[string]any{"n": int64(0)}}, false},
		{store.Update{Set: map[string]any{"n": int64(0)}}, false},
	} {
		if got := mayBeNoOp(&tt.u); got != tt.want {
			t.Errorf("mayBeNoOp(%+v) = %v, want %v", tt.u, got, tt.want)
		}
	}
}
