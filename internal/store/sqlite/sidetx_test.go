package sqlite

import (
	"context"
	"errors"
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// TestSideTx: inside a transaction, side-only reads see the
// transaction's own writes (update, insert, soft delete); after a
// rollback they see none of them, nor does the side table keep a row.
func TestSideTx(t *testing.T) {
	ctx := t.Context()
	c := blogCollection()
	s, err := Open(ctx, ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	ids := []oid.ID{oid.New(), oid.New(), oid.New()}
	for i, id := range ids {
		if err := s.Insert(ctx, c, map[string]any{"_id": id, "title": string(rune('a' + i)), "views": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	total := func(ctx context.Context, f query.Node) int64 {
		t.Helper()
		q := &query.Query{Filter: f, Sort: []query.Sort{{Path: "views"}}, Limit: 10}
		p, err := Compile(c, q)
		if err != nil || p.Side == "" {
			t.Fatalf("not the side-only plan: %v", err)
		}
		res, err := s.Read(ctx, c, q)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(res.Docs)) != res.Total {
			t.Fatalf("page of %d, total %d", len(res.Docs), res.Total)
		}
		return res.Total
	}
	nine := &query.Cond{Path: "views", Op: query.Eq, Value: int64(9)}
	low := &query.Cond{Path: "views", Op: query.Lt, Value: int64(2)}
	undo := errors.New("undo")
	err = s.Tx(ctx, func(ctx context.Context) error {
		if _, err := s.Update(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: ids[2]}}, &store.Update{Set: map[string]any{"views": int64(9)}}); err != nil {
			return err
		}
		if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "z", "views": int64(9)}); err != nil {
			return err
		}
		if _, err := s.Delete(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: ids[0]}}, false); err != nil {
			return err
		}
		if n := total(ctx, nine); n != 2 {
			t.Errorf("inside the transaction: views 9 total %d, want 2", n)
		}
		if n := total(ctx, low); n != 1 {
			t.Errorf("inside the transaction: views < 2 total %d, want 1 (one soft-deleted)", n)
		}
		return undo
	})
	if !errors.Is(err, undo) {
		t.Fatal(err)
	}
	if n := total(ctx, nine); n != 0 {
		t.Errorf("after the rollback: views 9 total %d, want 0", n)
	}
	if n := total(ctx, low); n != 2 {
		t.Errorf("after the rollback: views < 2 total %d, want 2", n)
	}
	var k int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM k_blog`).Scan(&k); err != nil || k != 3 {
		t.Errorf("side table rows %d (%v), want 3", k, err)
	}
}
