package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPutOpenDelete(t *testing.T) {
	ctx := context.Background()
	d, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	data := bytes.Repeat([]byte("limp"), 10000)
	id, size, err := Put(ctx, d, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]); id != want {
		t.Fatalf("id = %s, want %s", id, want)
	}
	if size != int64(len(data)) {
		t.Fatalf("size = %d, want %d", size, len(data))
	}
	b, err := d.Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	b.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (err %v), want %d", len(got), err, len(data))
	}
	if b.Size() != int64(len(data)) || b.ModTime().IsZero() {
		t.Fatalf("Size %d ModTime %v", b.Size(), b.ModTime())
	}
	// Same bytes again: same id, one file.
	id2, _, err := Put(ctx, d, bytes.NewReader(data))
	if err != nil || id2 != id {
		t.Fatalf("second put = %s, %v; want %s", id2, err, id)
	}
	if n := d.TempFiles(); n != 0 {
		t.Fatalf("%d temp files left", n)
	}
	if err := d.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open after delete: %v, want ErrNotFound", err)
	}
	if err := d.Delete(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	ctx := context.Background()
	d, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := d.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if d.TempFiles() != 1 {
		t.Fatalf("temp files = %d while writing, want 1", d.TempFiles())
	}
	n := 0
	_ = d.Walk(ctx, func(string, time.Time) error { n++; return nil })
	if n != 0 {
		t.Fatalf("a blob being written is visible to Walk")
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if d.TempFiles() != 0 {
		t.Fatalf("temp files = %d after abort", d.TempFiles())
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after abort succeeded")
	}
	if _, err := w.Commit(ctx); err == nil {
		t.Fatal("commit after abort succeeded")
	}
	// A failing reader stores nothing.
	_, _, err = Put(ctx, d, io.MultiReader(strings.NewReader("abc"), errReader{}))
	if err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	if d.TempFiles() != 0 {
		t.Fatal("Put left a temp file")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestDerivedAndWalk(t *testing.T) {
	ctx := context.Background()
	d, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := Put(ctx, d, strings.NewReader("image"))
	if err != nil {
		t.Fatal(err)
	}
	key, ok := DerivedKey(id, "64x48")
	if !ok {
		t.Fatal("DerivedKey refused a valid suffix")
	}
	for range 2 { // replacing an existing derived blob works
		w, _ := d.Create(ctx)
		_, _ = w.Write([]byte("thumb"))
		if err := w.CommitAs(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	if err := d.Walk(ctx, func(id string, _ time.Time) error { seen[id] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || !seen[id] || !seen[key] {
		t.Fatalf("Walk saw %v, want %s and %s", seen, id, key)
	}
	w, _ := d.Create(ctx)
	if err := w.CommitAs(ctx, id); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("CommitAs(content id) = %v, want ErrInvalidID", err)
	}
	if d.TempFiles() != 0 {
		t.Fatal("refused CommitAs left a temp file")
	}
}

func TestInvalidIDs(t *testing.T) {
	ctx := context.Background()
	d, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Repeat("a", 64)
	for _, id := range []string{"", "../etc/passwd", strings.Repeat("A", 64), good + ".", good + "./x",
		good + "/../x", good + "." + strings.Repeat("x", 33), strings.Repeat("a", 63), good + "a"} {
		if _, err := d.Open(ctx, id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Open(%q) = %v, want ErrInvalidID", id, err)
		}
		if err := d.Delete(ctx, id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidID", id, err)
		}
	}
	for _, s := range []string{"", "a/b", "..", "a.b"} {
		if _, ok := DerivedKey(good, s); ok {
			t.Errorf("DerivedKey(%q) accepted", s)
		}
	}
}

func TestStaleTempRemovedOnOpen(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := d.Create(context.Background())
	_, _ = w.Write([]byte("left over"))
	fresh, _ := d.Create(context.Background())
	defer fresh.Abort()
	// Simulate a crash: the first temp file is old and never finished.
	old := time.Now().Add(-2 * time.Hour)
	ents, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	for _, e := range ents {
		if e.Name() == filepath.Base(w.(*diskWriter).f.Name()) {
			_ = os.Chtimes(filepath.Join(dir, "tmp", e.Name()), old, old)
		}
	}
	if _, err := OpenDisk(dir); err != nil {
		t.Fatal(err)
	}
	if n := d.TempFiles(); n != 1 {
		t.Fatalf("temp files after reopen = %d, want 1 (the fresh one)", n)
	}
}

func TestTempStoreRemovedOnClose(t *testing.T) {
	d, err := OpenTemp()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Put(context.Background(), d, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Dir()); !os.IsNotExist(err) {
		t.Fatalf("temporary store dir still exists: %v", err)
	}
	if _, err := d.Create(context.Background()); err == nil {
		t.Fatal("Create on a closed store succeeded")
	}
}

func TestConcurrentPutsOfSameBytes(t *testing.T) {
	ctx := context.Background()
	d, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{7}, 1<<16)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			id, _, err := Put(ctx, d, bytes.NewReader(data))
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids differ: %v", ids)
		}
	}
	b, err := d.Open(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, _ := io.ReadAll(b)
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if d.TempFiles() != 0 {
		t.Fatal("temp files left")
	}
}
