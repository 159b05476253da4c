package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// holdCommitter queues an insert whose writes block the committer (inside
// its transaction) until release is closed; it returns once the committer
// holds it, and the insert's id and the error its caller got (readable
// after release).
func holdCommitter(t *testing.T, s *Store, c *schema.Collection) (id oid.ID, release chan struct{}, done chan error) {
	t.Helper()
	id = oid.New()
	release = make(chan struct{})
	started := make(chan struct{})
	done = make(chan error, 1)
	_, body, err := encodeDoc(map[string]any{"_id": id, "title": "held"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- s.grouped(t.Context(), func(ctx context.Context) error {
			if _, err := s.exec(ctx, "INSERT INTO "+tableName(c.Name)+" (id, doc, deleted) VALUES (?, ?, 0)", id.Hex(), string(body)); err != nil {
				return err
			}
			close(started)
			<-release
			return nil
		})
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the committer did not start the held insert")
	}
	return id, release, done
}

// waitQueued waits until n inserts wait in the committer's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(s.com.q) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d inserts queued, want %d", len(s.com.q), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// committedIDs returns the _ids the database holds, in insertion order,
// read outside any transaction (what another connection sees).
func committedIDs(t *testing.T, s *Store, c *schema.Collection) []string {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(), "SELECT id FROM "+tableName(c.Name)+" ORDER BY rid")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestGroupCommitAckAfterCommit: an insert's caller returns only after
// the commit that carries it, and inserts queued while a batch runs are
// committed together, in the order they were queued, with one commit.
// Inserts that fail in the batch (a duplicate, an error after writing, a
// panic after writing) are rolled back alone and reported to their own
// callers only.
func TestGroupCommitAckAfterCommit(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprint("durable=", durable), func(t *testing.T) {
			ctx := t.Context()
			s, err := Open(ctx, t.TempDir()+"/a.db", &Options{Durable: durable})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c := blogCollection()
			if err := s.Sync(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "taken"}); err != nil {
				t.Fatal(err)
			}
			before := committedIDs(t, s, c)

			heldID, release, heldDone := holdCommitter(t, s, c)
			batches := s.com.batches.Load()

			// Queue, one after the other: good inserts, a duplicate, an
			// insert that fails after writing, one that panics after
			// writing.
			type caller struct {
				id   oid.ID
				kind string // ok, dup, fail, panic
				done chan error
				ret  atomic.Bool
			}
			kinds := []string{"ok", "ok", "dup", "ok", "fail", "ok", "panic", "ok"}
			var callers []*caller
			for i, kind := range kinds {
				cl := &caller{id: oid.New(), kind: kind, done: make(chan error, 1)}
				callers = append(callers, cl)
				doc := map[string]any{"_id": cl.id, "title": fmt.Sprintf("q%d", i)}
				if kind == "dup" {
					doc["title"] = "taken"
				}
				go func() {
					var err error
					switch kind {
					case "ok", "dup":
						err = s.Insert(ctx, c, doc)
					default:
						_, body, _ := encodeDoc(doc)
						err = s.grouped(ctx, func(ctx context.Context) error {
							if _, err := s.exec(ctx, "INSERT INTO "+tableName(c.Name)+" (id, doc, deleted) VALUES (?, ?, 0)", cl.id.Hex(), string(body)); err != nil {
								return err
							}
							if kind == "panic" {
								panic("boom")
							}
							return errors.New("failed after writing")
						})
					}
					cl.ret.Store(true)
					cl.done <- err
				}()
				waitQueued(t, s, i+1)
			}

			// Nothing is acknowledged, nor visible, while the batch
			// holding the first insert has not committed.
			time.Sleep(20 * time.Millisecond)
			for i, cl := range callers {
				if cl.ret.Load() {
					t.Errorf("caller %d (%s) returned before its commit", i, cl.kind)
				}
			}
			select {
			case err := <-heldDone:
				t.Fatalf("held insert returned before its commit: %v", err)
			default:
			}
			if got := committedIDs(t, s, c); len(got) != len(before) {
				t.Fatalf("%d documents visible before the commit, want %d", len(got), len(before))
			}

			close(release)
			if err := <-heldDone; err != nil {
				t.Fatalf("held insert: %v", err)
			}
			// Each caller, once it returned, finds its document committed
			// (or, failed, absent).
			for i, cl := range callers {
				err := <-cl.done
				ids := committedIDs(t, s, c)
				stored := strings.Contains(strings.Join(ids, ","), cl.id.Hex())
				switch cl.kind {
				case "ok":
					if err != nil || !stored {
						t.Errorf("caller %d: err %v, stored %v; want nil, true", i, err, stored)
					}
				case "dup":
					if !isDuplicate(err) || stored {
						t.Errorf("caller %d (duplicate): err %v, stored %v", i, err, stored)
					}
				case "fail", "panic":
					if err == nil || stored {
						t.Errorf("caller %d (%s): err %v, stored %v; want an error, nothing stored", i, cl.kind, err, stored)
					}
				}
			}
			// One commit for the queued inserts, after the held one's.
			if n := s.com.batches.Load() - batches; n != 2 {
				t.Errorf("%d commits for the held insert and the %d queued, want 2", n, len(callers))
			}
			// Commit order is queue order.
			want := append(append([]string{}, before...), heldID.Hex())
			for _, cl := range callers {
				if cl.kind == "ok" {
					want = append(want, cl.id.Hex())
				}
			}
			if got := committedIDs(t, s, c); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("stored in order\n%v\nwant\n%v", got, want)
			}
		})
	}
}

