// Package sqlite is the embedded LIMP data store, on SQLite through the pure
// Go driver modernc.org/sqlite.
//
// Each collection is one table "c_<name>"(rid INTEGER PRIMARY KEY, id TEXT
// UNIQUE, doc TEXT, deleted INTEGER): id is the document's _id as 24 hex
// digits (rid, a stable rowid, links the full-text table), doc the
// rest of the document as canonical JSON (jsonv), deleted the soft-delete
// flag. Queries compile to SQL over json_extract / json_each (see
// [Compile]); every value is a bound parameter and only schema paths,
// checked segment by segment, become JSON-path literals. Unique sets and
// plain indexes are expression indexes on json_extract, partial on
// deleted = 0; a plain index on a LIST of scalars (or on a scalar field of
// a LIST of DICTs) is a multikey side table "x_<name>.<path>" kept by
// triggers (see multikey.go). `$search` runs on an FTS5 table "f_<name>"
// kept in step by the store's writes, holding MongoDB's text index terms
// (internal/textsearch; see fts.go). Declared scalar attrs (but search
// attrs) also live in a narrow side table "k_<name>" of typed columns kept
// by triggers, with copies of the plain indexes over them: conditions on
// unindexed declared paths use it instead of parsing documents, and a
// paged read whose filter and sort are all on declared scalars (indexed or
// not, permission query_mods included) runs on it alone (see columns.go,
// sideplan.go); shapes of such reads that keep scanning it get adaptive
// indexes (adaptive.go). A read's page, total and $group buckets come
// from one snapshot (readtx.go).
//
// MongoDB semantics kept in SQL: type-bracketed comparisons, any-element
// matching on lists, null matching missing, MongoDB's comparison order
// (internal/bsonorder) for sorts on paths the schema does not declare
// scalar (limp_sortkey), for whole list and object equality with numbers
// as numbers at every depth (limp_valkey) and for `$group` keys, and
// $bucketAuto's buckets for `$group`, null and missing values included
// ([Compiled.Group]). Strings holding NUL reach Go functions as JSON text,
// whole. A hard delete purges soft-deleted documents too.
//
// Writes are serialised inside the store (one writer at a time, BEGIN
// IMMEDIATE); reads run concurrently (WAL for files). Concurrent inserts
// share commits (group commit, groupcommit.go); checkpoints run on the
// store's own goroutine, not inside commits (checkpoint.go); statements of
// the hot paths are prepared once and reused (stmt.go).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"

	"github.com/limp-go/limp/internal/store"
)

// Options configure Open.
type Options struct {
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
	// BusyTimeout bounds how long a statement waits for a lock held by
	// another process sharing the file (this store's own writers queue
	// in Go); 0 means 10 seconds.
	BusyTimeout time.Duration
	// Durable makes every commit wait until the write-ahead log is on
	// disk (synchronous=FULL): a committed write then survives a power
	// loss, not only a crash of the process. The default
	// (synchronous=NORMAL) commits each write before Insert, Update or
	// Delete returns and survives a process crash; a power loss may drop
	// the last commits.
	Durable bool
	// AdaptiveIndexes bounds the indexes the store builds by itself, per
	// collection, for the shapes of paged reads that keep scanning a
	// collection's side table of declared scalars with no index to serve
	// them (a filter on an unindexed attr; see adaptive.go): 0 means 4,
	// negative none (and Sync drops those built before). A shape is
	// indexed after 20 such reads, each within 10 minutes of the last,
	// on a collection of at least 2,000 live documents; the build holds
	// the store's writes while it runs (measured 0.1-0.3 s at 10,000
	// documents, 3.4 s at 100,000, on a shared 2-core machine), and each
	// index costs every write of the collection one more index insert.
	AdaptiveIndexes int
}

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	db     *sql.DB
	keep   *sql.Conn // holds an in-memory database open
	log    *slog.Logger
	wsem   chan struct{} // one writer at a time
	closed atomic.Bool
	stmts  stmts
	com    committer
	ckpt   checkpointer
	adapt  adaptive
	mx     mixedState // attrs holding values of other types (mixed.go)
}

var _ store.Store = (*Store)(nil)

var memSeq atomic.Int64

