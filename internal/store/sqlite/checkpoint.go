package sqlite

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoints off the write path. SQLite's automatic checkpoint runs
// inside the commit that crosses 1,000 pages of write-ahead log: that
// commit copies the log into the database and syncs both files (two
// fsyncs) before it returns, and every write queued behind it waits,
// with the CPU idle (a third of the wall time of the committer in the
// 2026-11-30 profile of bench/run's creates). A file store turns the
// automatic checkpoint off (wal_autocheckpoint=0) and runs checkpoints on
// its checkpointer goroutine instead: a PASSIVE checkpoint, which takes
// no writer lock, so commits go on while it copies and syncs.
//
// Durability is unchanged: a commit is made durable by the log itself
// (synced at each commit with Durable, at each checkpoint otherwise, as
// before); a checkpoint only moves committed pages into the database and
// syncs the log before it copies anything, whoever runs it.
//
// The log restarts from its beginning only when a write begins after a
// checkpoint copied every frame of it; under a steady write load a
// PASSIVE checkpoint keeps falling behind by the commits made while it
// ran, and the log grows. So once a checkpoint finds ckptBlockFrames
// frames in the log, the checkpointer runs one more holding the store's
// writer slot (what is left to copy is short: the frames of the commits
// made during the first), and the next write restarts the log.

const (
	// ckptDelay is how long after a commit the checkpointer waits
	// before a checkpoint, gathering the commits of that time into it
	// (a page written by several commits is copied once).
	ckptDelay = 200 * time.Millisecond
)

// ckptBlockFrames is the log length (frames of one page) from which a
// checkpoint that could not copy the whole log is completed while writes
// wait: about 32 MiB of log with 4 KiB pages (a variable for tests).
var ckptBlockFrames int64 = 8192

// ckptOff makes the store checkpoint inside commits again, as SQLite
// does by default (benchmarks only: the baseline, in one run). Read by
// Open.
var ckptOff atomic.Bool

// checkpointer is the store's checkpoint goroutine (files only).
type checkpointer struct {
	on      bool
	kick    chan struct{} // a commit happened; capacity 1
	quit    chan struct{}
	wg      sync.WaitGroup
	started atomic.Int64 // checkpoint rounds started (tests)
	ended   atomic.Int64 // checkpoint rounds ended (tests)
	runs    atomic.Int64 // checkpoints run (tests)
	blocked atomic.Int64 // checkpoints completed holding the writer slot (tests)
}

func (s *Store) startCheckpointer() {
	s.ckpt.on = true
	s.ckpt.kick = make(chan struct{}, 1)
	s.ckpt.quit = make(chan struct{})
	s.ckpt.wg.Go(s.checkpointLoop)
}

// stopCheckpointer stops the checkpointer (Close calls it once);
// SQLite checkpoints the log when the last connection closes.
func (s *Store) stopCheckpointer() {
	if !s.ckpt.on {
		return
	}
	close(s.ckpt.quit)
	s.ckpt.wg.Wait()
}

// committed tells the checkpointer that a transaction committed.
func (s *Store) committed() {
	if !s.ckpt.on {
		return
	}
	select {
	case s.ckpt.kick <- struct{}{}:
	default:
	}
}

func (s *Store) checkpointLoop() {
	t := time.NewTimer(ckptDelay)
	t.Stop()
	for {
		select {
		case <-s.ckpt.kick:
		case <-s.ckpt.quit:
			return
		}
		t.Reset(ckptDelay)
		select {
		case <-t.C:
		case <-s.ckpt.quit:
			t.Stop()
			return
		}
		s.checkpoint()
	}
}

// checkpoint runs a PASSIVE checkpoint, and one more holding the writer
// slot when the log grew long (see the top of this file).
func (s *Store) checkpoint() {
	ctx := context.Background()
	s.ckpt.started.Add(1)
	defer s.ckpt.ended.Add(1)
	log, _, err := s.walCheckpoint(ctx)
	s.ckpt.runs.Add(1)
	if err != nil {
		s.log.Warn("sqlite checkpoint", "err", err)
		return
	}
	// log is the log's length (frames) when the checkpoint began; a
	// long log has not restarted for a while: writes kept coming while
	// checkpoints ran.
	if log < ckptBlockFrames {
		return
	}
	select {
	case s.wsem <- struct{}{}:
	case <-s.ckpt.quit:
		return
	}
	defer func() { <-s.wsem }()
	if _, _, err := s.walCheckpoint(ctx); err != nil {
		s.log.Warn("sqlite checkpoint", "err", err)
	}
	s.ckpt.runs.Add(1)
	s.ckpt.blocked.Add(1)
}

// walCheckpoint runs PRAGMA wal_checkpoint(PASSIVE) and returns the
// frames in the log and the frames copied into the database.
func (s *Store) walCheckpoint(ctx context.Context) (log, done int64, err error) {
	var busy int64
	err = s.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
	return log, done, err
}
