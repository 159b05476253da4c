package limp

import (
	"bytes"
	"image"
	"strings"
	"time"
)

// headBufferSize is how much of an uploaded file is kept in memory to
// read an image's dimensions before the file is committed.
const headBufferSize = 1 << 20

// headBuffer keeps the first headBufferSize bytes written to it.
type headBuffer struct {
	buf       []byte
	truncated bool // more bytes were written than kept
}

func (h *headBuffer) Write(p []byte) (int, error) {
	n := min(headBufferSize-len(h.buf), len(p))
	h.buf = append(h.buf, p[:n]...)
	if n < len(p) {
		h.truncated = true
	}
	return len(p), nil
}

// imageDims returns the width and height of an image of MIME type typ
// read from the head, or 0, 0.
func (h *headBuffer) imageDims(typ string) (int64, int64) {
	if !strings.HasPrefix(typ, "image/") {
		return 0, 0
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(h.buf))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0
	}
	return int64(cfg.Width), int64(cfg.Height)
}

// checkUploadRoom refuses an HTTP upload before its body is read when its
// owner already has Config.MaxUploads uploads waiting to be attached
// (addHTTPUpload checks again once it is stored).
func (a *App) checkUploadRoom(owner string) error {
	fs := &a.files
	fs.mu.Lock()
	defer fs.mu.Unlock()
	now, n := time.Now(), 0
	for _, u := range fs.http {
		if u.owner == owner && !now.After(u.until) {
			n++
		}
	}
	if n >= a.cfg.MaxUploads {
		return Errorf(413, CodeFileUploadLimit, "Too many files uploaded and not yet used (at most %d).", a.cfg.MaxUploads)
	}
	return nil
}
