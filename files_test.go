package limp

// End-to-end tests of files: chunked uploads with the Go client, HTTP
// multipart uploads, retrieval with permissions, thumbnails, collection.
// They run on the embedded store when it is available, else on memStore,
// a small in-memory store.Store good enough for these tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/internal/blob"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// memStore is an in-memory store.Store for tests: filters on And, Or,
// Cond (equality, comparisons, $in, $nin) and Access; sorting on _id only.
type memStore struct {
	mu    sync.Mutex
	colls map[string][]map[string]any
}

// newMemStore returns a memStore holding the system documents (ensureDoc
// cannot create them yet: validateCreate misses create_time).
func newMemStore() *memStore {
	return &memStore{colls: map[string][]map[string]any{
		"users":    {{"_id": AnonUserID, "status": "active"}, {"_id": AdminUserID, "status": "active"}},
		"sessions": {{"_id": AnonSessionID, "user": AnonUserID}},
		"groups":   {{"_id": DefaultGroup}},
	}}
}

func (s *memStore) Sync(ctx context.Context, c *schema.Collection) error { return nil }

func (s *memStore) Read(ctx context.Context, c *schema.Collection, q *query.Query) (*store.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var docs []map[string]any
	for _, d := range s.colls[c.Name] {
		if match(q.Filter, d) {
			docs = append(docs, deepCopy(d).(map[string]any))
		}
	}
	asc := len(q.Sort) > 0 && q.Sort[0].Path == "_id" && !q.Sort[0].Desc
	slices.SortFunc(docs, func(a, b map[string]any) int {
		x, y := a["_id"].(oid.ID), b["_id"].(oid.ID)
		if asc {
			return bytes.Compare(x[:], y[:])
		}
		return bytes.Compare(y[:], x[:])
	})
	total := int64(len(docs))
	docs = docs[min(int(q.Skip), len(docs)):]
	if q.Limit > 0 && int(q.Limit) < len(docs) {
		docs = docs[:q.Limit]
	}
	return &store.Result{Total: total, Docs: docs}, nil
}

func (s *memStore) Insert(ctx context.Context, c *schema.Collection, docs ...map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range docs {
		s.colls[c.Name] = append(s.colls[c.Name], deepCopy(d).(map[string]any))
	}
	return nil
}

func (s *memStore) Update(ctx context.Context, c *schema.Collection, q *query.Query, u *store.Update) (*store.UpdateResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []oid.ID
	for _, d := range s.colls[c.Name] {
		if !match(q.Filter, d) {
			continue
		}
		for p, v := range u.Set {
			d[p] = deepCopy(v)
		}
		for _, p := range u.Unset {
			delete(d, p)
		}
		for p, ap := range u.Append {
			l, _ := d[p].([]any)
			d[p] = append(l, ap.Values...)
		}
		ids = append(ids, d["_id"].(oid.ID))
	}
	return &store.UpdateResult{Matched: ids, Modified: int64(len(ids))}, nil
}

func (s *memStore) Delete(ctx context.Context, c *schema.Collection, q *query.Query, hard bool) ([]oid.ID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []oid.ID
	s.colls[c.Name] = slices.DeleteFunc(s.colls[c.Name], func(d map[string]any) bool {
		if match(q.Filter, d) {
			ids = append(ids, d["_id"].(oid.ID))
			return true
		}
		return false
	})
	return ids, nil
}

func (s *memStore) Tx(ctx context.Context, fn func(ctx context.Context) error) error { return fn(ctx) }
func (s *memStore) Explain(c *schema.Collection, q *query.Query) (*store.Plan, error) {
	return nil, errors.ErrUnsupported
}
func (s *memStore) Close() error { return nil }

