package limp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // FILE attrs: dimensions and thumbnails of GIF images
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/limp-go/limp/internal/blob"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// File is a FILE attr's value as documents store it (declare a FILE attr
// as a File or *File field, LIST of FILE as []File): the file's metadata
// and the id of its content, which is stored outside the document and
// served by GET /{module}/retrieve_file/{_id}/{attr}/{name}.
type File struct {
	// Name is the file's name, without any path.
	Name string `json:"name"`
	// Type is its MIME type.
	Type string `json:"type"`
	// Size is its length in bytes.
	Size int64 `json:"size"`
	// LastModified is the client's modification time, in milliseconds
	// since the Unix epoch.
	LastModified int64 `json:"lastModified"`
	// ID is the content's id (SHA-256, 64 hex digits).
	ID string `json:"_id"`
	// Width and Height are an image's dimensions (PNG, JPEG or GIF);
	// zero for other files.
	Width  int64 `json:"width,omitempty"`
	Height int64 `json:"height,omitempty"`
}

// FileSpec constrains a FILE attr's values (LIMP's ATTR.FILE args). Set it
// with `limp` tag options: types=image/*|application/pdf,
// max_size=1048576, min_dims=[100,100], max_dims=[4000,4000],
// min_ratio=0.5, max_ratio=2.
type FileSpec struct {
	// Types are the accepted MIME types; "image/*" accepts any image.
	// Empty accepts every type.
	Types []string
	// MaxSize bounds the file's size in bytes (below Config.MaxFileSize).
	MaxSize int64
	// MinDims and MaxDims bound an image's width and height; a
	// constraint makes non-images invalid.
	MinDims, MaxDims [2]int64
	// MinRatio and MaxRatio bound an image's width / height.
	MinRatio, MaxRatio float64
}

// fileOption applies a FILE `limp` tag option.
func (a *Attr) fileOption(key, val string) error {
	spec := a
	if a.Type == TypeList && len(a.Items) == 1 {
		spec = a.Items[0]
	}
	if spec.File == nil {
		spec.File = &FileSpec{}
	}
	f := spec.File
	switch key {
	case "types":
		var l []string
		if strings.HasPrefix(val, "[") {
			if err := json.Unmarshal([]byte(val), &l); err != nil {
				return fmt.Errorf("types=%s: %w", val, err)
			}
		} else {
			l = strings.Split(val, "|")
		}
		for _, t := range l {
			if _, ok := normMIME(strings.Replace(t, "/*", "/x", 1)); !ok || t == "" || t == "*/*" {
				return fmt.Errorf("types: %q is not a MIME type", t)
			}
		}
		f.Types = l
	case "max_size":
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("max_size=%q is not a positive integer", val)
		}
		f.MaxSize = n
	case "min_dims", "max_dims":
		var l []int64
		if err := json.Unmarshal([]byte(val), &l); err != nil || len(l) != 2 || l[0] < 0 || l[1] < 0 {
			return fmt.Errorf("%s=%s is not [width,height]", key, val)
		}
		d := [2]int64{l[0], l[1]}
		if key == "min_dims" {
			f.MinDims = d
		} else {
			f.MaxDims = d
		}
	case "min_ratio", "max_ratio":
		r, err := strconv.ParseFloat(val, 64)
		if err != nil || r <= 0 || math.IsInf(r, 0) {
			return fmt.Errorf("%s=%q is not a positive number", key, val)
		}
		if key == "min_ratio" {
			f.MinRatio = r
		} else {
			f.MaxRatio = r
		}
	}
	return nil
}

// acceptsType reports whether typ matches one of the spec's types.
func (f *FileSpec) acceptsType(typ string) bool {
	if f == nil || len(f.Types) == 0 {
		return true
	}
	major, _, _ := strings.Cut(typ, "/")
	for _, t := range f.Types {
		t = strings.ToLower(t)
		if t == typ || strings.HasSuffix(t, "/*") && strings.TrimSuffix(t, "/*") == major {
			return true
		}
	}
	return false
}

