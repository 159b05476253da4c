package mongo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/limp-go/limp/internal/blob"
)

// Blobs returns the store's file contents store: a GridFS bucket named
// "limp_files" in the store's database. Files are named by their content
// id (the SHA-256 of their bytes, as the disk store does); an upload is
// written under a temporary name and renamed when committed, so a partial
// file is never visible under a content id.
func (s *Store) Blobs() blob.Store {
	return &gridBlobs{b: s.db.GridFSBucket(options.GridFSBucket().SetName("limp_files"))}
}

type gridBlobs struct {
	b *mongo.GridFSBucket
}

var _ blob.Store = (*gridBlobs)(nil)

const tmpPrefix = "tmp-"

func (g *gridBlobs) Create(ctx context.Context) (blob.Writer, error) {
	id := bson.NewObjectID()
	us, err := g.b.OpenUploadStreamWithID(context.WithoutCancel(ctx), id, tmpPrefix+id.Hex())
	if err != nil {
		return nil, fmt.Errorf("gridfs upload: %w", err)
	}
	return &gridWriter{g: g, id: id, us: us, h: sha256.New()}, nil
}

// file returns the files-collection entry called name, or ErrNotFound.
func (g *gridBlobs) file(ctx context.Context, name string) (*mongo.GridFSFile, error) {
	cur, err := g.b.Find(ctx, bson.D{{Key: "filename", Value: bson.D{{Key: "$eq", Value: name}}}},
		options.GridFSFind().SetLimit(1))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	if !cur.Next(ctx) {
		if err := cur.Err(); err != nil {
			return nil, err
		}
		return nil, blob.ErrNotFound
	}
	var f struct {
		ID         bson.ObjectID `bson:"_id"`
		Length     int64         `bson:"length"`
		UploadDate time.Time     `bson:"uploadDate"`
		Name       string        `bson:"filename"`
	}
	if err := cur.Decode(&f); err != nil {
		return nil, err
	}
	return &mongo.GridFSFile{ID: f.ID, Length: f.Length, UploadDate: f.UploadDate, Name: f.Name}, nil
}

func (g *gridBlobs) Open(ctx context.Context, id string) (blob.Blob, error) {
	if _, ok := blob.BaseID(id); !ok {
		return nil, blob.ErrInvalidID
	}
	f, err := g.file(ctx, id)
	if err != nil {
		return nil, err
	}
	r := &gridReader{g: g, ctx: context.WithoutCancel(ctx), f: f}
	if err := r.reopen(0); err != nil {
		return nil, err
	}
	return r, nil
}

func (g *gridBlobs) Delete(ctx context.Context, id string) error {
	if _, ok := blob.BaseID(id); !ok {
		return blob.ErrInvalidID
	}
	f, err := g.file(ctx, id)
	if err != nil {
		return err
	}
	return g.b.Delete(ctx, f.ID)
}

func (g *gridBlobs) Walk(ctx context.Context, fn func(id string, modTime time.Time) error) error {
	cur, err := g.b.Find(ctx, bson.D{})
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var f struct {
			Name       string    `bson:"filename"`
			UploadDate time.Time `bson:"uploadDate"`
		}
		if err := cur.Decode(&f); err != nil {
			return err
		}
		if _, ok := blob.BaseID(f.Name); !ok {
			continue // an upload in progress
		}
		if err := fn(f.Name, f.UploadDate); err != nil {
			return err
		}
	}
	return cur.Err()
}

func (g *gridBlobs) Close() error { return nil }

// gridWriter streams an upload into GridFS under a temporary name.
type gridWriter struct {
	g    *gridBlobs
	id   bson.ObjectID
	us   *mongo.GridFSUploadStream
	h    hash.Hash
	n    int64
	done bool
}

func (w *gridWriter) Write(p []byte) (int, error) {
	n, err := w.us.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

func (w *gridWriter) Size() int64 { return w.n }

func (w *gridWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.us.Abort()
}

// Commit names the file by its content id; if that content is stored
// already, the new copy is deleted.
func (w *gridWriter) Commit(ctx context.Context) (string, error) {
	id := hex.EncodeToString(w.h.Sum(nil))
	return id, w.commit(ctx, id, false)
}

// CommitAs names the file key (a derived key such as a thumbnail),
// replacing an earlier file of that name.
func (w *gridWriter) CommitAs(ctx context.Context, key string) error {
	if _, ok := blob.BaseID(key); !ok || len(key) == 64 {
		_ = w.Abort()
		return blob.ErrInvalidID
	}
	return w.commit(ctx, key, true)
}

func (w *gridWriter) commit(ctx context.Context, name string, replace bool) error {
	if w.done {
		return errors.New("blob: commit after commit or abort")
	}
	w.done = true
	if err := w.us.Close(); err != nil {
		_ = w.g.b.Delete(context.WithoutCancel(ctx), w.id)
		return fmt.Errorf("gridfs upload: %w", err)
	}
	old, err := w.g.file(ctx, name)
	switch {
	case err == nil && !replace:
		// Same content stored already: keep the old one.
		return w.g.b.Delete(ctx, w.id)
	case err == nil:
		if err := w.g.b.Delete(ctx, old.ID); err != nil && !errors.Is(err, mongo.ErrFileNotFound) {
			return err
		}
	case !errors.Is(err, blob.ErrNotFound):
		_ = w.g.b.Delete(context.WithoutCancel(ctx), w.id)
		return err
	}
	return w.g.b.Rename(ctx, w.id, name)
}

// gridReader is a seekable reader over a GridFS file: a seek reopens the
// download stream and skips to the offset.
type gridReader struct {
	g   *gridBlobs
	ctx context.Context
	f   *mongo.GridFSFile
	ds  *mongo.GridFSDownloadStream
	off int64
}

func (r *gridReader) reopen(off int64) error {
	if r.ds != nil {
		_ = r.ds.Close()
	}
	ds, err := r.g.b.OpenDownloadStream(r.ctx, r.f.ID)
	if err != nil {
		return err
	}
	if off > 0 {
		if _, err := ds.Skip(off); err != nil {
			_ = ds.Close()
			return err
		}
	}
	r.ds, r.off = ds, off
	return nil
}

func (r *gridReader) Read(p []byte) (int, error) {
	if r.off >= r.f.Length {
		return 0, io.EOF
	}
	n, err := r.ds.Read(p)
	r.off += int64(n)
	return n, err
}

func (r *gridReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.f.Length + offset
	default:
		return 0, errors.New("blob: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("blob: negative position")
	}
	if abs == r.off {
		return abs, nil
	}
	if abs >= r.f.Length {
		r.off = abs
		return abs, nil
	}
	if err := r.reopen(abs); err != nil {
		return 0, err
	}
	return abs, nil
}

func (r *gridReader) Close() error {
	if r.ds == nil {
		return nil
	}
	return r.ds.Close()
}

func (r *gridReader) Size() int64        { return r.f.Length }
func (r *gridReader) ModTime() time.Time { return r.f.UploadDate }
