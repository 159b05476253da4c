package limp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/blob"
	"github.com/limp-go/limp/internal/jsonv"
)

func joinBytes(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(int(c)))
	}
	return sb.String()
}

func TestParseContent(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat(all, 300) // more than the parser's buffer
	for _, tc := range []struct {
		name, in string
		want     []byte
		errAt    int // -1: no error
	}{
		{"empty", "", nil, -1},
		{"one", "7", []byte{7}, -1},
		{"all bytes", joinBytes(all), all, -1},
		{"big", joinBytes(big), big, -1},
		{"256", "1,256", nil, 2},
		{"999", "999", nil, 0},
		{"four digits", "1,0001", nil, 2},
		{"leading zero", "01", nil, 0},
		{"negative", "-1", nil, 0},
		{"letters", "1,a", nil, 2},
		{"space", "1, 2", nil, 2},
		{"trailing comma", "1,2,", nil, 4},
		{"leading comma", ",1", nil, 0},
		{"double comma", "1,,2", nil, 2},
		{"float", "1.5", nil, 1},
		{"utf8", "1,é", nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := parseContent(tc.in, &out)
			if tc.errAt < 0 {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if !bytes.Equal(out.Bytes(), tc.want) || n != int64(len(tc.want)) {
					t.Fatalf("got %d bytes (n=%d), want %d", out.Len(), n, len(tc.want))
				}
				return
			}
			var ce *contentError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a contentError", err)
			}
			if ce.offset != tc.errAt {
				t.Fatalf("error at %d (%v), want at %d", ce.offset, err, tc.errAt)
			}
		})
	}
}