// check validates a file value against the spec; it returns the error
// status (400 or 413), a code suffix and a message.
func (f *FileSpec) check(v *File, maxSize int64) (int, string, string) {
	if f != nil && f.MaxSize > 0 && f.MaxSize < maxSize {
		maxSize = f.MaxSize
	}
	if maxSize > 0 && v.Size > maxSize {
		return 413, "TOO_LARGE", fmt.Sprintf("file %q is %d bytes, over the %d accepted", truncate(v.Name), v.Size, maxSize)
	}
	if !f.acceptsType(v.Type) {
		return 400, "INVALID_TYPE", fmt.Sprintf("file %q is of type %s, not one of %v", truncate(v.Name), v.Type, f.Types)
	}
	if f == nil {
		return 0, "", ""
	}
	dims := f.MinDims != [2]int64{} || f.MaxDims != [2]int64{} || f.MinRatio > 0 || f.MaxRatio > 0
	if !dims {
		return 0, "", ""
	}
	if v.Width <= 0 || v.Height <= 0 {
		return 400, "NOT_IMAGE", fmt.Sprintf("file %q is not an image whose dimensions could be read", truncate(v.Name))
	}
	w, h := v.Width, v.Height
	if w < f.MinDims[0] || h < f.MinDims[1] || f.MaxDims[0] > 0 && w > f.MaxDims[0] || f.MaxDims[1] > 0 && h > f.MaxDims[1] {
		return 400, "INVALID_DIMS", fmt.Sprintf("image %q is %dx%d, outside %v to %v", truncate(v.Name), w, h, f.MinDims, f.MaxDims)
	}
	r := float64(w) / float64(h)
	if f.MinRatio > 0 && r < f.MinRatio || f.MaxRatio > 0 && r > f.MaxRatio {
		return 400, "INVALID_RATIO", fmt.Sprintf("image %q has ratio %.3f, outside %g to %g", truncate(v.Name), r, f.MinRatio, f.MaxRatio)
	}
	return 0, "", ""
}

// fileFromValue reads a stored or attached file value.
func fileFromValue(v any) (*File, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected a file object, got %s", kindName(v))
	}
	f := &File{}
	for k, x := range m {
		var ok bool
		switch k {
		case "name":
			f.Name, ok = x.(string)
		case "type":
			f.Type, ok = x.(string)
		case "_id":
			f.ID, ok = x.(string)
			ok = ok && blob.IsContentID(f.ID)
		case "size", "lastModified", "width", "height":
			var n int64
			switch y := x.(type) {
			case int64:
				n, ok = y, y >= 0
			case float64:
				n, ok = int64(y), y >= 0 && y == math.Trunc(y) && y < 1<<53
			}
			switch k {
			case "size":
				f.Size = n
			case "lastModified":
				f.LastModified = n
			case "width":
				f.Width = n
			default:
				f.Height = n
			}
		case "__file":
			return nil, errors.New("uploaded file reference was not attached (an HTTP upload attaches only to a websocket call of the same user, at the module and attr it was uploaded for)")
		default:
			return nil, fmt.Errorf("unknown key %q", truncate(k))
		}
		if !ok {
			return nil, fmt.Errorf("key %q has an invalid value", k)
		}
	}
	if f.ID == "" || f.Name == "" {
		return nil, errors.New("expected an uploaded file {name, type, size, lastModified, _id}")
	}
	if checkFileName(f.Name) != nil {
		return nil, fmt.Errorf("file name %q is not accepted", truncate(f.Name))
	}
	typ, ok := normMIME(f.Type)
	if !ok {
		return nil, fmt.Errorf("%q is not a MIME type", truncate(f.Type))
	}
	f.Type = typ
	return f, nil
}

func (f *File) value() M {
	m := M{"name": f.Name, "type": f.Type, "size": f.Size, "lastModified": f.LastModified, "_id": f.ID}
	if f.Width > 0 && f.Height > 0 {
		m["width"], m["height"] = f.Width, f.Height
	}
	return m
}

// convertFile converts a FILE attr's value (called by Attr.convert). A
// list stands for its first file, as in LIMP (ng-limp sends lists).
func (a *Attr) convertFile(v any, path string) (any, error) {
	if l, ok := v.([]any); ok {
		if len(l) == 0 {
			if a.Optional {
				return nil, nil
			}
			return nil, &attrError{kind: errMissing, path: path}
		}
		v = l[0]
	}
	f, err := fileFromValue(v)
	if err != nil {
		return nil, &attrError{kind: errInvalid, path: path, msg: err.Error()}
	}
	if _, _, msg := a.File.check(f, 0); msg != "" {
		return nil, &attrError{kind: errInvalid, path: path, msg: msg}
	}
	return f.value(), nil
}

// fileState is an App's file storage: the blob store, opened on first
// use, and the files uploaded over HTTP not yet attached to a call.
type fileState struct {
	mu     sync.Mutex
	blobs  blob.Store
	closed bool
	http   map[string]*httpUpload
}

