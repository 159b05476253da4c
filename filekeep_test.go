package limp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// Paper is a public document with files of every shape.
type Paper struct {
	limp.Doc
	Title   string      `json:"title"`
	Public  bool        `json:"public" limp:"default=true"`
	Cover   *limp.File  `json:"cover"`
	Back    *limp.File  `json:"back"`
	Gallery []limp.File `json:"gallery" limp:"default=[]"`
	Meta    any         `json:"meta"`
}

// SecretFile holds files nobody may read.
type SecretFile struct {
	limp.Doc
	Body *limp.File `json:"body"`
}

func startFileKeep(t *testing.T) *limptest.Server {
	t.Helper()
	cfg := limptest.Config(t, limp.Config{Name: "filekeep", Locale: "en_AE",
		AnonPrivileges: limp.Privileges{"paper": {"*"}, "secret": {"create"}},
		QuotaIPMin:     -1, QuotaAnonMin: -1, QuotaAuthMin: -1})
	app := limp.New(cfg)
	papers := limp.NewModule[Paper]("paper", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "read", QueryMod: limp.M{"public": true}}}},
		"create": {Permissions: limp.Perms("create")},
		"update": {Permissions: limp.Perms("update")},
		"stamp": {Permissions: limp.Perms("update"), DocArgs: []limp.Args{{"file": {Type: limp.TypeFile}}},
			Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) { return limp.OK("Stamped.", nil), nil }},
	})
	papers.Methods["update"].PostMethod = true
	papers.Methods["create"].PostMethod = true
	secrets := limp.NewModule[SecretFile]("secret", limp.Methods{
		"read":   {Permissions: limp.Perms("read")},
		"create": {Permissions: limp.Perms("create")},
	})
	app.Register("test", papers, secrets)
	return limptest.Start(t, app)
}

func uploadFile(t *testing.T, c *client.Client, attr, name, typ string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Upload(ctx, attr, 0, client.File{Name: name, Type: typ, Size: int64(len(data)), LastModified: time.UnixMilli(1578220000000)}, bytes.NewReader(data)); err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
}

func goCall(t *testing.T, c *client.Client, ep string, q, doc any) (*client.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.Call(ctx, ep, q, doc)
}

func createdID(t *testing.T) func(*client.Response, error) string {
	return func(r *client.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		return r.Args["docs"].([]any)[0].(map[string]any)["_id"].(string)
	}
}

