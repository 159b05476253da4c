package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// File describes a file sent with [Client.Upload]; its fields become the
// file object of each file/upload chunk (spec §9.1).
type File struct {
	// Name is the file name.
	Name string
	// Type is the MIME type, for example "image/png".
	Type string
	// Size is the exact number of bytes the reader yields.
	Size int64
	// LastModified is sent as milliseconds since the Unix epoch; zero means
	// the time of the upload.
	LastModified time.Time
}

// Upload sends the first Size bytes read from r as file index of doc attr attr in
// file/upload chunks of [Options.ChunkSize] bytes (spec §9.1): doc {attr,
// index (as a string, like ng-limp), chunk (1-based), total, file: {name,
// size, type, lastModified, content}}, with content the chunk's bytes as
// comma-joined decimal numbers. Unlike ng-limp, it waits for each chunk's
// acknowledgement ("Chunk accepted", last "Last chunk accepted") before
// sending the next, because the server appends chunks in arrival order and
// processes frames concurrently.
//
// The server buffers the file on the connection until the next call whose
// doc has the top-level key attr (any value), for example
// c.Call(ctx, "blog/create", nil, map[string]any{"title": "t", "image": []any{}}).
// Upload several files of one attr with indexes 0, 1, ...
//
// An empty file is sent as one chunk with empty content (LIMP v6.0 itself
// cannot decode that; limp-go can).
func (c *Client) Upload(ctx context.Context, attr string, index int, f File, r io.Reader) error {
	if f.Size < 0 {
		return fmt.Errorf("upload %q: negative size %d", f.Name, f.Size)
	}
	lm := f.LastModified
	if lm.IsZero() {
		lm = time.Now()
	}
	size := int64(c.opts.ChunkSize)
	total := (f.Size + size - 1) / size
	if total == 0 {
		total = 1
	}
	buf := make([]byte, min(size, f.Size))
	var content []byte
	for chunk := int64(1); chunk <= total; chunk++ {
		n := min(size, f.Size-(chunk-1)*size)
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("upload %q: read chunk %d of %d: %w", f.Name, chunk, total, err)
		}
		content = content[:0]
		for i, b := range buf[:n] {
			if i > 0 {
				content = append(content, ',')
			}
			content = strconv.AppendUint(content, uint64(b), 10)
		}
		doc := map[string]any{
			"attr":  attr,
			"index": strconv.Itoa(index),
			"chunk": chunk,
			"total": total,
			"file": map[string]any{
				"name":         f.Name,
				"size":         f.Size,
				"type":         f.Type,
				"lastModified": lm.UnixMilli(),
				"content":      string(content),
			},
		}
		if _, err := c.Call(ctx, "file/upload", nil, doc); err != nil {
			return fmt.Errorf("upload %q: chunk %d of %d: %w", f.Name, chunk, total, err)
		}
	}
	return nil
}