// httpUpload is a file uploaded by POST /file/create, waiting for a call
// that names it as {"__file": id} at its target: attr path attr of module.
type httpUpload struct {
	owner  string // the uploader: user _id, plus IP for ANON
	module string
	attr   string
	val    M
	until  time.Time
}

func (c *Config) setFileDefaults() {
	if c.MaxFileSize == 0 {
		c.MaxFileSize = DefaultMaxFileSize
	}
	if c.MaxUploads == 0 {
		c.MaxUploads = 8
	}
	if c.UploadTimeout == 0 {
		c.UploadTimeout = 10 * time.Minute
	}
}

// store returns the app's blob store, opening it on first use.
func (fs *fileState) store(a *App) (blob.Store, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return nil, errors.New("file store is closed")
	}
	if fs.blobs != nil {
		return fs.blobs, nil
	}
	// The MongoDB store keeps file contents in GridFS, beside the
	// documents, unless Config.FilesDir asks for a directory.
	if bs, ok := a.store.(interface{ Blobs() blob.Store }); ok && a.cfg.FilesDir == "" {
		fs.blobs = bs.Blobs()
		return fs.blobs, nil
	}
	var (
		s   *blob.Disk
		err error
	)
	dir := a.cfg.FilesDir
	switch {
	case dir != "":
	case a.cfg.Data == ":memory:" || strings.HasPrefix(a.cfg.Data, "file::memory:"):
		s, err = blob.OpenTemp()
	default:
		dir = a.cfg.Data + ".files"
	}
	if s == nil && err == nil {
		s, err = blob.OpenDisk(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open file store: %w", err)
	}
	fs.blobs = s
	return s, nil
}

// closeFiles closes the blob store (called when the store closes).
func (a *App) closeFiles() {
	fs := &a.files
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.closed = true
	fs.http = nil
	if fs.blobs != nil {
		if err := fs.blobs.Close(); err != nil {
			a.Logger().Error("close file store", "err", err)
		}
	}
}

// fileValue returns the stored value of a file with content id, reading
// an image's dimensions.
func (a *App) fileValue(ctx context.Context, id string, meta fileMeta) (M, error) {
	f := &File{Name: meta.name, Type: meta.typ, Size: meta.size, LastModified: meta.lastModified, ID: id}
	if strings.HasPrefix(meta.typ, "image/") {
		s, err := a.files.store(a)
		if err != nil {
			return nil, err
		}
		b, err := s.Open(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("open uploaded file: %w", err)
		}
		cfg, _, err := image.DecodeConfig(b)
		_ = b.Close()
		if err == nil && cfg.Width > 0 && cfg.Height > 0 {
			f.Width, f.Height = int64(cfg.Width), int64(cfg.Height)
		}
	}
	return f.value(), nil
}

// uploaderKey identifies who uploaded a file over HTTP: the user, and for
// ANON (shared by every anonymous client) also the IP.
func uploaderKey(s *Session, ip string) string {
	if s.Anon() {
		return "anon|" + ip
	}
	return s.UserID.Hex()
}

// addHTTPUpload registers an HTTP upload for attr path attr of module and
// returns its id.
func (a *App) addHTTPUpload(owner, module, attr string, val M) (string, error) {
	fs := &a.files
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return "", errors.New("file store is closed")
	}
	if fs.http == nil {
		fs.http = map[string]*httpUpload{}
	}
	now := time.Now()
	n := 0
	for id, u := range fs.http {
		if now.After(u.until) {
			delete(fs.http, id)
			continue
		}
		if u.owner == owner {
			n++
		}
	}
	if n >= a.cfg.MaxUploads {
		return "", Errorf(413, CodeFileUploadLimit, "Too many files uploaded and not yet used (at most %d).", a.cfg.MaxUploads)
	}
	id := oid.New().Hex()
	fs.http[id] = &httpUpload{owner: owner, module: module, attr: attr, val: val, until: now.Add(a.cfg.UploadTimeout)}
	return id, nil
}

