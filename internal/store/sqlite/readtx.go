package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
)

// One snapshot per read. A paged read runs two statements (its page and
// its total) and a read with $group one more; outside a caller's
// transaction Read runs them in one read transaction (a deferred BEGIN:
// no write lock, the snapshot taken by its first statement and kept to
// the end), so that the page, the total and the buckets describe the same
// documents even while concurrent writes commit between the statements
// (TestPageTotalSnapshot). In WAL mode the writer is not held up; an
// in-memory database's reader holds its shared lock for the read, as
// each statement already did for its own duration.

// readTxOff runs the statements of a read each in its own snapshot
// (benchmarks only: the cost of the read transaction, in one run).
var readTxOff atomic.Bool

// readSnapshot returns ctx carrying a read transaction for the
// statements texts (prepared first: inside a transaction stmtFor only
// uses warm statements) and the function ending it; ctx itself and a
// no-op when ctx already carries a transaction of s.
func (s *Store) readSnapshot(ctx context.Context, texts ...string) (context.Context, func(), error) {
	if s.txFrom(ctx) != nil || readTxOff.Load() {
		return ctx, func() {}, nil
	}
	s.warm(ctx, texts...)
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("begin read transaction: %w", err)
	}
	end := func() {
		// A read transaction has nothing to keep: rolling it back
		// only releases its snapshot.
		if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) && ctx.Err() == nil {
			s.log.Warn("end sqlite read transaction", "err", err)
		}
	}
	return context.WithValue(ctx, txKey{}, &txState{s: s, tx: tx}), end, nil
}
