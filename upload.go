package limp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/limp-go/limp/internal/blob"
)

// Codes of file upload errors.
const (
	CodeFileInvalidDoc     = "CORE_FILE_INVALID_DOC"     // malformed file/upload doc
	CodeFileInvalidChunk   = "CORE_FILE_INVALID_CHUNK"   // chunk out of order, repeated, past total, or file metadata changed
	CodeFileInvalidContent = "CORE_FILE_INVALID_CONTENT" // content is not comma-joined decimal bytes
	CodeFileSizeMismatch   = "CORE_FILE_SIZE_MISMATCH"   // the chunks' bytes do not add up to size
	CodeFileTooLarge       = "CORE_FILE_TOO_LARGE"       // over Config.MaxFileSize or the attr's MaxSize
	CodeFileUploadLimit    = "CORE_FILE_UPLOAD_LIMIT"    // too many uploads in progress
	CodeFileIncomplete     = "CORE_FILE_INCOMPLETE"      // a call names an attr whose upload is unfinished
	CodeFileInvalidName    = "CORE_FILE_INVALID_NAME"    // a file name with a path, control characters or too long
	CodeFileNotFound       = "CORE_FILE_NOT_FOUND"       // no such uploaded file ({"__file": id})
	CodeFileNotImage       = "CORE_FILE_NOT_IMAGE"       // thumbnail of a file that is not an image
)

// DefaultMaxFileSize is Config.MaxFileSize's default.
const DefaultMaxFileSize = 32 << 20

// orderGrace is how long a chunk that arrives ahead of its predecessor
// waits for it. Frames of one connection run concurrently, so a client
// that sends chunks without waiting for acknowledgements (ng-limp) may
// see them handled slightly out of order.
var orderGrace = time.Second

// uploads holds one connection's files in progress and finished files not
// yet attached to a call (spec §9.1). Unlike LIMP, bytes are spooled to
// the file store, never kept in memory; every limit is enforced; an
// unfinished or unattached upload expires after Config.UploadTimeout.
type uploads struct {
	mu     sync.Mutex
	files  []*pendingUpload // in order of their first chunk
	closed bool
	timer  *time.Timer
}

type uploadKey struct{ attr, index string }

// pendingUpload is one file being uploaded (w != nil) or uploaded and
// waiting to be attached (id != "").
type pendingUpload struct {
	key   uploadKey
	meta  fileMeta
	total int64
	next  int64 // the chunk expected next
	busy  bool  // a chunk is being written
	turn  chan struct{}
	w     blob.Writer
	val   M // the file value once finished
	until time.Time
}

// fileMeta is a file's client-declared metadata.
type fileMeta struct {
	name, typ          string
	size, lastModified int64
}

func (p *pendingUpload) finished() bool { return p.val != nil }

// advance wakes the chunks waiting for their turn.
func (p *pendingUpload) advance() {
	close(p.turn)
	p.turn = make(chan struct{})
}

// discardAll removes every unfinished upload of the connection.
func (u *uploads) discardAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed = true
	if u.timer != nil {
		u.timer.Stop()
	}
	for _, p := range u.files {
		u.drop(p)
	}
	u.files = nil
}

// drop discards p's bytes (an unfinished upload's temporary file; a
// finished upload's blob is left to CollectFiles, as another document may
// hold the same content). Must hold u.mu.
func (u *uploads) drop(p *pendingUpload) {
	if p.w != nil && !p.busy {
		_ = p.w.Abort()
		p.w = nil
	}
	p.advance()
}

// remove takes p out of the connection's uploads. Must hold u.mu.
func (u *uploads) remove(p *pendingUpload) {
	if i := slices.Index(u.files, p); i >= 0 {
		u.files = slices.Delete(u.files, i, i+1)
	}
	u.drop(p)
}

// sweep discards expired uploads and re-arms the timer.
func (u *uploads) sweep() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	now := time.Now()
	var next time.Time
	for _, p := range slices.Clone(u.files) {
		if !p.busy && now.After(p.until) {
			u.remove(p)
			continue
		}
		if next.IsZero() || p.until.Before(next) {
			next = p.until
		}
	}
	if !next.IsZero() {
		u.timer.Reset(time.Until(next) + 10*time.Millisecond)
	}
}

func (u *uploads) find(k uploadKey) *pendingUpload {
	for _, p := range u.files {
		if p.key == k {
			return p
		}
	}
	return nil
}

// uploadDoc is a parsed file/upload doc.
type uploadDoc struct {
	key          uploadKey
	chunk, total int64
	meta         fileMeta
	content      string
}

func errUploadDoc(format string, args ...any) error {
	return Errorf(400, CodeFileInvalidDoc, "Upload doc is invalid: "+format+".", args...)
}