// CollectFiles removes stored file contents that no document references
// and that are older than grace (at least Config.UploadTimeout, so that
// files uploaded but not yet attached are kept), with their thumbnails.
// It is how the contents of rejected or deleted documents are reclaimed:
// contents are shared by identical files, so they are never deleted
// along with one document. Run it from a job, e.g. daily. It returns the
// number of contents removed.
func (a *App) CollectFiles(ctx context.Context, grace time.Duration) (int, error) {
	grace = max(grace, a.cfg.UploadTimeout)
	s, err := a.files.store(a)
	if err != nil {
		return 0, err
	}
	used := map[string]bool{}
	for _, m := range a.order {
		if m.coll == nil || !m.hasFileAttrs() {
			continue
		}
		const page = 1000
		for skip := int64(0); ; skip += page {
			res, err := a.store.Read(ctx, m.coll, &query.Query{Skip: skip, Limit: page, Sort: []query.Sort{{Path: "_id"}}})
			if err != nil {
				return 0, fmt.Errorf("collect files: read %s: %w", m.Name, err)
			}
			for _, d := range res.Docs {
				markFiles(d, used)
			}
			if len(res.Docs) < page {
				break
			}
		}
	}
	cutoff := time.Now().Add(-grace)
	var doomed []string
	err = s.Walk(ctx, func(id string, mod time.Time) error {
		base, _ := blob.BaseID(id)
		if !used[base] && mod.Before(cutoff) {
			doomed = append(doomed, id)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("collect files: %w", err)
	}
	n := 0
	for _, id := range doomed {
		if err := s.Delete(ctx, id); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return n, fmt.Errorf("collect files: %w", err)
		}
		if len(id) == 64 {
			n++
		}
	}
	return n, nil
}

// markFiles records the content ids of every file value in v.
func markFiles(v any, used map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if id, ok := x["_id"].(string); ok && blob.IsContentID(id) {
			used[id] = true
		}
		for _, y := range x {
			markFiles(y, used)
		}
	case []any:
		for _, y := range x {
			markFiles(y, used)
		}
	}
}

func (m *Module) hasFileAttrs() bool {
	var has func(a *Attr) bool
	has = func(a *Attr) bool {
		if a == nil {
			return false
		}
		if a.Type == TypeFile || a.Type == TypeAny {
			return true
		}
		for _, x := range a.Items {
			if has(x) {
				return true
			}
		}
		for _, x := range a.Fields {
			if has(x) {
				return true
			}
		}
		return has(a.Val)
	}
	for _, a := range m.Attrs {
		if has(a) {
			return true
		}
	}
	return false
}

// errFileNotFound is the reply of a retrieve that finds nothing.
var errFileNotFound = NewError(404, CodeFileNotFound, "File not found.")

// serveFiles serves the file routes of the HTTP interface: POST
// /file/create and GET /{module}/retrieve_file/...; it reports whether the
// request was one of them.
func (a *App) serveFiles(w http.ResponseWriter, r *http.Request) bool {
	raw := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	if len(raw) < 2 {
		return false
	}
	switch {
	case strings.EqualFold(raw[0], "file") && strings.EqualFold(raw[1], "create") && len(raw) == 2:
		setHTTPHeaders(w.Header(), "POST")
		setMetricsEndpoint(w, "file/create")
		if r.Method != http.MethodPost {
			writeHTTP(w, 405, "Method not allowed.", nil)
			return true
		}
		a.serveFileCreate(w, r)
		return true
	case strings.EqualFold(raw[1], "retrieve_file"):
		setHTTPHeaders(w.Header(), "GET")
		setMetricsEndpoint(w, "*/retrieve_file")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeHTTP(w, 405, "Method not allowed.", nil)
			return true
		}
		parts := make([]string, len(raw))
		for i, p := range raw {
			u, err := url.PathUnescape(p)
			if err != nil {
				writeHTTP(w, 400, "Path is not valid.", M{"code": CodeInvalidPath})
				return true
			}
			parts[i] = u
		}
		a.serveRetrieve(w, r, parts)
		return true
	}
	return false
}

// serveFileCreate handles POST /file/create (ng-limp 6.1): a multipart
// form with fields __module, __attr, name, type, lastModified and file,
// streamed to the file store. The reply's docs[0]._id is the upload's id,
// which a later websocket call of the same user names as {"__file": id}.
func (a *App) serveFileCreate(w http.ResponseWriter, r *http.Request) {
	if err := a.checkIPQuota(remoteIP(r)); err != nil {
		a.writeHTTPError(w, err, "file/create")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.CallTimeout)
	defer cancel()
	sess, err := a.httpSession(ctx, r)
	if err != nil {
		a.writeHTTPError(w, err, "file/create")
		return
	}
	if err := a.checkUploadRoom(uploaderKey(sess, remoteIP(r))); err != nil {
		a.writeHTTPError(w, err, "file/create")
		return
	}
	body, _ := r.Body.(*bodyReader) // httplimits.go
	var to httpUpload
	val, err := a.receiveMultipart(ctx, w, r, sess, &to)
	if err != nil {
		if body != nil && body.timedOut {
			err = errBodyTooSlow // whatever the form parser made of it
		}
		a.writeHTTPError(w, err, "file/create")
		return
	}
	id, err := a.addHTTPUpload(uploaderKey(sess, remoteIP(r)), to.module, to.attr, val)
	if err != nil {
		a.writeHTTPError(w, err, "file/create")
		return
	}
	a.observeUpload("http", fileSize(val))
	writeHTTP(w, 200, "File uploaded.", M{"docs": []any{M{"_id": id}}})
}

