package limp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/query"
)

// readDoc reads one album (or vault) doc by _id through the client.
func readDoc(t *testing.T, c *client.Client, mod, id string) map[string]any {
	t.Helper()
	res, err := call(t, c, mod+"/read", []any{map[string]any{"_id": id}}, nil)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	docs, _ := res.Args["docs"].([]any)
	if len(docs) != 1 {
		t.Fatalf("read %s: %v", id, res.Args)
	}
	return docs[0].(map[string]any)
}

func fileName(v any) string {
	switch x := v.(type) {
	case map[string]any:
		s, _ := x["name"].(string)
		return s
	case []any:
		if len(x) > 0 {
			return fileName(x[0])
		}
	}
	return ""
}

// TestUploadsBelongToTheirTarget: a finished upload attaches only to a
// call whose method takes its attr as a FILE; any other call (another
// module, a non-FILE attr, a method without doc attrs, a call the
// session may not make) leaves it pending for its target (issue 10 item
// 4).
func TestUploadsBelongToTheirTarget(t *testing.T) {
	needReads(t)
	s := startFiles(t, Config{})
	img := pngBytes(t, 4, 4)
	for _, tc := range []struct {
		name  string
		attr  string
		wrong func(c *client.Client) error // a call that must not use the upload
		right string                       // the target module: album (cover) or vault (doc)
	}{
		{"module without the attr", "cover", func(c *client.Client) error {
			_, err := call(t, c, "vault/create", nil, map[string]any{"doc": nil, "cover": []any{map[string]any{}}})
			return err
		}, "album"},
		{"other module's FILE attr", "doc", func(c *client.Client) error {
			_, err := call(t, c, "album/create", nil, map[string]any{"title": "w", "doc": []any{map[string]any{}}})
			return err
		}, "vault"},
		{"read takes no doc", "cover", func(c *client.Client) error {
			_, err := call(t, c, "album/read", nil, map[string]any{"cover": []any{map[string]any{}}})
			return err
		}, "album"},
		{"refused call", "doc", func(c *client.Client) error {
			_, err := call(t, c, "locked/create", nil, map[string]any{"doc": []any{map[string]any{}}})
			if client.CodeOf(err) != CodeForbidden {
				t.Errorf("locked/create: %v, want %s", err, CodeForbidden)
			}
			return err
		}, "vault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.client(t)
			upload(t, c, tc.attr, 0, "mine.png", "image/png", img)
			_ = tc.wrong(c)
			var doc map[string]any
			if tc.right == "album" {
				id := mustCreate(t)(call(t, c, "album/create", nil, map[string]any{"title": "r", "cover": []any{map[string]any{}}}))
				doc = readDoc(t, c, "album", id)
				if got := fileName(doc["cover"]); got != "mine.png" {
					t.Fatalf("cover = %v, want the upload (mine.png): the wrong call used it up", doc["cover"])
				}
				return
			}
			id := mustCreate(t)(call(t, c, "vault/create", nil, map[string]any{"doc": []any{map[string]any{}}}))
			vals := s.vaultDoc(t, id)
			if got := fileName(vals["doc"]); got != "mine.png" {
				t.Fatalf("doc = %v, want the upload (mine.png): the wrong call used it up", vals["doc"])
			}
		})
	}

	// Once: the target uses the upload up.
	c := s.client(t)
	upload(t, c, "cover", 0, "once.png", "image/png", img)
	mustCreate(t)(call(t, c, "album/create", nil, map[string]any{"title": "1", "cover": []any{map[string]any{}}}))
	id := mustCreate(t)(call(t, c, "album/create", nil, map[string]any{"title": "2", "cover": []any{}}))
	if doc := readDoc(t, c, "album", id); doc["cover"] != nil {
		t.Fatalf("second create got cover %v", doc["cover"])
	}
}