func isDuplicate(err error) bool {
	var de *store.DuplicateError
	return errors.As(err, &de)
}

// TestGroupCommitReadAfterAck: under concurrent inserts, every insert
// is readable (by _id, through Read) the moment its caller returns.
func TestGroupCommitReadAfterAck(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, t.TempDir()+"/r.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := blogCollection()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 40 {
				id := oid.New()
				if err := s.Insert(ctx, c, map[string]any{"_id": id, "title": fmt.Sprintf("r%d-%d", g, n)}); err != nil {
					t.Error(err)
					return
				}
				r, err := s.Read(ctx, c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id}})
				if err != nil || len(r.Docs) != 1 {
					t.Errorf("insert %v acknowledged, then read: %v, %v", id, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestCheckpointer: a file store never checkpoints inside a commit
// (wal_autocheckpoint is 0 on its connections); its checkpointer copies
// the whole log into the database after commits, so the log restarts;
// under a steady write load past ckptBlockFrames it completes a
// checkpoint holding the writer slot, and nothing acknowledged is lost.
func TestCheckpointer(t *testing.T) {
	ctx := t.Context()
	path := t.TempDir() + "/k.db"
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := blogCollection()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	var auto int64
	if err := s.db.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	for n := range 100 { // 100 commits
		if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": fmt.Sprint("k", n), "status": "draft"}); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for a checkpoint that began after the last commit (one
	// running during it leaves the commit's kick for the next round).
	started := s.ckpt.started.Load()
	for deadline := time.Now().Add(10 * time.Second); s.ckpt.ended.Load() <= started; {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint within 10 s of the commits")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The log was copied whole: the next commit restarts it, so it holds
	// that commit's frames only, not the 100 commits'.
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "after", "status": "draft"}); err != nil {
		t.Fatal(err)
	}
	log, _, err := s.walCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if log > 40 {
		t.Errorf("log holds %d frames after a checkpoint and one commit; the checkpointer did not copy it whole", log)
	}

	// Steady load with a low bound: the checkpointer completes a
	// checkpoint while writes wait.
	old := ckptBlockFrames
	ckptBlockFrames = 16
	defer func() { ckptBlockFrames = old }()
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[oid.ID]bool{}
	stop := time.Now().Add(3 * time.Second)
	for g := range 8 {
		wg.Go(func() {
			for n := 0; time.Now().Before(stop) && s.ckpt.blocked.Load() < 2; n++ {
				id := oid.New()
				if err := s.Insert(ctx, c, map[string]any{"_id": id, "title": fmt.Sprintf("l%d-%d", g, n), "status": "draft"}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if s.ckpt.blocked.Load() == 0 {
		t.Error("no checkpoint completed under the writer slot during 3 s of writes past the bound")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, id := range committedIDs(t, s2, c) {
		got[id] = true
	}
	for id := range acked {
		if !got[id.Hex()] {
			t.Errorf("acknowledged insert %v lost", id)
		}
	}
}
