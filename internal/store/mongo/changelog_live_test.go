package mongo

import (
	"context"
	"fmt"
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
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		oo := o
		oo.Node = fmt.Sprintf("node%d", i)
		s, err := Open(ctx, uri, &Options{ChangeLog: &oo, Without: []string{store.FeatureChangeStreams}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if !s.ChangeLog() {
			t.Fatal("change log off on a server treated as without change streams")
		}
		out = append(out, s)
	}
	return out
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

// TestChangeLogPrune: entries past the retention are deleted oldest
// first, at most batches×Batch per prune; newer ones stay; the write path
// prunes at most once per interval.
func TestChangeLogPrune(t *testing.T) {
	s := openNodes(t, 1, ChangeLogOptions{Batch: 10, Retention: time.Minute})[0]
	ctx := t.Context()
	l := s.clog
	old := time.Now().Add(-time.Hour)
	var docs []any
	for i := range 35 {
		docs = append(docs, changeEntry{ID: bson.NewObjectIDFromTimestamp(old.Add(time.Duration(i) * time.Second)), At: old, Coll: "x", Oper: "create", IDs: []bson.ObjectID{bson.NewObjectID()}})
	}
	for range 5 {
		docs = append(docs, changeEntry{ID: bson.NewObjectID(), At: time.Now(), Coll: "x", Oper: "create", IDs: []bson.ObjectID{bson.NewObjectID()}})
	}
	if _, err := l.coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	count := func() int64 {
		n, err := l.coll.CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cut := time.Now().Add(-l.o.Retention)
	if n, err := l.prune(ctx, cut, 2); err != nil || n != 20 {
		t.Fatalf("prune of 2 batches deleted %d (%v), want 20", n, err)
	}
	if n := count(); n != 20 {
		t.Fatalf("%d entries left, want 20", n)
	}
	// The oldest went first: the newest old entry is still there.
	if n, _ := l.coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: docs[34].(changeEntry).ID}}); n != 1 {
		t.Fatal("a newer old entry was pruned before older ones")
	}
	if n, err := l.prune(ctx, cut, pruneBatches); err != nil || n != 15 {
		t.Fatalf("second prune deleted %d (%v), want 15", n, err)
	}
	if n := count(); n != 5 {
		t.Fatalf("%d entries left, want the 5 recent ones", n)
	}

	// The write path (no poller on this node) prunes once per interval.
	if _, err := l.coll.InsertMany(ctx, docs[:3]); err != nil {
		t.Fatal(err)
	}
	l.lastPrune.Store(time.Now().UnixNano())
	c := &schema.Collection{Name: "pr", Attrs: map[string]*schema.Type{"n": {Kind: schema.Int}}}
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "n": int64(1)}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 5+3+1 {
		t.Fatalf("%d entries after a write within the interval, want 9 (no prune)", n)
	}
	l.lastPrune.Store(0)
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "n": int64(1)}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 5+2 {
		t.Fatalf("%d entries after a write past the interval, want 7 (old ones pruned)", n)
	}
}