// vaultDoc reads a vault doc from the store (nobody may read vaults).
func (s *filesServer) vaultDoc(t *testing.T, id string) map[string]any {
	t.Helper()
	oid, err := ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.app.store.Read(t.Context(), s.app.modules["vault"].coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: oid}})
	if err != nil || len(res.Docs) != 1 {
		t.Fatalf("read vault %s: %v %v", id, res, err)
	}
	return res.Docs[0]
}

// TestHTTPUploadsBelongToTheirTarget: a POST /file/create upload names
// its module and attr; a {"__file": id} reference attaches only there,
// only where the call's attr takes a file, and a call whose references
// fail uses none of them (issue 10 item 4).
func TestHTTPUploadsBelongToTheirTarget(t *testing.T) {
	needReads(t)
	s := startFiles(t, Config{})
	c := s.client(t)
	img := pngBytes(t, 6, 6)
	post := func(module, attr, name string) string {
		t.Helper()
		status, out := postFile(t, s.url, map[string]string{"__module": module, "__attr": attr, "name": name, "type": "image/png"}, img)
		if status != 200 {
			t.Fatalf("POST /file/create %s.%s: %d %v", module, attr, status, out)
		}
		return out["args"].(map[string]any)["docs"].([]any)[0].(map[string]any)["_id"].(string)
	}
	ref := func(id string) map[string]any { return map[string]any{"__file": id} }
	cover := post("album", "cover", "cover.png")

	for name, doc := range map[string]struct {
		endpoint string
		doc      map[string]any
		code     string
	}{
		"other module's FILE attr": {"vault/create", map[string]any{"doc": ref(cover)}, CodeFileNotFound},
		"other attr of the module": {"album/create", map[string]any{"title": "x", "files": []any{ref(cover)}}, CodeFileNotFound},
		"not a FILE attr":          {"album/create", map[string]any{"title": ref(cover)}, "FILES_ALBUM_INVALID_ATTR"},
		"module without the attr":  {"vault/create", map[string]any{"doc": nil, "cover": ref(cover)}, "FILES_VAULT_INVALID_ATTR"},
		"a failing ref beside it":  {"album/create", map[string]any{"title": "x", "cover": ref(cover), "files": []any{ref("nope")}}, CodeFileNotFound},
	} {
		_, err := call(t, c, doc.endpoint, nil, doc.doc)
		if got := client.CodeOf(err); got != doc.code {
			t.Errorf("%s: %v, want %s", name, err, doc.code)
		}
	}
	// After all these, the upload is still there for its target.
	id := mustCreate(t)(call(t, c, "album/create", nil, map[string]any{"title": "ok", "cover": ref(cover)}))
	if got := fileName(readDoc(t, c, "album", id)["cover"]); got != "cover.png" {
		t.Fatalf("cover = %q, want cover.png", got)
	}

	// A FILE nested in a DICT: the form names its path, the reference
	// stands at it.
	photo := post("album", "gallery.photos", "photo.png")
	id = mustCreate(t)(call(t, c, "album/create", nil, map[string]any{"title": "g",
		"gallery": map[string]any{"photos": []any{ref(photo)}}}))
	g, _ := readDoc(t, c, "album", id)["gallery"].(map[string]any)
	if got := fileName(g["photos"]); got != "photo.png" {
		t.Fatalf("gallery = %v, want photos [photo.png]", g)
	}
	// ... and nowhere else.
	photo = post("album", "gallery.photos", "photo2.png")
	if _, err := call(t, c, "album/create", nil, map[string]any{"title": "x", "files": []any{ref(photo)}}); client.CodeOf(err) != CodeFileNotFound {
		t.Fatalf("nested upload used at files: %v", err)
	}
	if res, err := call(t, c, "album/read", nil, nil); err != nil || fmt.Sprint(res.Args["count"]) != "2" {
		t.Fatalf("albums: %v %v, want the 2 created", res, err)
	}
}