// receiveMultipart reads the /file/create form, spooling the file part,
// and sets to's module and attr to the form's target.
// When the fields come before the file (as ng-limp sends them), the
// module, attr, privilege, type and size limit are checked before any
// byte is spooled. The spooled file is committed to the file store only
// once the whole form is read and checked: a refused or failed form
// (fields after the file refused, a body that came too slowly, a broken
// form) removes its spool before the reply.
func (a *App) receiveMultipart(ctx context.Context, w http.ResponseWriter, r *http.Request, sess *Session, to *httpUpload) (M, error) {
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxFileSize+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errUploadForm("expected multipart/form-data")
	}
	fields := map[string]string{}
	var (
		id    string
		spool blob.Writer // the file part, until committed
		head  headBuffer  // its first bytes, for an image's dimensions
		size  int64
		at    *Attr
		limit = a.cfg.MaxFileSize
	)
	defer func() {
		if spool != nil {
			_ = spool.Abort()
		}
	}()
	tooLarge := func() error {
		return Errorf(413, CodeFileTooLarge, "File is over the %d bytes accepted.", limit)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge()
		}
		if err != nil {
			return nil, errUploadForm("%v", err)
		}
		name := part.FormName()
		switch name {
		case "file":
			if spool != nil {
				return nil, errUploadForm("more than one file")
			}
			if fields["name"] == "" {
				fields["name"] = part.FileName()
			}
			if fields["type"] == "" {
				fields["type"] = part.Header.Get("Content-Type")
			}
			if err := checkFileName(fields["name"]); err != nil {
				return nil, err
			}
			if fields["__module"] != "" {
				if at, err = a.uploadTarget(sess, fields); err != nil {
					return nil, err
				}
				if typ, ok := normMIME(fields["type"]); ok && !at.File.acceptsType(typ) {
					return nil, Errorf(400, "CORE_FILE_INVALID_TYPE", "Invalid attr '%s': type %s is not one of %v.", fields["__attr"], typ, at.File.Types)
				}
				if at.File != nil && at.File.MaxSize > 0 {
					limit = min(limit, at.File.MaxSize)
				}
			}
			s, err := a.files.store(a)
			if err != nil {
				return nil, err
			}
			if spool, err = s.Create(ctx); err != nil {
				return nil, err
			}
			_, err = io.Copy(io.MultiWriter(&limitWriter{w: spool, max: limit}, &head), part)
			if err != nil {
				if errors.Is(err, errOverSize) || errors.As(err, &mbe) {
					return nil, tooLarge()
				}
				return nil, errUploadForm("reading the file: %v", err)
			}
			size = spool.Size()
		case "__module", "__attr", "name", "type", "lastModified":
			b, err := io.ReadAll(io.LimitReader(part, 1024))
			if err != nil {
				return nil, errUploadForm("reading field %s: %v", name, err)
			}
			fields[name] = string(b)
		default:
			_, _ = io.Copy(io.Discard, io.LimitReader(part, 1<<20))
		}
	}
	if spool == nil {
		return nil, errUploadForm("missing the 'file' part")
	}
	if at == nil {
		if at, err = a.uploadTarget(sess, fields); err != nil {
			return nil, err
		}
	}
	meta := fileMeta{name: fields["name"], size: size}
	if err := checkFileName(meta.name); err != nil {
		return nil, err
	}
	typ, ok := normMIME(fields["type"])
	if !ok {
		return nil, errUploadForm("'type' %q is not a MIME type", truncate(fields["type"]))
	}
	meta.typ = typ
	if lm := fields["lastModified"]; lm != "" {
		n, err := strconv.ParseInt(lm, 10, 64)
		if err != nil || n < 0 {
			return nil, errUploadForm("'lastModified' must be milliseconds since 1970")
		}
		meta.lastModified = n
	}
	f := &File{Name: meta.name, Type: meta.typ, Size: meta.size, LastModified: meta.lastModified}
	f.Width, f.Height = head.imageDims(meta.typ)
	if f.Width == 0 && head.truncated && strings.HasPrefix(meta.typ, "image/") {
		// Dimensions past the head: read from the committed content
		// (a refusal then leaves it to CollectFiles).
		if id, err = spool.Commit(ctx); err != nil {
			spool = nil
			return nil, err
		}
		spool = nil
		val, err := a.fileValue(ctx, id, meta)
		if err != nil {
			return nil, err
		}
		f, _ = fileFromValue(val)
	}
	if status, code, msg := at.File.check(f, a.cfg.MaxFileSize); msg != "" {
		return nil, Errorf(status, "CORE_FILE_"+code, "Invalid attr '%s': %s.", fields["__attr"], msg)
	}
	if spool != nil {
		id, err = spool.Commit(ctx)
		spool = nil // Commit releases the spool, committed or not
		if err != nil {
			return nil, err
		}
	}
	f.ID = id
	to.module, to.attr = fields["__module"], fields["__attr"]
	return f.value(), nil
}

