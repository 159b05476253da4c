package limp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// startSettingFiles starts an app whose users may create and update
// their own settings, and returns it with a signed-in admin client.
func startSettingFiles(t *testing.T) (*limptest.Server, *client.Client) {
	t.Helper()
	cfg := noQuotas(limp.Config{Name: "setfiles", FilesDir: t.TempDir(),
		DefaultPrivileges: limp.Privileges{"setting": {"create", "update"}}})
	s := startApp(t, cfg)
	admin := s.Client(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	return s, admin
}

func settingFile(t *testing.T, c *client.Client, name string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Upload(ctx, "val", 0, client.File{Name: name, Type: "text/plain", Size: int64(len(data))}, bytes.NewReader(data)); err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
}

func settingCall(t *testing.T, c *client.Client, endpoint string, q, doc any) *client.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Call(ctx, endpoint, q, doc)
	if err != nil {
		t.Fatalf("%s: %v", endpoint, err)
	}
	return r
}

func download(t *testing.T, c *client.Client, id, name string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b bytes.Buffer
	_, _, err := c.Download(ctx, "setting", id, "val", name, "", &b)
	return b.Bytes(), err
}

func firstDoc(t *testing.T, r *client.Response) map[string]any {
	t.Helper()
	l, _ := r.Args["docs"].([]any)
	if len(l) == 0 {
		t.Fatalf("no docs in %s", r.Raw)
	}
	return l[0].(map[string]any)
}

// TestSettingFileGlobal: an admin uploads a file into a global setting's
// val (file/upload then setting/create); it is stored as the file (the
// single-file list unwrapped, spec §6.17) and anyone, anonymous
// included, downloads it; setting/update replaces it with another upload.
func TestSettingFileGlobal(t *testing.T) {
	s, admin := startSettingFiles(t)
	settingFile(t, admin, "terms.txt", []byte("terms v1"))
	id := firstDoc(t, settingCall(t, admin, "setting/create", nil, map[string]any{"var": "terms", "type": "global", "val": []any{}}))["_id"].(string)

	anon := s.Client(t, nil)
	r := settingCall(t, anon, "setting/read", []any{map[string]any{"var": "terms", "type": "global"}}, nil)
	val, ok := firstDoc(t, r)["val"].(map[string]any)
	if !ok || val["name"] != "terms.txt" || val["type"] != "text/plain" {
		t.Fatalf("val = %#v, want the file object", firstDoc(t, r)["val"])
	}
	if got, err := download(t, anon, id, "terms.txt"); err != nil || string(got) != "terms v1" {
		t.Fatalf("anonymous download: %q, %v", got, err)
	}
	if v, err := s.App.Setting(context.Background(), "terms"); err != nil || v.(map[string]any)["name"] != "terms.txt" {
		t.Fatalf("App.Setting = %v, %v", v, err)
	}

	// A list mixing a file and other values is kept whole.
	settingCall(t, admin, "setting/update", []any{map[string]any{"var": "terms", "type": "global"}}, map[string]any{"val": []any{val, "x"}})
	if v, err := s.App.Setting(context.Background(), "terms"); err != nil || len(v.([]any)) != 2 {
		t.Fatalf("mixed list stored as %#v, %v", v, err)
	}

	// setting/update takes an upload too.
	settingFile(t, admin, "terms2.txt", []byte("terms v2"))
	settingCall(t, admin, "setting/update", []any{map[string]any{"var": "terms", "type": "global"}}, map[string]any{"val": []any{}})
	if got, err := download(t, anon, id, "terms2.txt"); err != nil || string(got) != "terms v2" {
		t.Fatalf("download after update: %q, %v", got, err)
	}
	var ce *client.Error
	if _, err := download(t, anon, id, "terms.txt"); !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("replaced file: %v, want 404", err)
	}
}

// TestSettingFileUser: a user's setting file is downloaded by its user
// and an admin; another user and anonymous requests get 404 (the setting
// is not readable to them, as retrieval answers elsewhere).
func TestSettingFileUser(t *testing.T) {
	s, admin := startSettingFiles(t)
	newAppUser := func(email string) *client.Client {
		settingCall(t, admin, "user/create", nil, map[string]any{"name": map[string]any{"en_AE": email}, "email": email, "email_hash": authHash(t, email, "pw")})
		c := s.Client(t, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.Auth(ctx, "email", email, "pw"); err != nil {
			t.Fatal(err)
		}
		return c
	}
	alice, bob := newAppUser("alice@example.com"), newAppUser("bob@example.com")
	settingFile(t, alice, "avatar.txt", []byte("alice's"))
	id := firstDoc(t, settingCall(t, alice, "setting/create", nil, map[string]any{"var": "avatar", "type": "user", "val": []any{}}))["_id"].(string)

	for name, c := range map[string]*client.Client{"owner": alice, "admin": admin} {
		if got, err := download(t, c, id, "avatar.txt"); err != nil || string(got) != "alice's" {
			t.Errorf("%s download: %q, %v", name, got, err)
		}
	}
	for name, c := range map[string]*client.Client{"other user": bob, "anonymous": s.Client(t, nil)} {
		var ce *client.Error
		if got, err := download(t, c, id, "avatar.txt"); !errors.As(err, &ce) || ce.Status != 404 || len(got) != 0 {
			t.Errorf("%s download: %q, %v, want 404", name, got, err)
		}
	}
}

// TestSettingFileHTTPRef: POST /file/create with __module=setting,
// __attr=val, then {"__file": id} at setting/create's val stores the
// file; the same upload cannot be used twice, and an upload for an attr
// no method takes a file at is refused (issue 10 item 4).
func TestSettingFileHTTPRef(t *testing.T) {
	s, admin := startSettingFiles(t)
	post := func(attr string) (int, string) {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		for k, v := range map[string]string{"__module": "setting", "__attr": attr, "name": "logo.txt", "type": "text/plain", "lastModified": "1578220000000"} {
			_ = w.WriteField(k, v)
		}
		fw, _ := w.CreateFormFile("file", "logo.txt")
		_, _ = fw.Write([]byte("logo bytes"))
		_ = w.Close()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/file/create", &body)
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.Header.Set("X-Auth-Bearer", admin.Session().UserID())
		req.Header.Set("X-Auth-Token", admin.Session().Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := post("var"); code != 400 {
		t.Fatalf("upload for setting.var: %d %s, want 400", code, body)
	}
	code, body := post("val")
	if code != 200 {
		t.Fatalf("upload for setting.val: %d %s", code, body)
	}
	var reply struct {
		Args struct {
			Docs []struct {
				ID string `json:"_id"`
			} `json:"docs"`
		} `json:"args"`
	}
	if err := json.Unmarshal([]byte(body), &reply); err != nil || len(reply.Args.Docs) != 1 {
		t.Fatalf("reply %s: %v", body, err)
	}
	ref := map[string]any{"__file": reply.Args.Docs[0].ID}
	id := firstDoc(t, settingCall(t, admin, "setting/create", nil, map[string]any{"var": "logo", "type": "global", "val": ref}))["_id"].(string)
	if got, err := download(t, s.Client(t, nil), id, "logo.txt"); err != nil || string(got) != "logo bytes" {
		t.Fatalf("download: %q, %v", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ce *client.Error
	if _, err := admin.Call(ctx, "setting/create", nil, map[string]any{"var": "logo2", "type": "global", "val": ref}); !errors.As(err, &ce) || ce.Status != 400 || ce.Code != limp.CodeFileNotFound {
		t.Fatalf("reused reference: %v, want 400 %s", err, limp.CodeFileNotFound)
	}
}