// TestDocAttr: which calls take a top-level doc key as a FILE, for every
// kind of method.
func TestDocAttr(t *testing.T) {
	a := New(Config{Name: "t"})
	custom := func(ctx context.Context, c *Call) (*Result, error) { return OK("", nil), nil }
	m := NewModule[Album]("album", Methods{
		"read":        {Permissions: Perms("*")},
		"create":      {Permissions: Perms("*")},
		"update":      {Permissions: Perms("*")},
		"delete":      {Permissions: Perms("*")},
		"create_file": {Permissions: Perms("*")},
		"delete_file": {Permissions: Perms("*")},
		"avatar":      {Permissions: Perms("*"), Handler: custom, DocArgs: []Args{{"pic": {Type: TypeFile}, "cover": {Type: TypeStr}}}},
		"other":       {Permissions: Perms("*"), Handler: custom},
	})
	if err := m.init(a); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, key string
		query       *Query
		wantPath    string // "" if the key takes no file
	}{
		{"create", "cover", nil, "cover"},
		{"create", "files", nil, "files"},
		{"create", "title", nil, ""},
		{"create", "nope", nil, ""},
		{"create", "gallery", nil, ""},
		{"update", "cover", nil, "cover"},
		{"update", "gallery.photos", nil, "gallery.photos"},
		{"read", "cover", nil, ""},
		{"delete", "cover", nil, ""},
		{"delete_file", "file", NewQuery(M{"attr": "files"}), ""},
		{"create_file", "file", NewQuery(M{"attr": "files"}), "files"},
		{"create_file", "file", NewQuery(M{"attr": "gallery.photos"}), "gallery.photos"},
		{"create_file", "file", NewQuery(M{"attr": "title"}), ""},
		{"create_file", "cover", NewQuery(M{"attr": "cover"}), ""},
		{"avatar", "pic", nil, "pic"},
		{"avatar", "cover", nil, ""}, // its doc_args say STR
		{"other", "cover", nil, "cover"},
	} {
		q := tc.query
		if q == nil {
			q = &Query{}
		}
		c := &Call{Module: m, Method: m.Methods[tc.method], Query: q}
		at, path := c.docAttr(tc.key)
		got := ""
		if at != nil && acceptsFiles(at) {
			got = path
		}
		if got != tc.wantPath {
			t.Errorf("%s %q: path %q, want %q", tc.method, tc.key, got, tc.wantPath)
		}
	}
}

func TestAcceptsFiles(t *testing.T) {
	file, str := &Attr{Type: TypeFile}, &Attr{Type: TypeStr}
	list := func(items ...*Attr) *Attr { return &Attr{Type: TypeList, Items: items} }
	union := func(items ...*Attr) *Attr { return &Attr{Type: TypeUnion, Items: items} }
	for _, tc := range []struct {
		name      string
		at        *Attr
		one, many bool
	}{
		{"FILE", file, true, true},
		{"LIST of FILE", list(file), false, true},
		{"LIST of STR or FILE", list(str, file), false, true},
		{"LIST of LIST of FILE", list(list(file)), false, false},
		{"UNION of STR and FILE", union(str, file), true, true},
		{"UNION of STR and LIST of FILE", union(str, list(file)), false, true},
		{"STR", str, false, false},
		{"ANY", &Attr{Type: TypeAny}, false, false},
		{"DICT", &Attr{Type: TypeDict, Fields: []*Attr{{Name: "f", Type: TypeFile}}}, false, false},
	} {
		if got := takesFile(tc.at); got != tc.one {
			t.Errorf("takesFile(%s) = %v", tc.name, got)
		}
		if got := acceptsFiles(tc.at); got != tc.many {
			t.Errorf("acceptsFiles(%s) = %v", tc.name, got)
		}
		if got := fileLeaf(tc.at); (got != nil) != (tc.many || tc.name == "LIST of LIST of FILE") {
			t.Errorf("fileLeaf(%s) = %v", tc.name, got)
		}
	}
}

