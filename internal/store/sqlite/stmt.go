package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// maxStmts bounds the prepared statements a store keeps: the hot paths'
// statements (one per collection and operation, one per query shape);
// once full, further statement texts run unprepared.
const maxStmts = 512

// stmtsOff runs every statement unprepared (benchmarks only: the
// baseline of the cache, in one run).
var stmtsOff atomic.Bool

// stmts caches prepared statements by text. database/sql prepares each
// on every connection that runs it, once, and a transaction reuses the
// preparation of its connection (Tx.StmtContext).
type stmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// prepared returns the cached statement of text, preparing it if needed;
// nil when the cache is full or the preparation failed (the caller runs
// text unprepared, which reports the error).
func (s *Store) prepared(ctx context.Context, text string) *sql.Stmt {
	s.stmts.mu.Lock()
	st, ok := s.stmts.m[text]
	full := len(s.stmts.m) >= maxStmts
	s.stmts.mu.Unlock()
	if ok {
		return st
	}
	if full || s.closed.Load() {
		return nil
	}
	st, err := s.db.PrepareContext(ctx, text)
	if err != nil {
		return nil
	}
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if old, ok := s.stmts.m[text]; ok {
		_ = st.Close()
		return old
	}
	if s.stmts.m == nil {
		s.stmts.m = map[string]*sql.Stmt{}
	}
	s.stmts.m[text] = st
	return st
}

// stmtFor returns text's prepared statement bound to ctx's transaction,
// if any; nil to run it unprepared. Inside a transaction it only uses a
// statement already cached (warm): preparing on another connection
// would wait for the transaction's own lock (an in-memory database
// blocks readers while a writer holds it).
func (s *Store) stmtFor(ctx context.Context, text string) *sql.Stmt {
	if stmtsOff.Load() {
		return nil
	}
	tx := s.txFrom(ctx)
	if tx == nil {
		return s.prepared(ctx, text)
	}
	s.stmts.mu.Lock()
	st := s.stmts.m[text]
	s.stmts.mu.Unlock()
	if st == nil {
		return nil
	}
	return tx.StmtContext(ctx, st)
}

// warm prepares texts ahead of a transaction (see stmtFor); nothing
// inside one.
func (s *Store) warm(ctx context.Context, texts ...string) {
	if s.txFrom(ctx) != nil {
		return
	}
	for _, t := range texts {
		s.prepared(ctx, t)
	}
}

// exec runs text (prepared, cached) in ctx's transaction or on the database.
func (s *Store) exec(ctx context.Context, text string, args ...any) (sql.Result, error) {
	if st := s.stmtFor(ctx, text); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return s.q(ctx).ExecContext(ctx, text, args...)
}

// query is exec for a query.
func (s *Store) query(ctx context.Context, text string, args ...any) (*sql.Rows, error) {
	if st := s.stmtFor(ctx, text); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.q(ctx).QueryContext(ctx, text, args...)
}

// queryRow is exec for a query of one row.
func (s *Store) queryRow(ctx context.Context, text string, args ...any) *sql.Row {
	if st := s.stmtFor(ctx, text); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.q(ctx).QueryRowContext(ctx, text, args...)
}

// closeStmts closes the cached statements.
func (s *Store) closeStmts() error {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	var first error
	for _, st := range s.stmts.m {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.stmts.m = nil
	return first
}
