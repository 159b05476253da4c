package sqlite

import (
	"fmt"
	"sync"
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// TestGroupTotalSnapshot: a paged read with $group under concurrent
// inserts and soft deletes (a file in WAL mode) takes its buckets from
// the snapshot of its page and total: their counts add up to the total,
// on both plans.
func TestGroupTotalSnapshot(t *testing.T) {
	for _, main := range []bool{false, true} {
		t.Run(fmt.Sprint("main=", main), func(t *testing.T) {
			sidePlanOff.Store(main)
			defer sidePlanOff.Store(false)
			groupTotal(t)
		})
	}
}

func groupTotal(t *testing.T) {
	ctx := t.Context()
	c := sideDiffCollection()
	s, err := Open(ctx, t.TempDir()+"/g.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	q := &query.Query{Filter: &query.Cond{Path: "f", Op: query.Eq, Value: 0.5}, Sort: []query.Sort{{Path: "b", Desc: true}}, Limit: 5,
		Group: []query.Group{{By: "n", Count: 3}}}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 3 {
		wg.Go(func() {
			for i := range 60 {
				id := oid.New()
				if err := s.Insert(ctx, c, map[string]any{"_id": id, "u": fmt.Sprintf("w%d-%d", w, i), "f": 0.5, "n": int64(i % 7)}); err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					if _, err := s.Delete(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id}}, false); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 60 {
				res, err := s.Read(ctx, c, q)
				if err != nil {
					errs <- err
					return
				}
				var sum int64
				for _, b := range res.Groups["n"] {
					sum += b.Count
				}
				if res.Total > 0 && sum != res.Total {
					errs <- fmt.Errorf("buckets count %d, total %d", sum, res.Total)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
