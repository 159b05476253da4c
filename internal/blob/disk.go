package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// staleTemp is the age after which OpenDisk removes leftover temporary
// files (of a process that died mid-upload).
const staleTemp = time.Hour

// Disk is a Store in a directory: committed blobs in objects/XX/<key>
// (XX the first two hex digits), blobs being written in tmp/.
type Disk struct {
	root      string
	temporary bool
	closed    atomic.Bool
}

var _ Store = (*Disk)(nil)

// OpenDisk opens (creating it if needed) the store in dir, removing
// temporary files left for over an hour.
func OpenDisk(dir string) (*Disk, error) {
	d := &Disk{root: dir}
	if err := d.init(); err != nil {
		return nil, err
	}
	return d, nil
}

// OpenTemp opens a store in a new temporary directory, removed by Close.
func OpenTemp() (*Disk, error) {
	dir, err := os.MkdirTemp("", "limp-files-")
	if err != nil {
		return nil, fmt.Errorf("blob: create temporary store: %w", err)
	}
	d := &Disk{root: dir, temporary: true}
	if err := d.init(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return d, nil
}

func (d *Disk) init() error {
	for _, sub := range []string{"tmp", "objects"} {
		if err := os.MkdirAll(filepath.Join(d.root, sub), 0o750); err != nil {
			return fmt.Errorf("blob: open store %s: %w", d.root, err)
		}
	}
	ents, err := os.ReadDir(filepath.Join(d.root, "tmp"))
	if err != nil {
		return fmt.Errorf("blob: open store %s: %w", d.root, err)
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
			_ = os.Remove(filepath.Join(d.root, "tmp", e.Name()))
		}
	}
	return nil
}

// Dir returns the store's directory.
func (d *Disk) Dir() string { return d.root }

// TempFiles returns the number of blobs being written (files in tmp/);
// tests use it to check that temporary space is reclaimed.
func (d *Disk) TempFiles() int {
	ents, _ := os.ReadDir(filepath.Join(d.root, "tmp"))
	return len(ents)
}

func (d *Disk) path(key string) string {
	return filepath.Join(d.root, "objects", key[:2], key)
}

// Create implements Store.
func (d *Disk) Create(ctx context.Context) (Writer, error) {
	if d.closed.Load() {
		return nil, errors.New("blob: store is closed")
	}
	f, err := os.CreateTemp(filepath.Join(d.root, "tmp"), "up-*")
	if err != nil {
		return nil, fmt.Errorf("blob: create: %w", err)
	}
	return &diskWriter{d: d, f: f, h: sha256.New()}, nil
}

// Open implements Store.
func (d *Disk) Open(ctx context.Context, id string) (Blob, error) {
	if _, ok := BaseID(id); !ok {
		return nil, ErrInvalidID
	}
	f, err := os.Open(d.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", id, err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("blob: open %s: %w", id, err)
	}
	return &diskBlob{File: f, size: info.Size(), mod: info.ModTime()}, nil
}

// Delete implements Store.
func (d *Disk) Delete(ctx context.Context, id string) error {
	if _, ok := BaseID(id); !ok {
		return ErrInvalidID
	}
	err := os.Remove(d.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("blob: delete %s: %w", id, err)
	}
	return nil
}

// Walk implements Store.
func (d *Disk) Walk(ctx context.Context, fn func(id string, modTime time.Time) error) error {
	shards, err := os.ReadDir(filepath.Join(d.root, "objects"))
	if err != nil {
		return fmt.Errorf("blob: walk: %w", err)
	}
	for _, s := range shards {
		ents, err := os.ReadDir(filepath.Join(d.root, "objects", s.Name()))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, ok := BaseID(e.Name()); !ok {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if err := fn(e.Name(), info.ModTime()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close implements Store. A temporary store's directory is removed.
func (d *Disk) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	if d.temporary {
		return os.RemoveAll(d.root)
	}
	return nil
}

type diskBlob struct {
	*os.File
	size int64
	mod  time.Time
}

func (b *diskBlob) Size() int64        { return b.size }
func (b *diskBlob) ModTime() time.Time { return b.mod }

type diskWriter struct {
	d    *Disk
	f    *os.File
	h    hash.Hash
	n    int64
	done bool
	err  error
}

func (w *diskWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("blob: write after commit or abort")
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		w.err = fmt.Errorf("blob: write: %w", err)
		return n, w.err
	}
	return n, nil
}

func (w *diskWriter) Size() int64 { return w.n }

func (w *diskWriter) Commit(ctx context.Context) (string, error) {
	id := hex.EncodeToString(w.h.Sum(nil))
	return id, w.commit(id, false)
}

func (w *diskWriter) CommitAs(ctx context.Context, key string) error {
	if _, ok := BaseID(key); !ok || len(key) == 64 {
		_ = w.Abort()
		return ErrInvalidID
	}
	return w.commit(key, true)
}

func (w *diskWriter) commit(key string, replace bool) error {
	if w.done {
		return errors.New("blob: commit after commit or abort")
	}
	if w.err != nil {
		_ = w.Abort()
		return w.err
	}
	w.done = true
	tmp := w.f.Name()
	fail := func(err error) error {
		_ = w.f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("blob: commit %s: %w", key, err)
	}
	if err := w.f.Sync(); err != nil {
		return fail(err)
	}
	if err := w.f.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("blob: commit %s: %w", key, err)
	}
	dst := w.d.path(key)
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("blob: commit %s: %w", key, err)
	}
	if !replace {
		if _, err := os.Stat(dst); err == nil {
			// Same bytes already stored: keep the existing blob, but
			// touch it so that collection grace periods restart.
			now := time.Now()
			_ = os.Chtimes(dst, now, now)
			_ = os.Remove(tmp)
			return nil
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("blob: commit %s: %w", key, err)
	}
	syncDir(dir)
	return nil
}

func (w *diskWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	_ = w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: abort: %w", err)
	}
	return nil
}

// syncDir makes a rename durable (best effort: not every platform can
// sync a directory).
func syncDir(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = f.Sync()
	_ = f.Close()
}