func match(n query.Node, d map[string]any) bool {
	switch x := n.(type) {
	case nil:
		return true
	case query.And:
		for _, c := range x {
			if !match(c, d) {
				return false
			}
		}
		return true
	case query.Or:
		for _, c := range x {
			if match(c, d) {
				return true
			}
		}
		return false
	case *query.Access:
		if d["user"] == x.User {
			return true
		}
		acc, _ := d[x.Path].(map[string]any)
		if acc["anon"] == true {
			return true
		}
		users, _ := acc["users"].([]any)
		return slices.Contains(users, any(x.User))
	case *query.Cond:
		v := memLookup(d, x.Path)
		vals := []any{v}
		if l, ok := v.([]any); ok {
			vals = l
		}
		some := func(f func(any) bool) bool { return slices.ContainsFunc(vals, f) }
		switch x.Op {
		case query.Eq:
			return some(func(v any) bool { return eqVal(v, x.Value) })
		case query.Ne:
			return !some(func(v any) bool { return eqVal(v, x.Value) })
		case query.In:
			return some(func(v any) bool { return slices.ContainsFunc(x.Value.([]any), func(w any) bool { return eqVal(v, w) }) })
		case query.Nin:
			return !some(func(v any) bool { return slices.ContainsFunc(x.Value.([]any), func(w any) bool { return eqVal(v, w) }) })
		case query.Gt, query.Gte, query.Lt, query.Lte:
			return some(func(v any) bool {
				c, ok := cmpVal(v, x.Value)
				return ok && (x.Op == query.Gt && c > 0 || x.Op == query.Gte && c >= 0 || x.Op == query.Lt && c < 0 || x.Op == query.Lte && c <= 0)
			})
		}
	}
	panic(fmt.Sprintf("memStore: filter %T %+v not supported", n, n))
}

func memLookup(d map[string]any, path string) any {
	var v any = d
	for _, seg := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[seg]
	}
	return v
}

func eqVal(a, b any) bool {
	if c, ok := cmpVal(a, b); ok {
		return c == 0
	}
	return fmt.Sprint(a) == fmt.Sprint(b) && fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b)
}

func cmpVal(a, b any) (int, bool) {
	num := func(v any) (float64, bool) {
		switch x := v.(type) {
		case int64:
			return float64(x), true
		case float64:
			return x, true
		}
		return 0, false
	}
	if x, ok := num(a); ok {
		if y, ok := num(b); ok {
			switch {
			case x < y:
				return -1, true
			case x > y:
				return 1, true
			}
			return 0, true
		}
	}
	if x, ok := a.(string); ok {
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), true
		}
	}
	return 0, false
}

// Album is the files test app's document: a cover image, attachments of
// any type, and a nested gallery.
type Album struct {
	OwnedDoc
	Title   string `json:"title"`
	Public  bool   `json:"public" limp:"default=true"`
	Cover   *File  `json:"cover" limp:"types=image/*,max_size=200000"`
	Files   []File `json:"files" limp:"default=[]"`
	Gallery *struct {
		Photos []File `json:"photos"`
	} `json:"gallery"`
}

// Vault holds files nobody may read.
type Vault struct {
	Doc
	Doc_ *File `json:"doc"`
}

// filesServer is a started app with modules album (anyone reads public
// albums; anyone creates) and vault (anyone creates, nobody reads).
type filesServer struct {
	app   *App
	url   string
	ws    string
	blobs *blob.Disk
}

var realStore = sync.OnceValue(func() bool {
	a := New(Config{Name: "probe", Data: ":memory:", Logger: discardLogger()})
	err := a.Start(context.Background())
	if err == nil {
		_ = a.Shutdown(context.Background())
		return true
	}
	return false
})

// needReads skips a test that reads documents until the query parser has
// landed.
func needReads(t testing.TB) {
	t.Helper()
	if _, err := query.Parse([]any{}, &schema.Collection{Name: "probe"}); errors.Is(err, errors.ErrUnsupported) {
		t.Skip("the query parser has not landed: reads are unsupported")
	}
}

func startFiles(t testing.TB, cfg Config) *filesServer {
	t.Helper()
	cfg.Name = "files"
	cfg.Data = ":memory:"
	cfg.Logger = discardLogger()
	cfg.FilesDir = t.TempDir()
	cfg.QuotaIPMin, cfg.QuotaAnonMin, cfg.QuotaAuthMin = -1, -1, -1
	cfg.AnonPrivileges = Privileges{"album": {"*"}, "vault": {"create"}}
	a := New(cfg)
	albums := NewModule[Album]("album", Methods{
		"read":   {Permissions: []Perm{{Privilege: "read", QueryMod: M{"public": true}}}},
		"create": {Permissions: Perms("create")},
		"update": {Permissions: Perms("update"), QueryArgs: []Args{{"_id": {Type: TypeID}}}},
	})
	vault := NewModule[Vault]("vault", Methods{
		"read":   {Permissions: Perms("read")},
		"create": {Permissions: Perms("create")},
	})
	locked := NewModule[Vault]("locked", Methods{
		"read":   {Permissions: Perms("read")},
		"create": {Permissions: Perms("create")},
	})
	a.Register("files", albums, vault, locked)
	if !realStore() {
		a.store = newMemStore()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		srv.Close()
	})
	s, err := a.files.store(a)
	if err != nil {
		t.Fatal(err)
	}
	return &filesServer{app: a, url: srv.URL, ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", blobs: s.(*blob.Disk)}
}