func errUploadForm(format string, args ...any) error {
	return Errorf(400, CodeFileInvalidDoc, "Upload form is invalid: "+format+".", args...)
}

// uploadTarget checks the form's __module and __attr (the path of a FILE
// attr, or LIST of FILE, e.g. "cover" or "gallery.photos") and that the
// session may write the module; it returns the FILE attr. The upload
// attaches only to a call of that module naming that attr.
func (a *App) uploadTarget(sess *Session, fields map[string]string) (*Attr, error) {
	m := a.module(fields["__module"])
	if m == nil {
		return nil, errUploadForm("'__module' %q is not a module", truncate(fields["__module"]))
	}
	key := fields["__attr"]
	var at *Attr
	if x := m.lookupAttr(key); x != nil && attrPath(key) == key {
		if x.Type == TypeList && len(x.Items) == 1 {
			x = x.Items[0]
		}
		if x.Type == TypeFile {
			at = x
		}
	}
	if at == nil {
		at = docArgFile(m, key)
	}
	if at == nil {
		return nil, errUploadForm("'__attr' %q is not a FILE attr of module %s", truncate(key), m.Name)
	}
	if !a.mayWrite(sess, m) {
		return nil, errForbidden
	}
	return at, nil
}

// docArgFile returns the FILE attr that a top-level doc arg key of the
// module's create or update method takes files at (setting's val, a
// UNION with FILE members), or nil.
func docArgFile(m *Module, key string) *Attr {
	for _, name := range []string{"create", "update"} {
		meth := m.Methods[name]
		if meth == nil {
			continue
		}
		for _, set := range meth.DocArgs {
			if at := set[key]; at != nil && acceptsFiles(at) {
				return fileLeaf(at)
			}
		}
	}
	return nil
}

// holdsAny reports whether the session holds the privilege of one of
// perms.
func holdsAny(s *Session, m *Module, perms []Perm) bool {
	for _, p := range perms {
		if p.Privilege != "__sys" && s.HasPrivilege(m, p.Privilege) {
			return true
		}
	}
	return false
}

// mayWrite reports whether the session holds a privilege of the module's
// create or update method (the ones that can store a file).
func (a *App) mayWrite(s *Session, m *Module) bool {
	for _, name := range []string{"create", "update"} {
		if meth := m.Methods[name]; meth != nil && holdsAny(s, m, meth.Permissions) {
			return true
		}
	}
	return false
}

// maxThumb bounds a thumbnail's width and height.
const maxThumb = 4096

