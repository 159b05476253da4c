package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/limp-go/limp/internal/store"
)

// Group commit. Inserts made outside a caller's transaction queue for the
// store's committer goroutine, which runs every insert waiting (up to
// maxBatch) in one transaction, each inside its own savepoint: an insert
// that fails (a duplicate, say) is rolled back to its savepoint alone and
// reported to its caller; the others commit together, with one sync of
// the write-ahead log, and each caller returns only after that commit. A
// caller whose context ended while queued is not written and gets its
// context's error; once its insert started, it runs to the end (a
// statement interrupted inside a transaction would roll the whole batch
// back).
//
// Before a batch starts, the committer yields its core (runtime.Gosched,
// at most maxYields times, while the batch grows) so that callers ready to
// run queue their inserts into it: on one core (bench/run pins the
// server) a caller woken by its commit would otherwise queue only once
// the next batch is running, and batches carried 1.3 inserts of 8
// concurrent writers (7.7 with the yield, BenchmarkCreateCheckpoint).

// maxBatch bounds the inserts of one group commit.
const maxBatch = 64

// maxYields bounds the times the committer yields its core to let more
// inserts join a batch (commitLoop).
const maxYields = 4

// groupOff makes inserts commit one by one (benchmarks only: the baseline
// of group commit, in one run).
var groupOff atomic.Bool

type pending struct {
	ctx  context.Context
	fn   func(ctx context.Context) error
	done chan error
}

// committer is the store's group-commit goroutine.
type committer struct {
	mu     sync.RWMutex // held to send on q; Close takes it to close q
	closed bool
	q      chan *pending
	wg     sync.WaitGroup
	// batches and inserts count the group commits run and the inserts
	// they carried (benchmarks report inserts per commit).
	batches, inserts atomic.Int64
}

func (s *Store) startCommitter() {
	s.com.q = make(chan *pending, maxBatch)
	s.com.wg.Go(s.commitLoop)
}

// stopCommitter stops the committer after the queued inserts ran.
func (s *Store) stopCommitter() {
	s.com.mu.Lock()
	if !s.com.closed && s.com.q != nil {
		s.com.closed = true
		close(s.com.q)
	}
	s.com.mu.Unlock()
	s.com.wg.Wait()
}

// grouped runs fn (an insert's writes) in a group commit, or in ctx's
// transaction when there is one.
func (s *Store) grouped(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.txFrom(ctx) != nil || groupOff.Load() {
		return s.Tx(ctx, fn)
	}
	p := &pending{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.com.mu.RLock()
	if s.com.closed {
		s.com.mu.RUnlock()
		return store.ErrClosed
	}
	select {
	case s.com.q <- p:
	case <-ctx.Done():
		s.com.mu.RUnlock()
		return fmt.Errorf("begin transaction: %w", ctx.Err())
	}
	s.com.mu.RUnlock()
	return <-p.done
}

func (s *Store) commitLoop() {
	for p := range s.com.q {
		batch := []*pending{p}
		closed := false
		for yields := 0; !closed && len(batch) < maxBatch; yields++ {
			n := len(batch)
		fill:
			for len(batch) < maxBatch {
				select {
				case p, ok := <-s.com.q:
					if !ok {
						closed = true
						break fill
					}
					batch = append(batch, p)
				default:
					break fill
				}
			}
			if yields == maxYields || (yields > 0 && len(batch) == n) {
				break
			}
			// Let the goroutines that are ready to run (callers whose
			// previous insert just committed, requests being decoded)
			// queue their inserts before this batch starts: on a
			// single core they would otherwise run only once the
			// batch blocks, and every batch would carry one insert.
			// No waiting: with nothing else ready Gosched returns at
			// once.
			runtime.Gosched()
		}
		s.wsem <- struct{}{}
		errs := s.commitBatch(batch)
		<-s.wsem
		s.com.batches.Add(1)
		s.com.inserts.Add(int64(len(batch)))
		for i, p := range batch {
			p.done <- errs[i]
		}
	}
}

// commitBatch runs batch in one transaction and returns each insert's
// error.
func (s *Store) commitBatch(batch []*pending) []error {
	errs := make([]error, len(batch))
	live := 0
	for i, p := range batch {
		if err := p.ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("begin transaction: %w", err)
		} else {
			live++
		}
	}
	if live == 0 {
		return errs
	}
	all := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return all(fmt.Errorf("begin transaction: %w", err))
	}
	st := &txState{s: s, tx: tx}
	sp := live > 1
	ok := 0
	for i, p := range batch {
		if errs[i] != nil {
			continue
		}
		ctx := context.WithValue(context.WithoutCancel(p.ctx), txKey{}, st)
		if sp {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT limp_w"); err != nil {
				_ = tx.Rollback()
				return all(err)
			}
		}
		if err := runGuarded(ctx, p.fn); err != nil {
			errs[i] = err
			if !sp {
				_ = tx.Rollback()
				return errs
			}
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO limp_w"); err != nil {
				_ = tx.Rollback()
				return all(err)
			}
		} else {
			ok++
		}
		if sp {
			if _, err := tx.ExecContext(ctx, "RELEASE limp_w"); err != nil {
				_ = tx.Rollback()
				return all(err)
			}
		}
	}
	if ok == 0 {
		if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
			s.log.Warn("roll back sqlite transaction", "err", err)
		}
		return errs
	}
	if err := tx.Commit(); err != nil {
		return all(fmt.Errorf("commit transaction: %w", err))
	}
	s.committed()
	return errs
}

// runGuarded runs fn, turning a panic into an error.
func runGuarded(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in insert: %v", r)
		}
	}()
	return fn(ctx)
}