// Open opens (creating if needed) the database at path, or a private
// in-memory database for ":memory:" (each Open its own). For a file, the
// parent directory is created and the database runs in WAL mode.
func Open(ctx context.Context, path string, o *Options) (*Store, error) {
	if o == nil {
		o = &Options{}
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	registerFuncs()
	params := url.Values{}
	busy := o.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	params.Add("_pragma", "foreign_keys(0)")
	// A 32 MiB page cache per connection (SQLite's default is 2 MiB): a
	// query touching rows spread over a large table re-reads fewer pages.
	params.Add("_pragma", "cache_size(-32768)")
	// Sorters and temporary indexes in memory, not in temporary files.
	params.Add("_pragma", "temp_store(2)")
	params.Set("_txlock", "immediate")
	var dsn string
	mem := path == ":memory:" || path == ""
	if mem {
		// memdb: a private database shared by this store's connections,
		// with real locking (unlike a shared-cache in-memory database).
		dsn = fmt.Sprintf("file:/limpmem%d?vfs=memdb&%s", memSeq.Add(1), params.Encode())
	} else {
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("open sqlite %s: %w", path, err)
			}
		}
		params.Add("_pragma", "journal_mode(WAL)")
		if !ckptOff.Load() {
			// Checkpoints run on the store's checkpointer, not
			// inside a commit (checkpoint.go).
			params.Add("_pragma", "wal_autocheckpoint(0)")
			// The log may grow past ckptBlockFrames under load;
			// when it restarts, it is cut back to 64 MiB.
			params.Add("_pragma", "journal_size_limit(67108864)")
		}
		if o.Durable {
			params.Add("_pragma", "synchronous(FULL)")
		} else {
			params.Add("_pragma", "synchronous(NORMAL)")
		}
		dsn = "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + params.Encode()
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s := &Store{db: db, log: log, wsem: make(chan struct{}, 1)}
	s.adapt.init(o.AdaptiveIndexes)
	// Keep the connections a burst of concurrent reads opened: database/sql
	// keeps 2 idle by default, so with more calls in flight every read closed
	// one (dropping its page cache and prepared statements) and opened
	// another (pragmas, schema, cold cache): 9% of a list call (call13).
	db.SetMaxIdleConns(16)
	if mem {
		// The database lives as long as one connection is open.
		if s.keep, err = db.Conn(ctx); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
	}
	if err := db.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s.startCommitter()
	if !mem && !ckptOff.Load() {
		s.startCheckpointer()
	}
	return s, nil
}

// Close closes the database. Later calls return store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.adapt.stop()
	s.stopCommitter()
	s.stopCheckpointer()
	errs := []error{s.closeStmts()}
	if s.keep != nil {
		errs = append(errs, s.keep.Close())
	}
	errs = append(errs, s.db.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite: %w", err)
	}
	return nil
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type txKey struct{}

type txState struct {
	s  *Store
	tx *sql.Tx
}

func (s *Store) txFrom(ctx context.Context) *sql.Tx {
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.s == s {
		return st.tx
	}
	return nil
}

// q returns the transaction in ctx, or the database.
func (s *Store) q(ctx context.Context) querier {
	if tx := s.txFrom(ctx); tx != nil {
		return tx
	}
	return s.db
}

// Tx runs fn in a transaction (BEGIN IMMEDIATE): every call made with the
// context fn receives joins it; nested calls join the outer transaction.
// fn's error or panic rolls it back. Writes are serialised: a write that
// fn makes with another context (not the one it receives) waits for this
// transaction to end, so it blocks until that context ends.
func (s *Store) Tx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	if err := s.check(); err != nil {
		return err
	}
	if s.txFrom(ctx) != nil {
		return fn(ctx)
	}
	select {
	case s.wsem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("begin transaction: %w", ctx.Err())
	}
	defer func() { <-s.wsem }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	done := false
	defer func() {
		if !done {
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				s.log.Warn("roll back sqlite transaction", "err", rerr)
			}
		}
	}()
	if err := fn(context.WithValue(ctx, txKey{}, &txState{s: s, tx: tx})); err != nil {
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	s.committed()
	return nil
}

// isUnique reports whether err is a UNIQUE constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		// SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
		return se.Code() == 2067 || se.Code() == 1555
	}
	return false
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