// serveRetrieve handles GET /{module}/retrieve_file/{_id}/{attr}/{name}
// and /{module}/retrieve_file/{_id}/{attr}/{W}x{H}/{name} (spec §9.4):
// the document is read through the module's read method with the
// caller's session (X-Auth headers), so permissions and query_mod apply;
// attr may be dotted, with list indexes.
func (a *App) serveRetrieve(w http.ResponseWriter, r *http.Request, parts []string) {
	fail := func(err error) { a.writeHTTPError(w, err, parts[0]+"/retrieve_file") }
	if len(parts) != 5 && len(parts) != 6 {
		fail(errFileNotFound)
		return
	}
	if err := a.checkIPQuota(remoteIP(r)); err != nil {
		fail(err)
		return
	}
	modName, idHex, attr, name := parts[0], parts[2], parts[3], parts[len(parts)-1]
	var tw, th int
	if len(parts) == 6 {
		var ok bool
		if tw, th, ok = parseThumb(parts[4]); !ok {
			if !reThumb.MatchString(parts[4]) {
				fail(errFileNotFound) // not a route
				return
			}
			fail(Errorf(400, CodeInvalidPath, "Thumbnail size %q must be WIDTHxHEIGHT, each 1 to %d.", truncate(parts[4]), maxThumb))
			return
		}
	}
	if err := checkFileName(name); err != nil {
		fail(err)
		return
	}
	id, err := oid.Parse(idHex)
	m := a.module(strings.ToLower(modName))
	if err != nil || m == nil || m.Methods["read"] == nil {
		fail(errFileNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.CallTimeout)
	defer cancel()
	sess, err := a.httpSession(ctx, r)
	if err != nil {
		fail(err)
		return
	}
	if meth := m.Methods["retrieve_file"]; meth != nil && !holdsAny(sess, m, meth.Permissions) {
		fail(errForbidden) // LIMP's per-module retrieve_file permissions, on top of read's
		return
	}
	var opts []InvokeOption
	if m == a.modules["setting"] {
		// setting/read's query_args want {_id, type}: the file's setting is
		// read by _id alone, its permissions (query_mod) still applying.
		opts = append(opts, SkipArgs)
	}
	res, err := a.Invoke(ctx, sess, m.Name+"/read", NewQuery(M{"_id": id}), nil, opts...)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status != 403 && e.Status != 401 && e.Status < 500 {
			err = errFileNotFound // an invalid query or such: nothing to serve
		}
		fail(err)
		return
	}
	docs, _ := res.Args["docs"].([]any)
	if len(docs) == 0 {
		fail(errFileNotFound)
		return
	}
	f := findFile(docs[0], attr, name)
	if f == nil {
		fail(errFileNotFound)
		return
	}
	s, err := a.files.store(a)
	if err != nil {
		fail(err)
		return
	}
	key, typ := f.ID, f.Type
	if tw > 0 {
		if !strings.HasPrefix(f.Type, "image/") {
			fail(NewError(400, CodeFileNotImage, "File is not of type image to create thumbnail for."))
			return
		}
		key, typ, err = a.thumbnail(ctx, s, f, tw, th)
		if err != nil {
			fail(err)
			return
		}
	}
	b, err := s.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		fail(errFileNotFound)
		return
	}
	if err != nil {
		fail(err)
		return
	}
	defer b.Close()
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("Content-Disposition", contentDisposition(typ, f.Name))
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, max-age=86400")
	h.Set("ETag", `"`+key+`"`)
	mod := b.ModTime()
	if f.LastModified > 0 {
		if t := time.UnixMilli(f.LastModified); t.Before(time.Now()) {
			mod = t
		}
		h.Set("lastModified", strconv.FormatInt(f.LastModified, 10)) // LIMP's header
	}
	http.ServeContent(w, r, "", mod, b)
}

var reThumb = regexp.MustCompile(`^[0-9]+x[0-9]+$`)

// parseThumb parses "WxH".
func parseThumb(s string) (int, int, bool) {
	ws, hs, ok := strings.Cut(s, "x")
	if !ok || len(ws) > 4 || len(hs) > 4 {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil || w < 1 || h < 1 || w > maxThumb || h > maxThumb || !reDigits.MatchString(ws) || !reDigits.MatchString(hs) {
		return 0, 0, false
	}
	return w, h, true
}

// findFile finds the file called name at the dotted path attr of doc: an
// object must have that name; in a list, the first file with that name.
func findFile(doc any, attr, name string) *File {
	v := doc
	for _, seg := range strings.Split(attr, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) || !reDigits.MatchString(seg) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	if l, ok := v.([]any); ok {
		for _, it := range l {
			if f, err := fileFromValue(it); err == nil && f.Name == name {
				return f
			}
		}
		return nil
	}
	f, err := fileFromValue(v)
	if err != nil || f.Name != name {
		return nil
	}
	return f
}

// inlineTypes are served inline; any other type is served as an
// attachment, so that an uploaded HTML or SVG file never runs as a page
// of the app's origin.
var inlineTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/avif": true,
	"application/pdf": true, "text/plain": true, "audio/mpeg": true, "audio/ogg": true, "audio/wav": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true,
}

// contentDisposition returns the Content-Disposition of a served file,
// with its name sanitised (quotes, slashes and control characters
// replaced) and non-ASCII names encoded as RFC 5987 filename*.
func contentDisposition(typ, name string) string {
	disp := "attachment"
	if inlineTypes[typ] {
		disp = "inline"
	}
	clean := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r == '/' {
			return '_'
		}
		return r
	}, name)
	ascii := strings.Map(func(r rune) rune {
		if r > 0x7e {
			return '_'
		}
		return r
	}, clean)
	out := disp + `; filename="` + ascii + `"`
	if ascii != clean {
		out += "; filename*=UTF-8''" + rfc5987(clean)
	}
	return out
}

