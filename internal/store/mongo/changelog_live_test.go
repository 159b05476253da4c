package mongo

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
)

// openNodes opens n stores on one fresh database with the change log on
// (change streams treated as missing, so a replica set runs the test
// too, in transactions).
func openNodes(t *testing.T, n int, o ChangeLogOptions) []*Store {
	t.Helper()
	uri := mongotest.URI(t)
	var out []*Store
	for i := range n {
		out = append(out, openNode(t, uri, fmt.Sprintf("node%d", i), o))
	}
	return out
}

// openNode opens a store with the change log on uri's database.
func openNode(t *testing.T, uri, name string, o ChangeLogOptions) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o.Node = name
	s, err := Open(ctx, uri, &Options{ChangeLog: &o, Without: []string{store.FeatureChangeStreams}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if !s.ChangeLog() {
		t.Fatal("change log off on a server treated as without change streams")
	}
	return s
}

type changeRecorder struct {
	mu  sync.Mutex
	got []Change
}

func (r *changeRecorder) add(c Change) {
	r.mu.Lock()
	r.got = append(r.got, c)
	r.mu.Unlock()
}

func (r *changeRecorder) snapshot() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Change(nil), r.got...)
}

// followLog runs FollowChangeLog until the test ends.
func followLog(t *testing.T, s *Store, coll string) *changeRecorder {
	r := &changeRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.FollowChangeLog(ctx, coll, r.add) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("FollowChangeLog: %v", err)
		}
	})
	return r
}