// TestForgedFileObjects: a client cannot write a file object it did not
// upload into a document (issue: "forged file objects"). It may only give
// back, in an update, the file already stored in that attr of the docs it
// updates. Every shape a file can take (FILE, a list for a FILE, LIST of
// FILE, ANY at any depth, an update operator, a custom method's doc arg,
// the HTTP interface) is refused with 400 TEST_PAPER_INVALID_ATTR and
// nothing changes; fresh uploads still attach.
func TestForgedFileObjects(t *testing.T) {
	s := startFileKeep(t)
	c := s.Client(t, nil)

	// A secret file nobody may read, and its content's SHA-256 (known to
	// whoever knows or guesses the content).
	secret := []byte("the secret report")
	uploadFile(t, c, "body", "report.txt", "text/plain", secret)
	createdID(t)(goCall(t, c, "secret/create", nil, map[string]any{"body": []any{map[string]any{}}}))
	sum := sha256.Sum256(secret)
	forged := map[string]any{"name": "report.txt", "type": "text/plain", "size": int64(len(secret)), "lastModified": int64(0), "_id": hex.EncodeToString(sum[:])}

	// Paper A has a cover (seen by everyone); B and C have none.
	img := []byte("\x89PNG not really")
	uploadFile(t, c, "cover", "a.png", "application/octet-stream", img)
	idA := createdID(t)(goCall(t, c, "paper/create", nil, map[string]any{"title": "A", "cover": []any{map[string]any{}}}))
	idB := createdID(t)(goCall(t, c, "paper/create", nil, map[string]any{"title": "B"}))
	idC := createdID(t)(goCall(t, c, "paper/create", nil, map[string]any{"title": "A"})) // same title as A
	readPaper := func(id string) map[string]any {
		t.Helper()
		r, err := goCall(t, c, "paper/read", []any{map[string]any{"_id": id}}, nil)
		if err != nil {
			t.Fatalf("read %s: %v", id, err)
		}
		return r.Args["docs"].([]any)[0].(map[string]any)
	}
	seen := readPaper(idA)["cover"].(map[string]any)
	before := map[string]string{idA: string(mustJSON(readPaper(idA))), idB: string(mustJSON(readPaper(idB))), idC: string(mustJSON(readPaper(idC)))}

	raw := dial(t, s.WS)
	const code = "TEST_PAPER_INVALID_ATTR"
	byID := func(id string) []any { return []any{map[string]any{"_id": id}} }
	for _, tc := range []struct {
		name     string
		endpoint string
		query    any
		doc      map[string]any
	}{
		{"create FILE", "paper/create", nil, map[string]any{"title": "x", "cover": forged}},
		{"create FILE as a list", "paper/create", nil, map[string]any{"title": "x", "cover": []any{forged}}},
		{"create seen FILE", "paper/create", nil, map[string]any{"title": "x", "cover": seen}},
		{"create LIST of FILE", "paper/create", nil, map[string]any{"title": "x", "gallery": []any{seen}}},
		{"create ANY", "paper/create", nil, map[string]any{"title": "x", "meta": forged}},
		{"create ANY nested", "paper/create", nil, map[string]any{"title": "x", "meta": map[string]any{"k": []any{1, forged}}}},
		{"update other doc", "paper/update", byID(idB), map[string]any{"cover": seen}},
		{"update other doc, forged", "paper/update", byID(idB), map[string]any{"cover": forged}},
		{"update $append", "paper/update", byID(idB), map[string]any{"gallery": map[string]any{"$append": seen}}},
		{"update dotted path", "paper/update", byID(idB), map[string]any{"gallery.0": seen}},
		{"update ANY", "paper/update", byID(idB), map[string]any{"meta": map[string]any{"f": seen}}},
		{"update same doc, other attr", "paper/update", byID(idA), map[string]any{"back": seen}},
		{"update same doc, forged", "paper/update", byID(idA), map[string]any{"cover": forged}},
		{"update two docs, one holds it", "paper/update", []any{map[string]any{"title": "A"}}, map[string]any{"cover": seen}},
		{"custom method doc arg", "paper/stamp", nil, map[string]any{"file": seen}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, raw.call(tc.endpoint, tc.query, tc.doc), 400, code)
		})
	}
	t.Run("go client", func(t *testing.T) {
		if _, err := goCall(t, c, "paper/update", byID(idB), map[string]any{"cover": forged}); client.CodeOf(err) != code {
			t.Fatalf("update with a forged file: %v, want %s", err, code)
		}
	})
	t.Run("http", func(t *testing.T) {
		for _, ep := range []string{"/paper/create", "/paper/update/" + idB} {
			res, err := http.Post(s.URL+ep, "application/json", strings.NewReader(string(mustJSON(map[string]any{"title": "h", "cover": forged}))))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 400 || !strings.Contains(string(body), code) {
				t.Fatalf("POST %s: %d %s, want 400 %s", ep, res.StatusCode, body, code)
			}
		}
	})
	for id, want := range before {
		if got := string(mustJSON(readPaper(id))); got != want {
			t.Fatalf("paper %s changed by a refused call:\n got %s\nwant %s", id, got, want)
		}
	}
	if n := countPapers(t, c); n != 3 {
		t.Fatalf("%d papers, want 3: a refused create stored one", n)
	}
	var ce *client.Error
	if _, _, err := c.Download(context.Background(), "paper", idB, "cover", "report.txt", "", io.Discard); !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("download of the secret through B: %v, want 404", err)
	}

	// Allowed: a read doc sent back whole, a read's doc ignored, fresh uploads.
	a := readPaper(idA)
	must(t, raw.call("paper/update", byID(idA), map[string]any{"title": "A2", "cover": a["cover"]}))
	if got := readPaper(idA); got["title"] != "A2" || string(mustJSON(got["cover"])) != string(mustJSON(seen)) {
		t.Fatalf("A after giving its cover back = %v", got)
	}
	must(t, raw.call("paper/read", byID(idA), map[string]any{"cover": seen}))
	uploadFile(t, c, "cover", "b.png", "application/octet-stream", []byte("b"))
	if _, err := goCall(t, c, "paper/update", byID(idB), map[string]any{"cover": []any{map[string]any{}}}); err != nil {
		t.Fatalf("fresh upload: %v", err)
	}
	if got := readPaper(idB)["cover"].(map[string]any)["name"]; got != "b.png" {
		t.Fatalf("B's cover = %v, want b.png", got)
	}
}

func countPapers(t *testing.T, c *client.Client) int {
	t.Helper()
	r, err := goCall(t, c, "paper/read", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(r.Args["docs"].([]any))
}

// TestForgedFileSetting: setting val is ANY besides a LIST of FILE, and
// retrieve_file serves a file from it; a client cannot put there a file
// object it did not upload, but may keep the one stored there.
func TestForgedFileSetting(t *testing.T) {
	s := startFileKeep(t)
	admin := s.Client(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	uploadFile(t, admin, "val", "terms.txt", "text/plain", []byte("terms"))
	r, err := goCall(t, admin, "setting/create", nil, map[string]any{"var": "terms", "type": "global", "val": []any{}})
	if err != nil {
		t.Fatal(err)
	}
	_ = r
	rd, err := goCall(t, admin, "setting/read", []any{map[string]any{"var": "terms", "type": "global"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	val := rd.Args["docs"].([]any)[0].(map[string]any)["val"].(map[string]any)
	sum := sha256.Sum256([]byte("other content"))
	forged := map[string]any{"name": "x.txt", "type": "text/plain", "size": int64(13), "lastModified": int64(0), "_id": hex.EncodeToString(sum[:])}
	for _, tc := range []struct {
		name, ep string
		q        any
		doc      map[string]any
	}{
		{"create bare", "setting/create", nil, map[string]any{"var": "v1", "type": "global", "val": val}},
		{"create list", "setting/create", nil, map[string]any{"var": "v2", "type": "global", "val": []any{val}}},
		{"update forged", "setting/update", []any{map[string]any{"var": "terms", "type": "global"}}, map[string]any{"val": forged}},
	} {
		if _, err := goCall(t, admin, tc.ep, tc.q, tc.doc); client.CodeOf(err) != "CORE_SETTING_INVALID_ATTR" {
			t.Errorf("%s: %v, want CORE_SETTING_INVALID_ATTR", tc.name, err)
		}
	}
	// Kept: the stored file, given back.
	if _, err := goCall(t, admin, "setting/update", []any{map[string]any{"var": "terms", "type": "global"}}, map[string]any{"val": val}); err != nil {
		t.Fatalf("giving back the stored file: %v", err)
	}
}
