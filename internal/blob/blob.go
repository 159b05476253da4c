// Package blob stores file contents outside documents: immutable blobs
// named by the SHA-256 of their bytes (content-addressed), plus derived
// blobs (thumbnails) named by a base id and a suffix.
//
// Disk is the embedded store's implementation: a directory beside the
// database. A blob becomes visible only once complete: bytes go to a
// temporary file that is synced and then renamed into place, so readers
// never see a partial blob. Store is small so that other backends (GridFS
// for the MongoDB store) can implement it.
package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned by Open and Delete for an unknown id.
var ErrNotFound = errors.New("blob: not found")

// ErrInvalidID is returned for an id or key that is not well formed.
var ErrInvalidID = errors.New("blob: invalid id")

// Store keeps blobs. Implementations are safe for concurrent use.
type Store interface {
	// Create starts a new blob. The caller writes its bytes and then
	// commits or aborts it.
	Create(ctx context.Context) (Writer, error)
	// Open opens the blob id (a content id or a derived key).
	Open(ctx context.Context, id string) (Blob, error)
	// Delete removes the blob id; ErrNotFound if there is none.
	Delete(ctx context.Context, id string) error
	// Walk calls fn for every committed blob, in no particular order,
	// until fn returns an error (which Walk returns).
	Walk(ctx context.Context, fn func(id string, modTime time.Time) error) error
	// Close releases the store (a temporary store removes its files).
	Close() error
}

// Writer receives a new blob's bytes. Exactly one of Commit, CommitAs or
// Abort must be called; after it, the Writer is unusable.
type Writer interface {
	io.Writer
	// Size returns the number of bytes written so far.
	Size() int64
	// Commit makes the blob visible under its content id (lower-case hex
	// SHA-256), which it returns. A blob with the same bytes already
	// stored is kept and the new copy dropped.
	Commit(ctx context.Context) (id string, err error)
	// CommitAs makes the blob visible under key (see DerivedKey),
	// replacing any blob of that key.
	CommitAs(ctx context.Context, key string) error
	// Abort discards the bytes.
	Abort() error
}

// Blob is an open blob.
type Blob interface {
	io.ReadSeekCloser
	// Size is the blob's length in bytes.
	Size() int64
	// ModTime is when the blob was stored.
	ModTime() time.Time
}

// Put stores the bytes of r as a content-addressed blob and returns its id
// and size. Nothing is stored if reading r fails.
func Put(ctx context.Context, s Store, r io.Reader) (id string, size int64, err error) {
	w, err := s.Create(ctx)
	if err != nil {
		return "", 0, err
	}
	if _, err := io.Copy(w, r); err != nil {
		_ = w.Abort()
		return "", 0, err
	}
	size = w.Size()
	id, err = w.Commit(ctx)
	if err != nil {
		return "", 0, err
	}
	return id, size, nil
}

// IsContentID reports whether s is a content id: 64 lower-case hex digits.
func IsContentID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// DerivedKey returns the key of a blob derived from the content id base,
// e.g. DerivedKey(id, "64x64") for a thumbnail. suffix is 1 to 32 of
// [0-9A-Za-z_-]; ok is false otherwise or if base is not a content id.
func DerivedKey(base, suffix string) (key string, ok bool) {
	if !IsContentID(base) || !validSuffix(suffix) {
		return "", false
	}
	return base + "." + suffix, true
}

// BaseID returns the content id a key is or derives from, and whether key
// is valid at all.
func BaseID(key string) (string, bool) {
	if len(key) < 64 || !IsContentID(key[:64]) {
		return "", false
	}
	if len(key) == 64 {
		return key, true
	}
	if key[64] != '.' || !validSuffix(key[65:]) {
		return "", false
	}
	return key[:64], true
}

func validSuffix(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