// TestChangeLogTwoNodes: each node sees every write of both nodes exactly
// once (its own from the write path, the other's from polling), in the
// order made, with LIMP's operation names; other collections' writes are
// not reported.
func TestChangeLogTwoNodes(t *testing.T) {
	nodes := openNodes(t, 2, ChangeLogOptions{Poll: 20 * time.Millisecond})
	a, b := nodes[0], nodes[1]
	ctx := t.Context()
	c := &schema.Collection{Name: "cl", Attrs: map[string]*schema.Type{"n": {Kind: schema.Int}}}
	other := &schema.Collection{Name: "cl_other", Attrs: map[string]*schema.Type{"n": {Kind: schema.Int}}}
	for _, s := range nodes {
		for _, coll := range []*schema.Collection{c, other} {
			if err := s.Sync(ctx, coll); err != nil {
				t.Fatal(err)
			}
		}
	}
	ra, rb := followLog(t, a, c.Name), followLog(t, b, c.Name)
	time.Sleep(100 * time.Millisecond) // both pollers running

	x, y := oid.New(), oid.New()
	byID := func(id oid.ID) *query.Query {
		return &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id}}
	}
	steps := []func() error{
		func() error { return a.Insert(ctx, c, map[string]any{"_id": x, "n": int64(1)}) },
		func() error { return b.Insert(ctx, c, map[string]any{"_id": y, "n": int64(1)}) },
		func() error { return b.Insert(ctx, other, map[string]any{"_id": oid.New(), "n": int64(1)}) },
		func() error {
			_, err := b.Update(ctx, c, byID(x), &store.Update{Set: map[string]any{"n": int64(2)}})
			return err
		},
		func() error { // modifies nothing: not logged
			_, err := b.Update(ctx, c, byID(x), &store.Update{Set: map[string]any{"n": int64(2)}})
			return err
		},
		func() error { _, err := a.Delete(ctx, c, byID(y), false); return err },
		func() error { _, err := b.Delete(ctx, c, byID(x), true); return err },
	}
	for i, f := range steps {
		if err := f(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []Change{{Oper: "create", ID: x}, {Oper: "create", ID: y}, {Oper: "update", ID: x}, {Oper: "delete", ID: y}, {Oper: "delete", ID: x}}
	for name, r := range map[string]*changeRecorder{"a": ra, "b": rb} {
		deadline := time.Now().Add(5 * time.Second)
		for len(r.snapshot()) < len(want) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // ten more polls: no duplicate
		got := r.snapshot()
		if len(got) != len(want) {
			t.Fatalf("node %s: %d changes %v, want %v", name, len(got), got, want)
		}
		for i := range want {
			if got[i].Oper != want[i].Oper || got[i].ID != want[i].ID {
				t.Fatalf("node %s: change %d is %v, want %v (all: %v)", name, i, got[i], want[i], got)
			}
		}
	}
}

// TestChangeLogPrune: buckets past the retention are dropped oldest
// first, at most max per prune; newer ones stay; Open drops the old
// buckets it finds; the write path prunes at most once per interval.
func TestChangeLogPrune(t *testing.T) {
	uri := mongotest.URI(t)
	s := openNode(t, uri, "node0", ChangeLogOptions{Retention: time.Minute})
	ctx := t.Context()
	l := s.clog
	w := int64(ChangeLogBucket / time.Second)
	now := time.Now()
	first := bucketOf(now.Add(-time.Hour))
	var old []int64
	for i := range int64(7) {
		old = append(old, first+i*w)
	}
	recent := bucketOf(now)
	for _, b := range append(old, recent) {
		e := changeEntry{ID: bson.NewObjectIDFromTimestamp(time.Unix(b, 0)), Coll: "x", Oper: "create", IDs: []bson.ObjectID{bson.NewObjectID()}}
		if _, err := l.bucket(b).InsertOne(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	buckets := func() []int64 {
		var out []int64
		for _, b := range append(old, recent) {
			if n, err := l.bucket(b).CountDocuments(ctx, bson.D{}); err != nil {
				t.Fatal(err)
			} else if n > 0 {
				out = append(out, b)
			}
		}
		return out
	}
	cut := now.Add(-l.o.Retention)
	if n, err := l.prune(ctx, cut, 3); err != nil || n != 3 {
		t.Fatalf("prune of at most 3 dropped %d (%v), want 3", n, err)
	}
	if got := buckets(); !slices.Equal(got, append(old[3:], recent)) {
		t.Fatalf("buckets left %v, want %v", got, append(old[3:], recent))
	}
	if n, err := l.prune(ctx, cut, pruneBuckets); err != nil || n != 4 {
		t.Fatalf("second prune dropped %d (%v), want the 4 old buckets", n, err)
	}
	if got := buckets(); !slices.Equal(got, []int64{recent}) {
		t.Fatalf("buckets left %v, want only the recent one", got)
	}

	// Open drops old buckets left by earlier runs.
	if _, err := l.bucket(old[0]).InsertOne(ctx, changeEntry{ID: bson.NewObjectID(), Coll: "x"}); err != nil {
		t.Fatal(err)
	}
	openNode(t, uri, "node1", ChangeLogOptions{Retention: time.Minute})
	if got := buckets(); !slices.Equal(got, []int64{recent}) {
		t.Fatalf("after Open: buckets %v, want only the recent one", got)
	}

	// The write path (no poller on this node) prunes once per interval.
	if _, err := l.bucket(old[1]).InsertOne(ctx, changeEntry{ID: bson.NewObjectID(), Coll: "x"}); err != nil {
		t.Fatal(err)
	}
	l.lastPrune.Store(time.Now().UnixNano())
	c := &schema.Collection{Name: "pr", Attrs: map[string]*schema.Type{"n": {Kind: schema.Int}}}
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "n": int64(1)}); err != nil {
		t.Fatal(err)
	}
	if got := buckets(); !slices.Contains(got, old[1]) {
		t.Fatalf("a write within the interval pruned: %v", got)
	}
	l.lastPrune.Store(0)
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "n": int64(1)}); err != nil {
		t.Fatal(err)
	}
	if got := buckets(); slices.Contains(got, old[1]) {
		t.Fatalf("a write past the interval did not prune: %v", got)
	}
}