// FuzzAttachHTTPFiles: any doc, with {"__file"} references anywhere,
// attaches without panicking; a call whose references fail leaves the doc
// and the pending uploads as they were; a reference is replaced only by
// an upload of the call's module at the reference's attr path.
func FuzzAttachHTTPFiles(f *testing.F) {
	for _, s := range []string{
		`{"cover": {"__file": "A"}}`,
		`{"cover": [{"__file": "A"}], "files": [{"__file": "B"}, {"__file": "A"}]}`,
		`{"gallery": {"photos": [{"__file": "C"}, {"x": 1}]}}`,
		`{"gallery": {"__file": "C"}, "title": {"__file": "A"}}`,
		`{"files": {"__file": "B"}, "public": [{"__file": "B"}]}`,
		`{"cover": {"__file": 7}}`,
	} {
		f.Add([]byte(s))
	}
	a := New(Config{Name: "t", UploadTimeout: time.Hour})
	m := NewModule[Album]("album", Methods{"create": {Permissions: Perms("*")}})
	if err := m.init(a); err != nil {
		f.Fatal(err)
	}
	val := func(name string) M {
		return M{"name": name, "type": "image/png", "size": int64(1), "lastModified": int64(1), "_id": strings.Repeat("a", 64)}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := jsonv.Parse(data)
		doc, ok := v.(map[string]any)
		if err != nil || !ok {
			return
		}
		a.files.http = map[string]*httpUpload{
			"A": {owner: "anon|ip", module: "album", attr: "cover", val: val("a"), until: time.Now().Add(time.Hour)},
			"B": {owner: "anon|ip", module: "album", attr: "files", val: val("b"), until: time.Now().Add(time.Hour)},
			"C": {owner: "anon|ip", module: "album", attr: "gallery.photos", val: val("c"), until: time.Now().Add(time.Hour)},
		}
		before, _ := json.Marshal(doc)
		c := &Call{Module: m, Method: m.Methods["create"], Doc: doc, Query: &Query{}, RemoteAddr: "ip", app: a}
		err = a.attachHTTPFiles(c)
		after, _ := json.Marshal(doc)
		if err != nil {
			if string(after) != string(before) || len(a.files.http) != 3 {
				t.Fatalf("failed attach changed things: %s -> %s, %d pending", before, after, len(a.files.http))
			}
			return
		}
		used := 3 - len(a.files.http)
		if got := strings.Count(string(after), `"_id":"aaaa`); got != used {
			t.Fatalf("%d files in %s, %d uploads used", got, after, used)
		}
		for id, u := range map[string]string{"A": `"name":"a"`, "B": `"name":"b"`, "C": `"name":"c"`} {
			if _, pending := a.files.http[id]; !pending && !strings.Contains(string(after), u) {
				t.Fatalf("upload %s used but not in %s", id, after)
			}
		}
	})
}

// BenchmarkAttachNoUploads is the attach step of a call that names no
// upload (the usual call): compare with BenchmarkCreate20.
func BenchmarkAttachNoUploads(b *testing.B) {
	c := &conn{app: New(Config{Name: "t"})}
	m := NewModule[Album]("album", Methods{"create": {Permissions: Perms("*")}})
	if err := m.init(c.app); err != nil {
		b.Fatal(err)
	}
	var doc map[string]any
	_ = json.Unmarshal([]byte(`{"title":"t","public":true,"files":[],"gallery":{"photos":[]},"x1":{"a":[1,2,{"b":3}]},"x2":"s","x3":1,"x4":[1,2,3],"x5":{"k":"v"}}`), &doc)
	call := &Call{Module: m, Method: m.Methods["create"], Doc: doc, Query: &Query{}}
	b.ReportAllocs()
	for range b.N {
		if err := c.attachUploads(call); err != nil {
			b.Fatal(err)
		}
	}
}
