package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

const crashEnv = "LIMP_SQLITE_CRASH_DB"

// TestCrashChild is the child of TestCrashSafety: with $LIMP_SQLITE_CRASH_DB
// set it opens that database (of the old layout on the first run: Sync
// migrates it), then 4 writers create documents and update them, each
// printing "create <id> <title>" or "update <id> <views>" once the call
// returned, until killed or 5 seconds pass.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("child of TestCrashSafety")
	}
	ctx := context.Background()
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("opened")
	c := blogCollection()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	fmt.Println("synced")
	var mu sync.Mutex
	ack := func(format string, args ...any) {
		mu.Lock()
		fmt.Printf(format+"\n", args...)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	deadline := time.Now().Add(5 * time.Second)
	for g := range 4 {
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				id := oid.New()
				title := fmt.Sprintf("w%d-%d-%s", g, n, id.Hex())
				if err := s.Insert(ctx, c, map[string]any{"_id": id, "title": title, "views": int64(0), "status": "draft"}); err != nil {
					t.Error(err)
					return
				}
				ack("create %s %s", id.Hex(), title)
				for v := int64(1); v <= 2; v++ {
					q := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id}}
					if _, err := s.Update(ctx, c, q, &store.Update{Set: map[string]any{"views": v}}); err != nil {
						t.Error(err)
						return
					}
					ack("update %s %d", id.Hex(), v)
				}
			}
		})
	}
	wg.Wait()
}

// TestCrashSafety kills (SIGKILL) a child process in the middle of a
// migration and concurrent creates and updates, reopens the database and
// checks that every acknowledged write is there and the unique index
// holds; a few times, with different delays.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	path := copyOldLayout(t, dir)
	created := map[string]string{} // id -> title
	views := map[string]int64{}    // id -> last acknowledged views
	for run, delay := range []time.Duration{0, time.Millisecond, 30 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// The delay runs from the child's "opened" (before its Sync,
		// which migrates the old layout on the first run).
		timer := time.NewTimer(time.Hour)
		acks, synced := 0, false
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				f := strings.Fields(l)
				switch {
				case l == "opened":
					timer.Reset(delay)
				case l == "synced":
					synced = true
				case len(f) == 3 && f[0] == "create":
					created[f[1]] = f[2]
					acks++
				case len(f) == 3 && f[0] == "update":
					var v int64
					fmt.Sscan(f[2], &v)
					views[f[1]] = v
					acks++
				}
			case <-timer.C:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				timer.Reset(time.Hour)
			}
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		t.Logf("run %d: killed %v after open, synced %v, %d acknowledged writes", run, delay, synced, acks)
		checkCrashDB(t, path, created, views)
	}
	if len(created) == 0 {
		t.Error("no write acknowledged in any run")
	}
}

func checkCrashDB(t *testing.T, path string, created map[string]string, views map[string]int64) {
	t.Helper()
	ctx := t.Context()
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := blogCollection()
	if err := s.Sync(ctx, c); err != nil {
		t.Fatal(err)
	}
	var ok string
	if err := s.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q %v", ok, err)
	}
	var rows, krows int
	if err := s.db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM c_blog), (SELECT count(*) FROM k_blog)").Scan(&rows, &krows); err != nil || rows != krows {
		t.Fatalf("%d rows, %d typed rows (%v)", rows, krows, err)
	}
	res, err := s.Read(ctx, c, &query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]map[string]any{}
	for _, d := range res.Docs {
		have[d["_id"].(oid.ID).Hex()] = d
	}
	for id, title := range created {
		d, found := have[id]
		if !found || d["title"] != title {
			t.Errorf("acknowledged create %s missing (%v)", id, d)
			continue
		}
		if v, _ := d["views"].(int64); v < views[id] {
			t.Errorf("document %s has views %v, acknowledged %d", id, d["views"], views[id])
		}
		// The typed column agrees with the document.
		r, err := s.Read(ctx, c, &query.Query{Filter: query.And{&query.Cond{Path: "_id", Op: query.Eq, Value: d["_id"]},
			&query.Cond{Path: "views", Op: query.Eq, Value: d["views"]}}})
		if err != nil || r.Total != 1 {
			t.Errorf("document %s not found by its views (%v)", id, err)
		}
	}
	for id, title := range created {
		var dup *store.DuplicateError
		if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": title}); !errors.As(err, &dup) {
			t.Errorf("duplicate of %s's title accepted: %v", id, err)
		}
		break
	}
	var dup *store.DuplicateError
	if err := s.Insert(ctx, c, map[string]any{"_id": oid.New(), "title": "post 00"}); !errors.As(err, &dup) {
		t.Errorf("duplicate of a migrated title accepted: %v", err)
	}
}