// parseUploadDoc checks a file/upload doc (spec §9.1).
func parseUploadDoc(doc M) (*uploadDoc, error) {
	d := &uploadDoc{}
	attr, ok := doc["attr"].(string)
	if !ok || !validAttrName(attr) {
		return nil, errUploadDoc("'attr' must be an attr name")
	}
	d.key.attr = attr
	switch x := doc["index"].(type) {
	case string:
		if _, err := strconv.ParseUint(x, 10, 16); err != nil {
			return nil, errUploadDoc("'index' must be a small non-negative integer")
		}
		d.key.index = x
	case int64:
		if x < 0 || x > math.MaxUint16 {
			return nil, errUploadDoc("'index' must be a small non-negative integer")
		}
		d.key.index = strconv.FormatInt(x, 10)
	default:
		return nil, errUploadDoc("'index' must be a small non-negative integer")
	}
	var err error
	if d.chunk, err = intField(doc, "chunk", 1); err != nil {
		return nil, err
	}
	if d.total, err = intField(doc, "total", 1); err != nil {
		return nil, err
	}
	f, ok := doc["file"].(map[string]any)
	if !ok {
		return nil, errUploadDoc("'file' must be an object")
	}
	if d.meta.name, ok = f["name"].(string); !ok {
		return nil, errUploadDoc("'file.name' must be a string")
	}
	if err := checkFileName(d.meta.name); err != nil {
		return nil, err
	}
	if d.meta.typ, ok = f["type"].(string); !ok {
		return nil, errUploadDoc("'file.type' must be a string")
	}
	if d.meta.typ, ok = normMIME(d.meta.typ); !ok {
		return nil, errUploadDoc("'file.type' must be a MIME type")
	}
	if d.meta.size, err = intField(f, "size", 0); err != nil {
		return nil, err
	}
	if d.meta.lastModified, err = intField(f, "lastModified", 0); err != nil {
		return nil, err
	}
	if d.content, ok = f["content"].(string); !ok {
		return nil, errUploadDoc("'file.content' must be a string of comma-joined bytes")
	}
	return d, nil
}

// intField reads a non-negative integer (JSON integer or integral number)
// of at least min.
func intField(m M, key string, min int64) (int64, error) {
	var n int64
	switch x := m[key].(type) {
	case int64:
		n = x
	case float64:
		if x != math.Trunc(x) || x < 0 || x > 1<<53 {
			return 0, errUploadDoc("'%s' must be an integer", key)
		}
		n = int64(x)
	default:
		return 0, errUploadDoc("'%s' must be an integer", key)
	}
	if n < min {
		return 0, errUploadDoc("'%s' must be at least %d", key, min)
	}
	return n, nil
}