func (s *filesServer) client(t testing.TB) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.ws, &client.Options{AnonToken: DefaultAnonToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *filesServer) get(t testing.TB, path string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, body
}

func pngBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func upload(t testing.TB, c *client.Client, attr string, index int, name, typ string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Upload(ctx, attr, index, client.File{Name: name, Type: typ, Size: int64(len(data)), LastModified: time.UnixMilli(1578220000000)}, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
}

func call(t testing.TB, c *client.Client, endpoint string, q, doc any) (*client.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Call(ctx, endpoint, q, doc)
}

// mustCreate returns a create reply's _id: mustCreate(t)(call(...)).
func mustCreate(t testing.TB) func(*client.Response, error) string {
	return func(res *client.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		docs, _ := res.Args["docs"].([]any)
		if len(docs) != 1 {
			t.Fatalf("create reply %+v", res)
		}
		return docs[0].(map[string]any)["_id"].(string)
	}
}

func TestFilesEndToEnd(t *testing.T) {
	needReads(t)
	s := startFiles(t, Config{})
	c := s.client(t)
	cover := pngBytes(t, 120, 60)
	att := bytes.Repeat([]byte("attachment "), 100000) // 1.1 MB: several chunks
	upload(t, c, "cover", 0, "cover.png", "image/png", cover)
	upload(t, c, "files", 0, "notes.txt", "text/plain", att)
	upload(t, c, "files", 1, "page.html", "text/html", []byte("<script>alert(1)</script>"))
	id := mustCreate(t)(call(t, c, "album/create", nil, map[string]any{"title": "t", "cover": []any{map[string]any{}}, "files": []any{}}))
	res, err := call(t, c, "album/read", []any{map[string]any{"_id": id}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := res.Args["docs"].([]any)[0].(map[string]any)
	cv := doc["cover"].(map[string]any)
	if cv["name"] != "cover.png" || fmt.Sprint(cv["size"]) != fmt.Sprint(len(cover)) || fmt.Sprint(cv["width"]) != "120" || fmt.Sprint(cv["height"]) != "60" {
		t.Fatalf("cover = %v", cv)
	}
	if _, ok := cv["content"]; ok {
		t.Fatal("file value carries content")
	}
	if l := doc["files"].([]any); len(l) != 2 {
		t.Fatalf("files = %v", l)
	}

	// Retrieval.
	r, body := s.get(t, "/album/retrieve_file/"+id+"/cover/cover.png", nil)
	if r.StatusCode != 200 || !bytes.Equal(body, cover) {
		t.Fatalf("retrieve: %d, %d bytes", r.StatusCode, len(body))
	}
	for k, want := range map[string]string{
		"Content-Type": "image/png", "X-Content-Type-Options": "nosniff",
		"Content-Disposition": `inline; filename="cover.png"`, "ETag": `"` + cv["_id"].(string) + `"`,
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if r.Header.Get("Last-Modified") == "" {
		t.Error("no Last-Modified")
	}
	r, body = s.get(t, "/album/retrieve_file/"+id+"/files/notes.txt", http.Header{"Range": {"bytes=0-9"}})
	if r.StatusCode != 206 || string(body) != "attachment" {
		t.Fatalf("range: %d %q", r.StatusCode, body)
	}
	r, _ = s.get(t, "/album/retrieve_file/"+id+"/cover/cover.png", http.Header{"If-None-Match": {`"` + cv["_id"].(string) + `"`}})
	if r.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d, want 304", r.StatusCode)
	}
	r, _ = s.get(t, "/album/retrieve_file/"+id+"/files/page.html", nil)
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment;") || r.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("html file served %d with %v", r.StatusCode, r.Header)
	}
	r, _ = s.get(t, "/album/retrieve_file/"+id+"/files.1/page.html", nil)
	if r.StatusCode != 200 {
		t.Fatalf("list index path: %d", r.StatusCode)
	}

	// Thumbnails: aspect kept, cached.
	for range 2 {
		r, body = s.get(t, "/album/retrieve_file/"+id+"/cover/40x40/cover.png", nil)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("thumb: %d %s", r.StatusCode, body)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(body))
		if err != nil || cfg.Width != 40 || cfg.Height != 20 {
			t.Fatalf("thumb is %dx%d (%v), want 40x20", cfg.Width, cfg.Height, err)
		}
	}
	r, body = s.get(t, "/album/retrieve_file/"+id+"/cover/400x400/cover.png", nil)
	if r.StatusCode != 200 || !bytes.Equal(body, cover) {
		t.Fatalf("thumb larger than the image: %d, want the original", r.StatusCode)
	}
	r, _ = s.get(t, "/album/retrieve_file/"+id+"/files/40x40/notes.txt", nil)
	if r.StatusCode != 400 {
		t.Fatalf("thumb of text: %d, want 400", r.StatusCode)
	}
	r, _ = s.get(t, "/album/retrieve_file/"+id+"/cover/99999x1/cover.png", nil)
	if r.StatusCode != 400 {
		t.Fatalf("huge thumb: %d, want 400", r.StatusCode)
	}

	// Missing things are 404.
	for _, p := range []string{
		"/album/retrieve_file/" + id + "/cover/other.png",
		"/album/retrieve_file/" + id + "/title/cover.png",
		"/album/retrieve_file/" + id + "/nope/cover.png",
		"/album/retrieve_file/" + oid.New().Hex() + "/cover/cover.png",
		"/album/retrieve_file/zz/cover/cover.png",
		"/nomodule/retrieve_file/" + id + "/cover/cover.png",
		"/album/retrieve_file/" + id + "/cover/../cover.png",
		"/album/retrieve_file/" + id + "/files.7/notes.txt",
	} {
		if r, body := s.get(t, p, nil); r.StatusCode != 404 {
			t.Errorf("GET %s = %d %s, want 404", p, r.StatusCode, body)
		}
	}
	// Path traversal in the file name (escaped slashes) is refused.
	if r, _ := s.get(t, "/album/retrieve_file/"+id+"/cover/..%2F..%2Fetc%2Fpasswd", nil); r.StatusCode != 400 {
		t.Errorf("traversal name: %d, want 400", r.StatusCode)
	}
	if n := s.blobs.TempFiles(); n != 0 {
		t.Fatalf("%d temp files left", n)
	}
}

func TestFilesRetrievePermissions(t *testing.T) {
	needReads(t)
	s := startFiles(t, Config{})
	c := s.client(t)
	png1 := pngBytes(t, 4, 4)
	// A private album: query_mod (public: true) hides it from readers.
	upload(t, c, "cover", 0, "a.png", "image/png", png1)
	priv := mustCreate(t)(call(t, c, "album/create", nil, map[string]any{"title": "p", "public": false, "cover": []any{}}))
	if r, _ := s.get(t, "/album/retrieve_file/"+priv+"/cover/a.png", nil); r.StatusCode != 404 {
		t.Fatalf("file of a doc hidden by query_mod: %d, want 404", r.StatusCode)
	}
	// The vault cannot be read at all: 403.
	upload(t, c, "doc", 0, "a.png", "image/png", png1)
	v := mustCreate(t)(call(t, c, "vault/create", nil, map[string]any{"doc": []any{}}))
	r, body := s.get(t, "/vault/retrieve_file/"+v+"/doc/a.png", nil)
	if r.StatusCode != 403 || !strings.Contains(string(body), CodeForbidden) {
		t.Fatalf("file of an unreadable doc: %d %s, want 403", r.StatusCode, body)
	}
}

func TestFilesAttachRefusals(t *testing.T) {
	needReads(t)
	s := startFiles(t, Config{})
	c := s.client(t)
	// Refused type.
	upload(t, c, "cover", 0, "a.pdf", "application/pdf", []byte("%PDF-1.4"))
	_, err := call(t, c, "album/create", nil, map[string]any{"title": "x", "cover": []any{}})
	if client.CodeOf(err) != "CORE_FILE_INVALID_TYPE" {
		t.Fatalf("pdf cover: %v, want CORE_FILE_INVALID_TYPE", err)
	}
	// Over the attr's max_size (200000): 413.
	big := append(pngBytes(t, 8, 8), make([]byte, 200001)...)
	upload(t, c, "cover", 0, "big.png", "image/png", big)
	_, err = call(t, c, "album/create", nil, map[string]any{"title": "x", "cover": []any{}})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 413 || ce.Code != CodeFileTooLarge {
		t.Fatalf("big cover: %v, want 413 %s", err, CodeFileTooLarge)
	}
	// Over the app's MaxFileSize: refused at the first chunk.
	s2 := startFiles(t, Config{MaxFileSize: 1000})
	c2 := s2.client(t)
	ctx := context.Background()
	err = c2.Upload(ctx, "files", 0, client.File{Name: "x", Type: "text/plain", Size: 1001}, bytes.NewReader(make([]byte, 1001)))
	if !errors.As(err, &ce) || ce.Status != 413 || ce.Code != CodeFileTooLarge {
		t.Fatalf("over MaxFileSize: %v, want 413", err)
	}
	// A forged file value pointing at content that does not match is
	// still shaped-checked; a name with a path is refused.
	_, err = call(t, c, "album/create", nil, map[string]any{"title": "x", "files": []any{
		map[string]any{"name": "../x", "type": "text/plain", "size": 1, "lastModified": 1, "_id": strings.Repeat("a", 64)}}})
	if err == nil {
		t.Fatal("forged file value with a path name accepted")
	}
	// Nothing was stored by these refusals: no document.
	res, err := call(t, c, "album/read", nil, nil)
	if err != nil || fmt.Sprint(res.Args["count"]) != "0" {
		t.Fatalf("read after refusals: %v %v", res, err)
	}
	if n := s.blobs.TempFiles() + s2.blobs.TempFiles(); n != 0 {
		t.Fatalf("%d temp files left", n)
	}
}

func TestFilesAbandonedOnDisconnect(t *testing.T) {
	s := startFiles(t, Config{})
	c := s.client(t)
	// Chunk 1 of 3, then the connection closes.
	doc := map[string]any{"attr": "files", "index": "0", "chunk": 1, "total": 3,
		"file": map[string]any{"name": "a", "size": 9, "type": "text/plain", "lastModified": 1, "content": "1,2,3"}}
	if _, err := call(t, c, "file/upload", nil, doc); err != nil {
		t.Fatal(err)
	}
	if n := s.blobs.TempFiles(); n != 1 {
		t.Fatalf("temp files = %d, want 1", n)
	}
	_ = c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.blobs.TempFiles() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("temp file of an abandoned upload not removed on disconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFilesUploadWireReplies(t *testing.T) {
	s := startFiles(t, Config{})
	c := s.client(t)
	doc := func(chunk int, content string) map[string]any {
		return map[string]any{"attr": "files", "index": "0", "chunk": chunk, "total": 2,
			"file": map[string]any{"name": "a", "size": 4, "type": "text/plain", "lastModified": 1, "content": content}}
	}
	res, err := call(t, c, "file/upload", nil, doc(1, "1,2"))
	if err != nil || res.Status != 200 || res.Msg != "Chunk accepted" || res.Args["code"] != nil || res.Args["call_id"] == nil {
		t.Fatalf("chunk 1: %+v %v", res, err)
	}
	res, err = call(t, c, "file/upload", nil, doc(2, "3,4"))
	if err != nil || res.Msg != "Last chunk accepted" {
		t.Fatalf("chunk 2: %+v %v", res, err)
	}
	// Malformed docs are 400s, never 500s.
	for _, d := range []any{map[string]any{}, map[string]any{"attr": 1}, doc(1, "1,2,x"), map[string]any{"attr": "a", "index": "0", "chunk": 1, "total": 1, "file": []any{}}} {
		_, err := call(t, c, "file/upload", nil, d)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != 400 {
			t.Errorf("doc %v: %v, want a 400", d, err)
		}
	}
}

// multipartBody returns a /file/create form.
func multipartBody(t testing.TB, fields map[string]string, name string, data []byte) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, k := range []string{"__module", "__attr", "name", "type", "lastModified"} {
		if v, ok := fields[k]; ok {
			_ = mw.WriteField(k, v)
		}
	}
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(data)
	_ = mw.Close()
	return &b, mw.FormDataContentType()
}

func postFile(t testing.TB, url string, fields map[string]string, data []byte) (int, map[string]any) {
	t.Helper()
	body, ct := multipartBody(t, fields, fields["name"], data)
	res, err := http.Post(url+"/file/create", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(res.Body)
	if err := jsonUnmarshal(b, &out); err != nil {
		t.Fatalf("reply %s: %v", b, err)
	}
	return res.StatusCode, out
}

func TestFilesHTTPUpload(t *testing.T) {
	needReads(t)
	s := startFiles(t, Config{})
	c := s.client(t)
	img := pngBytes(t, 10, 20)
	status, out := postFile(t, s.url, map[string]string{"__module": "album", "__attr": "cover", "name": "h.png", "type": "image/png", "lastModified": "1578220000000"}, img)
	if status != 200 || out["msg"] != "File uploaded." {
		t.Fatalf("POST /file/create: %d %v", status, out)
	}
	fid := out["args"].(map[string]any)["docs"].([]any)[0].(map[string]any)["_id"].(string)
	id := mustCreate(t)(call(t, c, "album/create", nil, map[string]any{"title": "h", "cover": map[string]any{"__file": fid}}))
	r, body := s.get(t, "/album/retrieve_file/"+id+"/cover/h.png", nil)
	if r.StatusCode != 200 || !bytes.Equal(body, img) {
		t.Fatalf("retrieve HTTP-uploaded file: %d", r.StatusCode)
	}
	// Used once only.
	_, err := call(t, c, "album/create", nil, map[string]any{"title": "h", "cover": map[string]any{"__file": fid}})
	if client.CodeOf(err) != CodeFileNotFound {
		t.Fatalf("reused __file: %v, want %s", err, CodeFileNotFound)
	}
	for name, tc := range map[string]struct {
		fields map[string]string
		data   []byte
		status int
	}{
		"unknown module":   {map[string]string{"__module": "nope", "__attr": "cover", "name": "a.png", "type": "image/png"}, img, 400},
		"not a file attr":  {map[string]string{"__module": "album", "__attr": "title", "name": "a.png", "type": "image/png"}, img, 400},
		"refused type":     {map[string]string{"__module": "album", "__attr": "cover", "name": "a.txt", "type": "text/plain"}, []byte("x"), 400},
		"path name":        {map[string]string{"__module": "album", "__attr": "cover", "name": "../../a.png", "type": "image/png"}, img, 400},
		"too large":        {map[string]string{"__module": "album", "__attr": "files", "name": "a.bin", "type": "application/octet-stream"}, make([]byte, DefaultMaxFileSize+1), 413},
		"attr max_size":    {map[string]string{"__module": "album", "__attr": "cover", "name": "a.png", "type": "image/png"}, append(img, make([]byte, 200001)...), 413},
		"create privilege": {map[string]string{"__module": "vault", "__attr": "doc", "name": "a.png", "type": "image/png"}, img, 200},
		"no privilege":     {map[string]string{"__module": "locked", "__attr": "doc", "name": "a.png", "type": "image/png"}, img, 403},
	} {
		t.Run(name, func(t *testing.T) {
			status, out := postFile(t, s.url, tc.fields, tc.data)
			if status != tc.status {
				t.Fatalf("status %d %v, want %d", status, out, tc.status)
			}
		})
	}
	if n := s.blobs.TempFiles(); n != 0 {
		t.Fatalf("%d temp files left", n)
	}
	// The refused forms (fields before the file) stored nothing: only the
	// accepted image remains.
	if n := walkCount(t, s.blobs); n != 1 {
		t.Fatalf("%d blobs stored, want 1", n)
	}
}

func TestCollectFiles(t *testing.T) {
	// The grace is at least UploadTimeout; it must also leave time to
	// attach the kept upload before it expires.
	s := startFiles(t, Config{UploadTimeout: time.Second})
	c := s.client(t)
	keep := pngBytes(t, 3, 3)
	upload(t, c, "cover", 0, "k.png", "image/png", keep)
	mustCreate(t)(call(t, c, "album/create", nil, map[string]any{"title": "k", "cover": []any{}}))
	// A refused create leaves its content unreferenced.
	upload(t, c, "cover", 0, "r.pdf", "application/pdf", []byte("%PDF refused"))
	if _, err := call(t, c, "album/create", nil, map[string]any{"title": "r", "cover": []any{}}); err == nil {
		t.Fatal("pdf cover accepted")
	}
	if n := walkCount(t, s.blobs); n != 2 {
		t.Fatalf("%d blobs, want 2", n)
	}
	// Contents younger than the grace (UploadTimeout, 1 s here) are kept:
	// let it pass so the refused upload is collectable.
	time.Sleep(1100 * time.Millisecond)
	n, err := s.app.CollectFiles(context.Background(), 0)
	if err != nil || n != 1 {
		t.Fatalf("CollectFiles = %d, %v; want 1", n, err)
	}
	if n := walkCount(t, s.blobs); n != 1 {
		t.Fatalf("%d blobs after collection, want 1", n)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
