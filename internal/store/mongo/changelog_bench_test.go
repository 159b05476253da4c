package mongo

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
)

// BenchmarkChangeLogInsert measures the cost of the change log per write:
// single-document Inserts with the log off, on (no follower), and on with
// this node following the collection (each write also wakes its poller),
// on one server in the same run. Report creates/s and the ratio to "off"
// (BENCHMARKS.md "MongoDB change log").
func BenchmarkChangeLogInsert(b *testing.B) {
	uri := mongotest.URI(b)
	c := &schema.Collection{Name: "bench", Attrs: map[string]*schema.Type{"title": {Kind: schema.Str}, "n": {Kind: schema.Int}}}
	for _, mode := range []string{"off", "on", "on+follower"} {
		b.Run(mode, func(b *testing.B) {
			o := &Options{Without: []string{store.FeatureChangeStreams}, Logger: slog.New(slog.DiscardHandler)}
			if mode != "off" {
				o.ChangeLog = &ChangeLogOptions{}
			}
			ctx := context.Background()
			s, err := Open(ctx, uri, o)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.Sync(ctx, c); err != nil {
				b.Fatal(err)
			}
			if mode == "on+follower" {
				fctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); _ = s.FollowChangeLog(fctx, c.Name, func(Change) {}) }()
				defer func() { cancel(); <-done }()
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "a title", "n": int64(i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
			b.StopTimer()
			_, _ = s.db.Collection(c.Name).DeleteMany(ctx, bson.D{})
			if s.clog != nil {
				_, _ = s.clog.prune(ctx, time.Now().Add(time.Minute), 1000)
			}
		})
	}
}

// BenchmarkChangeLogPoll measures one quick read of the log (the entries
// after the newest seen: none) with n older entries in the current bucket,
// showing whether the server reads the _id range through the index (flat)
// or scans the collection (growing with n): the reason for time buckets.
func BenchmarkChangeLogPoll(b *testing.B) {
	uri := mongotest.URI(b)
	ctx := context.Background()
	s, err := Open(ctx, uri, &Options{Without: []string{store.FeatureChangeStreams}, Logger: slog.New(slog.DiscardHandler), ChangeLog: &ChangeLogOptions{}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	l := s.clog
	kept := 0
	for _, n := range []int{100, 1000, 10000} {
		var docs []any
		for ; kept < n; kept++ {
			docs = append(docs, changeEntry{ID: bson.NewObjectID(), At: time.Now(), Coll: "x", Oper: "create", IDs: []bson.ObjectID{bson.NewObjectID()}})
		}
		if _, err := l.bucket(bucketOf(time.Now())).InsertMany(ctx, docs); err != nil {
			b.Fatal(err)
		}
		last := docs[len(docs)-1].(changeEntry).ID
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			for range b.N {
				if _, err := l.fetchEntries(ctx, last, false, l.o.Batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
