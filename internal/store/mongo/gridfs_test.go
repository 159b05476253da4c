package mongo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/blob"
)

// TestGridFSBlobs runs against a real server named by LIMP_TEST_MONGO_URI.
func TestGridFSBlobs(t *testing.T) {
	s := openLive(t, nil) // a database of its own, dropped at the end
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bs := s.Blobs()
	data := bytes.Repeat([]byte("0123456789"), 100000) // 1 MB, several chunks
	id, n, err := blob.Put(ctx, bs, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) || !blob.IsContentID(id) {
		t.Fatalf("Put = %q, %d, %v", id, n, err)
	}
	// The same content again is stored once.
	if id2, _, err := blob.Put(ctx, bs, bytes.NewReader(data)); err != nil || id2 != id {
		t.Fatalf("second Put = %q, %v", id2, err)
	}
	b, err := bs.Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Seek(500001, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "12345" {
		t.Fatalf("read after seek = %q, %v", got, err)
	}
	_ = b.Close()
	// An aborted upload leaves nothing visible.
	w, err := bs.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("partial"))
	_ = w.Abort()
	count := 0
	if err := bs.Walk(ctx, func(string, time.Time) error { count++; return nil }); err != nil || count != 1 {
		t.Fatalf("Walk saw %d blobs, %v", count, err)
	}
	if err := bs.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Open(ctx, id); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open after Delete: %v", err)
	}
}