func FuzzParseContent(f *testing.F) {
	for _, s := range []string{"", "0", "1,2,3", "255,0", "256", "01", "1,,2", "1,", "a", "1, 2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var out bytes.Buffer
		n, err := parseContent(s, &out)
		if n != int64(out.Len()) {
			t.Fatalf("n = %d, wrote %d", n, out.Len())
		}
		if err != nil {
			var ce *contentError
			if !errors.As(err, &ce) || ce.offset < 0 || ce.offset > len(s) {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		// Accepted input round-trips exactly.
		if got := joinBytes(out.Bytes()); got != s {
			t.Fatalf("accepted %q but it re-encodes as %q", s, got)
		}
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestParseContentWriteError(t *testing.T) {
	_, err := parseContent(joinBytes(make([]byte, 40000)), failWriter{})
	if err == nil || err.Error() != "disk full" {
		t.Fatalf("err = %v, want the writer's", err)
	}
}

func TestParseUploadDoc(t *testing.T) {
	good := func() M {
		return M{"attr": "image", "index": "0", "chunk": int64(1), "total": int64(1),
			"file": M{"name": "a.png", "size": int64(3), "type": "image/png", "lastModified": int64(1578220000000), "content": "1,2,3"}}
	}
	if _, err := parseUploadDoc(good()); err != nil {
		t.Fatalf("good doc: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(M)
		code string
	}{
		{"no attr", func(d M) { delete(d, "attr") }, CodeFileInvalidDoc},
		{"attr dotted", func(d M) { d["attr"] = "a.b" }, CodeFileInvalidDoc},
		{"attr $", func(d M) { d["attr"] = "$set" }, CodeFileInvalidDoc},
		{"index word", func(d M) { d["index"] = "x" }, CodeFileInvalidDoc},
		{"index negative", func(d M) { d["index"] = int64(-1) }, CodeFileInvalidDoc},
		{"index list", func(d M) { d["index"] = []any{} }, CodeFileInvalidDoc},
		{"chunk 0", func(d M) { d["chunk"] = int64(0) }, CodeFileInvalidDoc},
		{"chunk string", func(d M) { d["chunk"] = "1" }, CodeFileInvalidDoc},
		{"chunk fraction", func(d M) { d["chunk"] = 1.5 }, CodeFileInvalidDoc},
		{"total missing", func(d M) { delete(d, "total") }, CodeFileInvalidDoc},
		{"file missing", func(d M) { delete(d, "file") }, CodeFileInvalidDoc},
		{"file string", func(d M) { d["file"] = "x" }, CodeFileInvalidDoc},
		{"name missing", func(d M) { delete(d["file"].(M), "name") }, CodeFileInvalidDoc},
		{"name traversal", func(d M) { d["file"].(M)["name"] = "../../etc/passwd" }, CodeFileInvalidName},
		{"name backslash", func(d M) { d["file"].(M)["name"] = `..\boot.ini` }, CodeFileInvalidName},
		{"name dotdot", func(d M) { d["file"].(M)["name"] = ".." }, CodeFileInvalidName},
		{"name control", func(d M) { d["file"].(M)["name"] = "a\nb" }, CodeFileInvalidName},
		{"name long", func(d M) { d["file"].(M)["name"] = strings.Repeat("a", 256) }, CodeFileInvalidName},
		{"type bad", func(d M) { d["file"].(M)["type"] = "image png" }, CodeFileInvalidDoc},
		{"size negative", func(d M) { d["file"].(M)["size"] = int64(-1) }, CodeFileInvalidDoc},
		{"content number", func(d M) { d["file"].(M)["content"] = int64(1) }, CodeFileInvalidDoc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := good()
			tc.mod(d)
			_, err := parseUploadDoc(d)
			if CodeOf(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("err = %v, want a 400", err)
			}
		})
	}
	// Integral floats and integer indexes are accepted.
	d := good()
	d["chunk"], d["index"] = 1.0, int64(2)
	u, err := parseUploadDoc(d)
	if err != nil || u.key.index != "2" || u.chunk != 1 {
		t.Fatalf("got %+v, %v", u, err)
	}
	if typ, _ := normMIME(""); typ != "application/octet-stream" {
		t.Fatalf("empty type = %q", typ)
	}
	if typ, _ := normMIME("Image/PNG; x=y"); typ != "image/png" {
		t.Fatalf("normMIME = %q", typ)
	}
}

// uploadConn returns a connection of an app (not started: no store) for
// driving file/upload directly.
func uploadConn(t *testing.T, cfg Config) (*conn, *blob.Disk) {
	t.Helper()
	cfg.Name = "t"
	cfg.FilesDir = t.TempDir()
	a := New(cfg)
	a.cfg.setDefaults()
	c := &conn{app: a}
	s, err := a.files.store(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if u := c.uploads.Load(); u != nil {
			u.discardAll()
		}
		a.closeFiles()
	})
	return c, s.(*blob.Disk)
}

// chunkDoc is a file/upload doc for chunk of total of data's bytes lo:hi.
func chunkDoc(attr, index string, chunk, total int, name string, size int, content []byte) M {
	return M{"attr": attr, "index": index, "chunk": int64(chunk), "total": int64(total),
		"file": M{"name": name, "size": int64(size), "type": "application/octet-stream", "lastModified": int64(1000), "content": joinBytes(content)}}
}

func sendChunk(c *conn, doc M) (*Result, error) {
	return c.upload(context.Background(), &Call{Endpoint: "file/upload", Doc: doc})
}

func wantUploadErr(t *testing.T, err error, status int, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != status || e.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
}

// upTarget is the document of the module uploads attach to in these
// tests: LIST of FILE attrs image, f and g.
type upTarget struct {
	Doc
	Title string `json:"title"`
	Image []File `json:"image"`
	F     []File `json:"f"`
	G     []File `json:"g"`
}

// fileCall returns a create call of a module declaring doc's FILE attrs
// (uploads attach only to such calls).
func fileCall(t *testing.T, c *conn, doc M) *Call {
	t.Helper()
	m := NewModule[upTarget]("up", Methods{"create": {Permissions: Perms("*")}, "read": {Permissions: Perms("*")}})
	if err := m.init(c.app); err != nil {
		t.Fatal(err)
	}
	return &Call{Endpoint: "up/create", Module: m, Method: m.Methods["create"], Doc: doc, Query: &Query{}, app: c.app}
}

func TestUploadChunksAndAttach(t *testing.T) {
	c, store := uploadConn(t, Config{})
	data := []byte("hello, limp files")
	parts := [][]byte{data[:6], data[6:12], data[12:]}
	for i, p := range parts {
		res, err := sendChunk(c, chunkDoc("image", "0", i+1, 3, "a.txt", len(data), p))
		if err != nil {
			t.Fatalf("chunk %d: %v", i+1, err)
		}
		want := "Chunk accepted"
		if i == 2 {
			want = "Last chunk accepted"
		}
		if res.Status != 200 || res.Msg != want || len(res.Args) != 0 {
			t.Fatalf("chunk %d reply %+v, want 200 %q without args", i+1, res, want)
		}
	}
	// A second file of the same attr.
	if _, err := sendChunk(c, chunkDoc("image", "1", 1, 1, "b.txt", 2, []byte("ok"))); err != nil {
		t.Fatal(err)
	}
	if store.TempFiles() != 0 {
		t.Fatalf("%d temp files after finished uploads", store.TempFiles())
	}
	call := fileCall(t, c, M{"title": "x", "image": []any{M{}}})
	if err := c.attachUploads(call); err != nil {
		t.Fatal(err)
	}
	files, ok := call.Doc["image"].([]any)
	if !ok || len(files) != 2 {
		t.Fatalf("doc image = %v, want 2 files", call.Doc["image"])
	}
	f, err := fileFromValue(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "a.txt" || f.Size != int64(len(data)) || f.LastModified != 1000 || f.Type != "application/octet-stream" {
		t.Fatalf("file = %+v", f)
	}
	b, err := store.Open(context.Background(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(b)
	b.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("stored %q, want %q", got, data)
	}
	// Consumed: the next call gets nothing.
	call = fileCall(t, c, M{"image": []any{}})
	if err := c.attachUploads(call); err != nil {
		t.Fatal(err)
	}
	if l := call.Doc["image"].([]any); len(l) != 0 {
		t.Fatalf("files attached twice: %v", l)
	}
}

func TestUploadEmptyFile(t *testing.T) {
	c, _ := uploadConn(t, Config{})
	res, err := sendChunk(c, chunkDoc("f", "0", 1, 1, "empty", 0, nil))
	if err != nil || res.Msg != "Last chunk accepted" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestUploadBadChunks(t *testing.T) {
	orderGrace = 50 * time.Millisecond
	defer func() { orderGrace = time.Second }()
	data := []byte("0123456789")
	for _, tc := range []struct {
		name   string
		docs   []M // all but the last succeed
		status int
		code   string
	}{
		{"out of order", []M{
			chunkDoc("f", "0", 1, 3, "a", 10, data[:3]),
			chunkDoc("f", "0", 3, 3, "a", 10, data[6:]),
		}, 400, CodeFileInvalidChunk},
		{"repeated chunk", []M{
			chunkDoc("f", "0", 1, 3, "a", 10, data[:3]),
			chunkDoc("f", "0", 2, 3, "a", 10, data[3:6]),
			chunkDoc("f", "0", 2, 3, "a", 10, data[3:6]),
		}, 400, CodeFileInvalidChunk},
		{"repeated first chunk", []M{
			chunkDoc("f", "0", 1, 3, "a", 10, data[:3]),
			chunkDoc("f", "0", 1, 3, "a", 10, data[:3]),
		}, 400, CodeFileInvalidChunk},
		{"no first chunk", []M{
			chunkDoc("f", "0", 2, 3, "a", 10, data[3:6]),
		}, 400, CodeFileInvalidChunk},
		{"past total", []M{
			chunkDoc("f", "0", 1, 2, "a", 10, data[:3]),
			chunkDoc("f", "0", 2, 2, "a", 10, data[3:6]),
		}, 400, CodeFileSizeMismatch}, // last chunk short
		{"chunk past total", []M{
			chunkDoc("f", "0", 1, 2, "a", 10, data[:3]),
			chunkDoc("f", "0", 3, 2, "a", 10, data[3:6]),
		}, 400, CodeFileInvalidChunk},
		{"total changes", []M{
			chunkDoc("f", "0", 1, 3, "a", 10, data[:3]),
			chunkDoc("f", "0", 2, 4, "a", 10, data[3:6]),
		}, 400, CodeFileInvalidChunk},
		{"name changes", []M{
			chunkDoc("f", "0", 1, 3, "a", 10, data[:3]),
			chunkDoc("f", "0", 2, 3, "b", 10, data[3:6]),
		}, 400, CodeFileInvalidChunk},
		{"more bytes than size", []M{
			chunkDoc("f", "0", 1, 2, "a", 10, data[:6]),
			chunkDoc("f", "0", 2, 2, "a", 10, append(data[6:], 'x')),
		}, 400, CodeFileSizeMismatch},
		{"size reached early", []M{
			chunkDoc("f", "0", 1, 3, "a", 10, data),
		}, 400, CodeFileSizeMismatch},
		{"fewer bytes than size", []M{
			chunkDoc("f", "0", 1, 1, "a", 10, data[:9]),
		}, 400, CodeFileSizeMismatch},
		{"empty chunk", []M{
			chunkDoc("f", "0", 1, 2, "a", 10, nil),
		}, 400, CodeFileSizeMismatch},
		{"more chunks than bytes", []M{
			chunkDoc("f", "0", 1, 11, "a", 10, data[:1]),
		}, 400, CodeFileInvalidChunk},
		{"content over 255", []M{
			chunkDoc("f", "0", 1, 2, "a", 10, data[:5]),
			func() M {
				d := chunkDoc("f", "0", 2, 2, "a", 10, nil)
				d["file"].(M)["content"] = "1,2,3,4,256"
				return d
			}(),
		}, 400, CodeFileInvalidContent},
		{"content not numeric", []M{
			func() M {
				d := chunkDoc("f", "0", 1, 1, "a", 3, nil)
				d["file"].(M)["content"] = "1,x,3"
				return d
			}(),
		}, 400, CodeFileInvalidContent},
		{"too large", []M{
			chunkDoc("f", "0", 1, 1, "a", 1<<30, data),
		}, 413, CodeFileTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, store := uploadConn(t, Config{MaxFileSize: 1 << 20})
			last := len(tc.docs) - 1
			for i, d := range tc.docs[:last] {
				if _, err := sendChunk(c, d); err != nil {
					t.Fatalf("chunk call %d: %v", i, err)
				}
			}
			_, err := sendChunk(c, tc.docs[last])
			wantUploadErr(t, err, tc.status, tc.code)
			if n := store.TempFiles(); n != 0 {
				t.Fatalf("%d temp files left", n)
			}
			if walkCount(t, store) != 0 {
				t.Fatal("a blob was stored")
			}
			// Nothing is attached.
			call := &Call{Doc: M{"f": []any{}}}
			if err := c.attachUploads(call); err != nil {
				t.Fatal(err)
			}
			if l := call.Doc["f"].([]any); len(l) != 0 {
				t.Fatalf("attached %v", l)
			}
		})
	}
}

func walkCount(t *testing.T, s blob.Store) int {
	t.Helper()
	n := 0
	if err := s.Walk(context.Background(), func(string, time.Time) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUploadOutOfOrderArrivalWaits(t *testing.T) {
	// Chunk 3 handled before chunk 2 (concurrent frames) waits for it.
	c, _ := uploadConn(t, Config{})
	data := []byte("abcdefghi")
	if _, err := sendChunk(c, chunkDoc("f", "0", 1, 3, "a", 9, data[:3])); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var err3 error
	var res3 *Result
	wg.Go(func() { res3, err3 = sendChunk(c, chunkDoc("f", "0", 3, 3, "a", 9, data[6:])) })
	time.Sleep(20 * time.Millisecond)
	if _, err := sendChunk(c, chunkDoc("f", "0", 2, 3, "a", 9, data[3:6])); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err3 != nil || res3.Msg != "Last chunk accepted" {
		t.Fatalf("chunk 3: %+v %v", res3, err3)
	}
}

func TestUploadLimits(t *testing.T) {
	c, store := uploadConn(t, Config{MaxUploads: 2, MaxFileSize: 100})
	for i := range 2 {
		if _, err := sendChunk(c, chunkDoc("f", strconv.Itoa(i), 1, 2, "a", 10, []byte("12345"))); err != nil {
			t.Fatal(err)
		}
	}
	_, err := sendChunk(c, chunkDoc("f", "2", 1, 2, "a", 10, []byte("12345")))
	wantUploadErr(t, err, 413, CodeFileUploadLimit)
	if store.TempFiles() != 2 {
		t.Fatalf("temp files = %d, want 2", store.TempFiles())
	}
	// Byte cap: 4 × MaxFileSize over uploads in progress.
	c2, _ := uploadConn(t, Config{MaxUploads: 8, MaxFileSize: 100})
	for i := range 4 {
		if _, err := sendChunk(c2, chunkDoc("f", strconv.Itoa(i), 1, 2, "a", 100, []byte("12345"))); err != nil {
			t.Fatal(err)
		}
	}
	_, err = sendChunk(c2, chunkDoc("f", "9", 1, 2, "a", 10, []byte("12345")))
	wantUploadErr(t, err, 413, CodeFileUploadLimit)
}

func TestUploadIncompleteRefusesCall(t *testing.T) {
	c, _ := uploadConn(t, Config{})
	if _, err := sendChunk(c, chunkDoc("f", "0", 1, 2, "a", 10, []byte("12345"))); err != nil {
		t.Fatal(err)
	}
	err := c.attachUploads(fileCall(t, c, M{"f": []any{}}))
	wantUploadErr(t, err, 400, CodeFileIncomplete)
	// Other attrs are not affected.
	if err := c.attachUploads(fileCall(t, c, M{"g": []any{}})); err != nil {
		t.Fatal(err)
	}
}

func TestUploadAbandoned(t *testing.T) {
	t.Run("disconnect", func(t *testing.T) {
		c, store := uploadConn(t, Config{})
		if _, err := sendChunk(c, chunkDoc("f", "0", 1, 2, "a", 10, []byte("12345"))); err != nil {
			t.Fatal(err)
		}
		if store.TempFiles() != 1 {
			t.Fatalf("temp files = %d, want 1", store.TempFiles())
		}
		c.uploads.Load().discardAll()
		if store.TempFiles() != 0 {
			t.Fatalf("temp files = %d after disconnect", store.TempFiles())
		}
		_, err := sendChunk(c, chunkDoc("f", "0", 2, 2, "a", 10, []byte("67890")))
		wantUploadErr(t, err, 400, CodeFileInvalidChunk)
	})
	t.Run("expiry", func(t *testing.T) {
		c, store := uploadConn(t, Config{UploadTimeout: 30 * time.Millisecond})
		if _, err := sendChunk(c, chunkDoc("f", "0", 1, 2, "a", 10, []byte("12345"))); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for store.TempFiles() != 0 {
			if time.Now().After(deadline) {
				t.Fatal("expired upload's temp file not removed")
			}
			time.Sleep(10 * time.Millisecond)
		}
		_, err := sendChunk(c, chunkDoc("f", "0", 2, 2, "a", 10, []byte("67890")))
		wantUploadErr(t, err, 400, CodeFileInvalidChunk)
	})
}

func TestFileSpecCheck(t *testing.T) {
	img := &File{Name: "a.png", Type: "image/png", Size: 100, Width: 200, Height: 100, ID: strings.Repeat("a", 64)}
	pdf := &File{Name: "a.pdf", Type: "application/pdf", Size: 100, ID: strings.Repeat("a", 64)}
	for _, tc := range []struct {
		name string
		spec *FileSpec
		f    *File
		code string
	}{
		{"nil spec", nil, pdf, ""},
		{"type ok", &FileSpec{Types: []string{"image/*"}}, img, ""},
		{"type refused", &FileSpec{Types: []string{"image/*"}}, pdf, "INVALID_TYPE"},
		{"type exact", &FileSpec{Types: []string{"application/pdf"}}, pdf, ""},
		{"max size", &FileSpec{MaxSize: 99}, pdf, "TOO_LARGE"},
		{"dims ok", &FileSpec{MaxDims: [2]int64{200, 100}}, img, ""},
		{"too wide", &FileSpec{MaxDims: [2]int64{199, 100}}, img, "INVALID_DIMS"},
		{"too small", &FileSpec{MinDims: [2]int64{10, 101}}, img, "INVALID_DIMS"},
		{"dims of a pdf", &FileSpec{MinDims: [2]int64{1, 1}}, pdf, "NOT_IMAGE"},
		{"ratio", &FileSpec{MaxRatio: 1.5}, img, "INVALID_RATIO"},
		{"ratio ok", &FileSpec{MinRatio: 2, MaxRatio: 2}, img, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, code, msg := tc.spec.check(tc.f, 1000)
			if code != tc.code || (code == "") != (msg == "") {
				t.Fatalf("code %q (%s), want %q", code, msg, tc.code)
			}
		})
	}
}

func TestFileAttrTag(t *testing.T) {
	type doc struct {
		Doc
		Cover  File   `json:"cover" limp:"types=image/png|image/jpeg,max_size=1000,max_dims=[800,600],min_ratio=0.5"`
		Photos []File `json:"photos" limp:"types=[\"image/*\"]"`
		Any    any    `json:"any" limp:"type=FILE,optional"`
	}
	attrs, err := attrsOf(reflect.TypeFor[doc]())
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]*Attr{}
	for _, a := range attrs {
		by[a.Name] = a
	}
	c := by["cover"]
	if c.Type != TypeFile || c.File == nil || c.File.MaxSize != 1000 || c.File.MaxDims != [2]int64{800, 600} ||
		c.File.MinRatio != 0.5 || fmt.Sprint(c.File.Types) != "[image/png image/jpeg]" {
		t.Fatalf("cover = %+v %+v", c, c.File)
	}
	p := by["photos"]
	if p.Type != TypeList || p.Items[0].Type != TypeFile || p.Items[0].File == nil || p.Items[0].File.Types[0] != "image/*" {
		t.Fatalf("photos = %+v", p)
	}
	if by["any"].Type != TypeFile || !by["any"].Optional {
		t.Fatalf("any = %+v", by["any"])
	}
	for _, bad := range []string{"types=nope", "max_size=-1", "max_dims=[1]", "min_ratio=x"} {
		a := &Attr{Name: "x", Type: TypeFile}
		if err := a.applyTag(bad); err == nil {
			t.Errorf("tag %q accepted", bad)
		}
	}
}

func TestConvertFile(t *testing.T) {
	a := &Attr{Name: "cover", Type: TypeFile, File: &FileSpec{Types: []string{"image/*"}}}
	id := strings.Repeat("b", 64)
	good := M{"name": "a.png", "type": "image/png", "size": int64(3), "lastModified": int64(5), "_id": id}
	cc := &convertCtx{}
	out, err := a.convert(cc, []any{good, M{}}, "cover")
	if err != nil {
		t.Fatal(err)
	}
	if m := out.(M); m["_id"] != id || m["size"] != int64(3) {
		t.Fatalf("out = %v", out)
	}
	for name, v := range map[string]any{
		"empty list":    []any{},
		"string":        "a.png",
		"no id":         M{"name": "a.png", "type": "image/png", "size": int64(3), "lastModified": int64(5)},
		"bad id":        M{"name": "a.png", "type": "image/png", "size": int64(3), "lastModified": int64(5), "_id": "../x"},
		"extra key":     M{"name": "a.png", "type": "image/png", "size": int64(3), "lastModified": int64(5), "_id": id, "content": "1,2"},
		"wrong type":    M{"name": "a.pdf", "type": "application/pdf", "size": int64(3), "lastModified": int64(5), "_id": id},
		"path name":     M{"name": "../a.png", "type": "image/png", "size": int64(3), "lastModified": int64(5), "_id": id},
		"unresolved":    M{"__file": "x"},
		"negative size": M{"name": "a.png", "type": "image/png", "size": int64(-3), "lastModified": int64(5), "_id": id},
	} {
		if _, err := a.convert(cc, v, "cover"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	for _, tc := range []struct{ typ, name, want string }{
		{"image/png", "a.png", `inline; filename="a.png"`},
		{"text/html", "x.html", `attachment; filename="x.html"`},
		{"image/svg+xml", "x.svg", `attachment; filename="x.svg"`},
		{"image/png", `a"b\c.png`, `inline; filename="a_b_c.png"`},
		{"image/png", "é.png", `inline; filename="_.png"; filename*=UTF-8''%C3%A9.png`},
	} {
		if got := contentDisposition(tc.typ, tc.name); got != tc.want {
			t.Errorf("contentDisposition(%q, %q) = %s, want %s", tc.typ, tc.name, got, tc.want)
		}
	}
}

func TestFitAndScale(t *testing.T) {
	for _, tc := range []struct{ sw, sh, w, h, ww, wh int }{
		{1000, 500, 100, 100, 100, 50},
		{500, 1000, 100, 100, 50, 100},
		{1000, 1, 10, 10, 10, 1},
		{300, 300, 64, 32, 32, 32},
	} {
		if w, h := fitInside(tc.sw, tc.sh, tc.w, tc.h); w != tc.ww || h != tc.wh {
			t.Errorf("fitInside(%d,%d,%d,%d) = %d,%d, want %d,%d", tc.sw, tc.sh, tc.w, tc.h, w, h, tc.ww, tc.wh)
		}
	}
	if _, _, ok := parseThumb("0x10"); ok {
		t.Error("0x10 accepted")
	}
	if _, _, ok := parseThumb("5000x10"); ok {
		t.Error("5000x10 accepted")
	}
	if _, _, ok := parseThumb("+1x1"); ok {
		t.Error("+1x1 accepted")
	}
	if w, h, ok := parseThumb("64x48"); !ok || w != 64 || h != 48 {
		t.Error("64x48 refused")
	}
}

func FuzzParseUploadDoc(f *testing.F) {
	f.Add([]byte(`{"attr":"image","index":"0","chunk":1,"total":1,"file":{"name":"a.png","size":3,"type":"image/png","lastModified":1,"content":"1,2,3"}}`))
	f.Add([]byte(`{"attr":"a","index":1.5,"chunk":1e300,"total":-1,"file":{"name":"../x","size":"3"}}`))
	f.Add([]byte(`{"file":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := jsonv.Parse(data)
		if err != nil {
			return
		}
		doc, ok := v.(map[string]any)
		if !ok {
			return
		}
		d, err := parseUploadDoc(doc)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("error %v is not a 400 *Error", err)
			}
			return
		}
		if d.chunk < 1 || d.total < 1 || d.meta.size < 0 || checkFileName(d.meta.name) != nil || !validAttrName(d.key.attr) {
			t.Fatalf("accepted an invalid doc: %+v", d)
		}
	})
}

// TestUploadStaysPendingForItsTarget: a call that does not take the
// upload's attr as a FILE neither uses it up nor fails on it when
// unfinished (issue 10 item 4).
func TestUploadStaysPendingForItsTarget(t *testing.T) {
	c, _ := uploadConn(t, Config{})
	if _, err := sendChunk(c, chunkDoc("image", "0", 1, 1, "a.txt", 2, []byte("ok"))); err != nil {
		t.Fatal(err)
	}
	if _, err := sendChunk(c, chunkDoc("f", "0", 1, 2, "b.txt", 4, []byte("ok"))); err != nil {
		t.Fatal(err)
	}
	anon := c.app.newAnonSession()
	svc := NewService("svc", Methods{"run": {Permissions: Perms("*"), Handler: func(context.Context, *Call) (*Result, error) { return nil, nil }}})
	locked := NewModule[upTarget]("locked", Methods{"create": {Permissions: Perms("admin")}})
	for _, m := range []*Module{svc, locked} {
		if err := m.init(c.app); err != nil {
			t.Fatal(err)
		}
	}
	read := fileCall(t, c, nil)
	for name, call := range map[string]*Call{
		"service without the attrs": {Module: svc, Method: svc.Methods["run"], Session: anon},
		"read":                      {Module: read.Module, Method: read.Module.Methods["read"], Session: anon},
		"refused by permissions":    {Module: locked, Method: locked.Methods["create"], Session: anon},
	} {
		call.Doc, call.Query, call.app = M{"image": []any{M{}}, "f": []any{M{}}}, &Query{}, c.app
		if err := c.attachUploads(call); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if l := call.Doc["image"].([]any); len(l) != 1 || len(l[0].(M)) != 0 {
			t.Fatalf("%s: image = %v, want the doc's own value", name, l)
		}
		if n := len(c.uploads.Load().files); n != 2 {
			t.Fatalf("%s: %d uploads pending, want 2", name, n)
		}
	}
	call := fileCall(t, c, M{"image": []any{M{}}})
	if err := c.attachUploads(call); err != nil {
		t.Fatal(err)
	}
	if f, err := fileFromValue(call.Doc["image"].([]any)[0]); err != nil || f.Name != "a.txt" {
		t.Fatalf("target got %v (%v)", call.Doc["image"], err)
	}
}