// rfc5987 percent-encodes s as an RFC 5987 attr-char value.
func rfc5987(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// maxDecodePixels bounds the images decoded for thumbnails (about 200 MB
// of RGBA); larger ones are served as they are.
const maxDecodePixels = 50_000_000

// thumbnail returns the key and type of f's thumbnail fitting w×h,
// generating and storing it on first use (spec §9.4: aspect kept, never
// enlarged). An image that cannot be decoded, or is already small enough,
// is its own thumbnail.
func (a *App) thumbnail(ctx context.Context, s blob.Store, f *File, w, h int) (string, string, error) {
	key, ok := blob.DerivedKey(f.ID, fmt.Sprintf("t%dx%d", w, h))
	if !ok {
		return "", "", errFileNotFound
	}
	if b, err := s.Open(ctx, key); err == nil {
		// The cached thumbnail's first bytes tell its format.
		var head [8]byte
		n, _ := io.ReadFull(b, head[:])
		_ = b.Close()
		return key, sniffImage(head[:n]), nil
	}
	src, err := s.Open(ctx, f.ID)
	if err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			return "", "", errFileNotFound
		}
		return "", "", err
	}
	defer src.Close()
	cfg, format, err := image.DecodeConfig(src)
	if err != nil || cfg.Width*cfg.Height > maxDecodePixels || cfg.Width <= w && cfg.Height <= h {
		return f.ID, f.Type, nil
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return "", "", err
	}
	img, _, err := image.Decode(src)
	if err != nil {
		return f.ID, f.Type, nil
	}
	tw, th := fitInside(cfg.Width, cfg.Height, w, h)
	thumb := scaleBox(img, tw, th)
	bw, err := s.Create(ctx)
	if err != nil {
		return "", "", err
	}
	typ := "image/png"
	if format == "jpeg" {
		typ = "image/jpeg"
		err = jpeg.Encode(bw, thumb, &jpeg.Options{Quality: 85})
	} else {
		err = png.Encode(bw, thumb)
	}
	if err != nil {
		_ = bw.Abort()
		return "", "", fmt.Errorf("encode thumbnail: %w", err)
	}
	if err := bw.CommitAs(ctx, key); err != nil {
		return "", "", err
	}
	return key, typ, nil
}

// sniffImage tells a thumbnail's type from its first bytes.
func sniffImage(head []byte) string {
	if len(head) >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff {
		return "image/jpeg"
	}
	return "image/png"
}

// fitInside returns the largest size of ratio sw:sh within w×h (each at
// least 1).
func fitInside(sw, sh, w, h int) (int, int) {
	if sw*h > sh*w { // wider than the box: width bound
		return w, max(1, int(math.Round(float64(sh)*float64(w)/float64(sw))))
	}
	return max(1, int(math.Round(float64(sw)*float64(h)/float64(sh)))), h
}

// scaleBox downscales src to w×h, each destination pixel the average of
// the source pixels it covers (a box filter: good enough for thumbnails,
// and no dependency).
func scaleBox(src image.Image, w, h int) *image.NRGBA {
	sb := src.Bounds()
	sw, sh := sb.Dx(), sb.Dy()
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		y0 := sb.Min.Y + y*sh/h
		y1 := max(sb.Min.Y+(y+1)*sh/h, y0+1)
		for x := 0; x < w; x++ {
			x0 := sb.Min.X + x*sw/w
			x1 := max(sb.Min.X+(x+1)*sw/w, x0+1)
			var r, g, b, al, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					cr, cg, cb, ca := src.At(sx, sy).RGBA() // premultiplied, 16-bit
					r, g, b, al = r+uint64(cr), g+uint64(cg), b+uint64(cb), al+uint64(ca)
					n++
				}
			}
			i := dst.PixOffset(x, y)
			if al == 0 {
				dst.Pix[i+0], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = 0, 0, 0, 0
				continue
			}
			// Un-premultiply the averages into NRGBA.
			dst.Pix[i+0] = uint8(r * 0xff / al)
			dst.Pix[i+1] = uint8(g * 0xff / al)
			dst.Pix[i+2] = uint8(b * 0xff / al)
			dst.Pix[i+3] = uint8(al / n >> 8)
		}
	}
	return dst
}