// validAttrName reports whether s can be a top-level doc attr name.
func validAttrName(s string) bool {
	if s == "" || len(s) > 128 || strings.HasPrefix(s, "$") || strings.HasPrefix(s, "__") {
		return false
	}
	for _, r := range s {
		if r != '_' && r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// checkFileName refuses names that are paths or could mislead: empty,
// over 255 bytes, not UTF-8, "." or "..", with a slash, backslash or
// control character.
func checkFileName(name string) error {
	bad := name == "" || len(name) > 255 || !utf8.ValidString(name) || name == "." || name == ".." ||
		strings.ContainsAny(name, `/\`) || strings.ContainsFunc(name, unicode.IsControl)
	if bad {
		return Errorf(400, CodeFileInvalidName, "File name %q is not accepted: it must be a plain file name (no path, no control characters, at most 255 bytes).", truncate(name))
	}
	return nil
}

// normMIME lower-cases a MIME type and checks its shape ("type/subtype",
// parameters dropped); an empty type is application/octet-stream, as
// browsers send "" for unknown types.
func normMIME(s string) (string, bool) {
	s, _, _ = strings.Cut(s, ";")
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "application/octet-stream", true
	}
	major, minor, ok := strings.Cut(s, "/")
	if !ok || !mimeToken(major) || !mimeToken(minor) || len(s) > 127 {
		return "", false
	}
	return s, true
}

func mimeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&^_.+-", c) >= 0) {
			return false
		}
	}
	return true
}

// contentError is a malformed content string.
type contentError struct {
	offset int
	msg    string
}

func (e *contentError) Error() string {
	return fmt.Sprintf("content at offset %d: %s", e.offset, e.msg)
}

// parseContent decodes s, bytes written as decimal numbers (0 to 255,
// without leading zeros) joined by commas, writing them to w through a
// fixed buffer: the string is read in place, never split. The empty
// string is no bytes. It returns the number of bytes written.
func parseContent(s string, w io.Writer) (int64, error) {
	var buf [32 << 10]byte
	n, total := 0, int64(0)
	flush := func() error {
		if n == 0 {
			return nil
		}
		m, err := w.Write(buf[:n])
		total += int64(m)
		n = 0
		return err
	}
	for i := 0; i < len(s); {
		start := i
		v := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			v = v*10 + int(s[i]-'0')
			i++
			if i-start > 3 {
				return total, &contentError{start, "number has more than 3 digits"}
			}
		}
		switch {
		case i == start:
			return total, &contentError{i, "expected a decimal byte"}
		case v > 255:
			return total, &contentError{start, fmt.Sprintf("%d is not a byte (0 to 255)", v)}
		case i-start > 1 && s[start] == '0':
			return total, &contentError{start, "leading zero"}
		}
		buf[n] = byte(v)
		n++
		if n == len(buf) {
			if err := flush(); err != nil {
				return total, err
			}
		}
		if i < len(s) {
			if s[i] != ',' {
				return total, &contentError{i, fmt.Sprintf("unexpected %q", truncate(s[i:min(i+1, len(s))]))}
			}
			i++
			if i == len(s) {
				return total, &contentError{i, "trailing comma"}
			}
		}
	}
	return total, flush()
}

// limitWriter fails a write that would exceed max bytes in all.
type limitWriter struct {
	w   io.Writer
	n   int64
	max int64
}

var errOverSize = errors.New("more bytes than the declared size")

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n+int64(len(p)) > l.max {
		return 0, errOverSize
	}
	n, err := l.w.Write(p)
	l.n += int64(n)
	return n, err
}

// getUploads returns the connection's uploads, created if create is set;
// nil if there are none. It runs on every call, so it takes no lock.
func (c *conn) getUploads(create bool) *uploads {
	if u := c.uploads.Load(); u != nil || !create {
		return u
	}
	u := &uploads{}
	u.timer = time.AfterFunc(time.Hour, u.sweep)
	u.timer.Stop()
	if c.uploads.CompareAndSwap(nil, u) {
		return u
	}
	return c.uploads.Load() // another call created it first
}

// upload handles one file/upload chunk (spec §9.1). Chunks of a file must
// come in order, 1 to total, with the same metadata; their bytes must add
// up to size. Any failing chunk discards the whole file.
func (c *conn) upload(ctx context.Context, call *Call) (*Result, error) {
	a := c.app
	d, err := parseUploadDoc(call.Doc)
	if err != nil {
		return nil, err
	}
	u := c.getUploads(true)
	u.mu.Lock()
	locked := true
	defer func() {
		if locked {
			u.mu.Unlock()
		}
	}()
	if u.closed {
		return nil, NewError(400, CodeFileInvalidChunk, "Connection is closing.")
	}
	p := u.find(d.key)
	if d.chunk == 1 {
		if p != nil && !p.finished() {
			u.remove(p)
			return nil, Errorf(400, CodeFileInvalidChunk, "Chunk 1 of file %s[%s] was sent twice; the upload is discarded.", d.key.attr, d.key.index)
		}
		if p != nil { // a new file replaces a finished one (as in LIMP)
			u.remove(p)
		}
		if err := a.checkNewUpload(d, u.files); err != nil {
			return nil, err
		}
		w, err := a.files.store(a)
		if err != nil {
			return nil, err
		}
		bw, err := w.Create(ctx)
		if err != nil {
			return nil, err
		}
		p = &pendingUpload{key: d.key, meta: d.meta, total: d.total, next: 1, turn: make(chan struct{}), w: bw}
		u.files = append(u.files, p)
	} else {
		if p == nil || p.finished() {
			return nil, Errorf(400, CodeFileInvalidChunk, "Chunk %d of file %s[%s] has no upload in progress (chunk 1 must come first).", d.chunk, d.key.attr, d.key.index)
		}
		if d.meta != p.meta || d.total != p.total {
			u.remove(p)
			return nil, Errorf(400, CodeFileInvalidChunk, "Chunk %d of file %s[%s] changes the file's name, size, type, lastModified or total; the upload is discarded.", d.chunk, d.key.attr, d.key.index)
		}
		// A chunk ahead of its turn waits briefly for its predecessors.
		deadline := time.NewTimer(orderGrace)
		defer deadline.Stop()
		for d.chunk > p.next && d.chunk <= p.total && u.find(d.key) == p {
			turn := p.turn
			u.mu.Unlock()
			locked = false
			var expired bool
			select {
			case <-turn:
			case <-deadline.C:
				expired = true
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			u.mu.Lock()
			locked = true
			if expired {
				break
			}
		}
		if u.find(d.key) != p {
			return nil, Errorf(400, CodeFileInvalidChunk, "The upload of file %s[%s] was discarded.", d.key.attr, d.key.index)
		}
		if d.chunk != p.next || d.chunk > p.total || p.busy {
			u.remove(p)
			return nil, Errorf(400, CodeFileInvalidChunk, "Chunk %d of file %s[%s] is out of order (expected chunk %d of %d); the upload is discarded.", d.chunk, d.key.attr, d.key.index, p.next, p.total)
		}
	}
	if d.chunk > d.total {
		u.remove(p)
		return nil, Errorf(400, CodeFileInvalidChunk, "Chunk %d is past total %d; the upload is discarded.", d.chunk, d.total)
	}
	p.busy = true
	p.until = time.Now().Add(a.cfg.UploadTimeout)
	u.timer.Reset(a.cfg.UploadTimeout + 10*time.Millisecond)
	w := p.w
	before := w.Size()
	u.mu.Unlock()
	locked = false

	n, werr := parseContent(d.content, &limitWriter{w: w, n: before, max: p.meta.size})

	u.mu.Lock()
	locked = true
	p.busy = false
	gone := u.find(d.key) != p
	switch {
	case gone: // discarded meanwhile (connection closing or expired)
		_ = w.Abort()
		p.w = nil
		return nil, Errorf(400, CodeFileInvalidChunk, "The upload of file %s[%s] was discarded.", d.key.attr, d.key.index)
	case errors.Is(werr, errOverSize):
		u.remove(p)
		return nil, Errorf(400, CodeFileSizeMismatch, "File %s[%s] has more bytes than its size %d; the upload is discarded.", d.key.attr, d.key.index, p.meta.size)
	case werr != nil:
		u.remove(p)
		var ce *contentError
		if errors.As(werr, &ce) {
			return nil, Errorf(400, CodeFileInvalidContent, "Chunk %d of file %s[%s]: %s; the upload is discarded.", d.chunk, d.key.attr, d.key.index, ce.Error())
		}
		return nil, fmt.Errorf("spool chunk %d of %s[%s]: %w", d.chunk, d.key.attr, d.key.index, werr)
	case n == 0 && p.meta.size > 0:
		u.remove(p)
		return nil, Errorf(400, CodeFileSizeMismatch, "Chunk %d of file %s[%s] is empty; the upload is discarded.", d.chunk, d.key.attr, d.key.index)
	}
	size := w.Size()
	if d.chunk < p.total {
		if size >= p.meta.size {
			u.remove(p)
			return nil, Errorf(400, CodeFileSizeMismatch, "File %s[%s] reached its size %d at chunk %d of %d; the upload is discarded.", d.key.attr, d.key.index, p.meta.size, d.chunk, p.total)
		}
		p.next++
		p.advance()
		return OK("Chunk accepted", nil), nil
	}
	if size != p.meta.size {
		u.remove(p)
		return nil, Errorf(400, CodeFileSizeMismatch, "File %s[%s] has %d bytes, not its size %d; the upload is discarded.", d.key.attr, d.key.index, size, p.meta.size)
	}
	id, err := w.Commit(ctx)
	p.w = nil
	if err != nil {
		u.remove(p)
		return nil, err
	}
	val, err := a.fileValue(ctx, id, p.meta)
	if err != nil {
		u.remove(p)
		return nil, err
	}
	p.val = val
	p.next++
	p.advance()
	return OK("Last chunk accepted", nil), nil
}

// checkNewUpload checks a new file's declared size and total against the
// limits and the connection's other uploads.
func (a *App) checkNewUpload(d *uploadDoc, others []*pendingUpload) error {
	if d.meta.size > a.cfg.MaxFileSize {
		return Errorf(413, CodeFileTooLarge, "File %q is %d bytes; at most %d are accepted.", truncate(d.meta.name), d.meta.size, a.cfg.MaxFileSize)
	}
	if d.total > max(d.meta.size, 1) {
		return Errorf(400, CodeFileInvalidChunk, "File %q of %d bytes cannot come in %d chunks.", truncate(d.meta.name), d.meta.size, d.total)
	}
	if d.chunk > d.total {
		return Errorf(400, CodeFileInvalidChunk, "Chunk %d is past total %d.", d.chunk, d.total)
	}
	sum := d.meta.size
	for _, p := range others {
		sum += p.meta.size
	}
	if len(others) >= a.cfg.MaxUploads || sum > 4*a.cfg.MaxFileSize {
		return Errorf(413, CodeFileUploadLimit, "Too many files uploaded and not yet used on this connection (at most %d files, %d bytes).", a.cfg.MaxUploads, 4*a.cfg.MaxFileSize)
	}
	return nil
}
