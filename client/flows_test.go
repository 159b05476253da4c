package client

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFileURL(t *testing.T) {
	for _, tc := range []struct {
		dial, thumb, want string
		name              string
	}{
		{"ws://127.0.0.1:8081/ws", "", "http://127.0.0.1:8081/blog/retrieve_file/ID/cover/a.png", "a.png"},
		{"wss://example.com/ws", "100x100", "https://example.com/blog/retrieve_file/ID/cover/100x100/a.png", "a.png"},
		// Realm mode: the realm's HTTP routes are /{realm}/... (README, Realms).
		{"wss://example.com/api/ws/realm1", "", "https://example.com/api/realm1/blog/retrieve_file/ID/cover/a%20b%2Fc.png", "a b/c.png"},
		{"ws://h/ws/ws_team", "", "http://h/ws_team/blog/retrieve_file/ID/cover/a.png", "a.png"},
		{"ws://h/ws/acme/", "", "http://h/acme/blog/retrieve_file/ID/cover/a.png", "a.png"},
		{"ws://h/ws?x=1", "", "http://h/blog/retrieve_file/ID/cover/a.png", "a.png"},
	} {
		c := &Client{url: tc.dial}
		if got := c.FileURL("blog", "ID", "cover", tc.name, tc.thumb); got != tc.want {
			t.Errorf("FileURL via %s = %s, want %s", tc.dial, got, tc.want)
		}
	}
}

// TestDownloadHeadersAndErrors: Download sends the X-Auth headers of the
// session (none when anonymous) and turns a LIMP error reply into *Error.
func TestDownloadHeadersAndErrors(t *testing.T) {
	var bearer, token string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer, token = r.Header.Get("X-Auth-Bearer"), r.Header.Get("X-Auth-Token")
		if strings.HasSuffix(r.URL.Path, "/missing") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"status":403,"msg":"X-Auth headers could not be verified.","args":{"code":"CORE_SESSION_INVALID_XAUTH"}}`))
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("PNG"))
	}))
	defer srv.Close()
	c := &Client{url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
	var buf bytes.Buffer
	typ, n, err := c.Download(context.Background(), "m", "id", "a", "f.png", "", &buf)
	if err != nil || typ != "image/png" || n != 3 || buf.String() != "PNG" || bearer != "" || token != "" {
		t.Fatalf("anonymous download = %q %d %q %v (headers %q %q)", typ, n, buf.String(), err, bearer, token)
	}
	c.session = &Session{ID: "s", Token: "tok", User: map[string]any{"_id": "u1"}}
	_, _, err = c.Download(context.Background(), "m", "id", "a", "missing", "", &buf)
	var le *Error
	if !errors.As(err, &le) || le.Status != 403 || le.Code != "CORE_SESSION_INVALID_XAUTH" || bearer != "u1" || token != "tok" {
		t.Fatalf("download err = %v (headers %q %q), want 403 CORE_SESSION_INVALID_XAUTH with X-Auth u1/tok", err, bearer, token)
	}
}

func TestChangePasswordNeedsSession(t *testing.T) {
	c := &Client{}
	if err := c.ChangePassword(context.Background(), "email", "a@b.c", "x", "y"); err == nil || !strings.Contains(err.Error(), "not signed in") {
		t.Fatalf("ChangePassword while anonymous: %v", err)
	}
}
