package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// Photo is a document with a FILE attr, for the upload and download flow.
type Photo struct {
	limp.OwnedDoc
	Title string     `json:"title"`
	Image *limp.File `json:"image"`
}

// serve starts an app where anyone may sign up and signed-in users keep
// private photos (each reads only their own).
func serve(ctx context.Context) *limptest.Server {
	own := limp.M{"user": limp.VarUser}
	photos := limp.NewModule[Photo]("photo", limp.Methods{
		"read":   {Permissions: []limp.Perm{{Privilege: "read", QueryMod: own}}},
		"create": {Permissions: limp.Perms("create")},
	})
	app := limp.New(limptest.ExampleConfig(limp.Config{
		Name:              "flows",
		Locales:           []string{"en_AE"},
		AnonPrivileges:    limp.Privileges{"user": {"create"}},
		DefaultPrivileges: limp.Privileges{"photo": {"read", "create"}, "user": {"read", "update"}},
	}))
	app.Register("flows", photos)
	srv, err := limptest.Serve(ctx, app)
	if err != nil {
		panic(err)
	}
	return srv
}

func mustDial(ctx context.Context, srv *limptest.Server) *client.Client {
	c, err := srv.Dial(ctx, nil)
	if err != nil {
		panic(err)
	}
	return c
}

// Sign-up, sign-in, password change, and reauth on a new connection: the
// life of an account as a client sees it.
func ExampleClient_SignUp() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := serve(ctx)
	defer srv.Close()
	c := mustDial(ctx, srv)
	defer c.Close()

	// Sign-up: an anonymous user/create with the auth hash (client.Hash).
	id, err := c.SignUp(ctx, "email", "ann@example.com", "first password",
		map[string]any{"name": map[string]any{"en_AE": "Ann"}, "locale": "en_AE"})
	if err != nil {
		panic(err)
	}
	fmt.Println("signed up:", len(id) == 24)

	// Sign-in: session/auth. The connection now signs calls with the
	// session token.
	s, err := c.Auth(ctx, "email", "ann@example.com", "first password")
	if err != nil {
		panic(err)
	}
	fmt.Println("signed in:", s.UserID() == id, s.User["email"])

	// Password change: user/update with the new hash and current_hash.
	err = c.ChangePassword(ctx, "email", "ann@example.com", "wrong guess", "second password")
	fmt.Println("with a wrong current password:", client.CodeOf(err))
	if err := c.ChangePassword(ctx, "email", "ann@example.com", "first password", "second password"); err != nil {
		panic(err)
	}
	fmt.Println("password changed")

	// Reauth: a new connection resumes the session from its id and
	// token (cache them as secrets), without the password.
	c2 := mustDial(ctx, srv)
	defer c2.Close()
	s2, err := c2.Reauth(ctx, s.ID, s.Token)
	if err != nil {
		panic(err)
	}
	fmt.Println("reauthed:", s2.ID == s.ID)

	// The old password no longer signs in; the new one does.
	c3 := mustDial(ctx, srv)
	defer c3.Close()
	_, err = c3.Auth(ctx, "email", "ann@example.com", "first password")
	fmt.Println("old password:", client.CodeOf(err))
	_, err = c3.Auth(ctx, "email", "ann@example.com", "second password")
	fmt.Println("new password:", err == nil)
	// Output:
	// signed up: true
	// signed in: true ann@example.com
	// with a wrong current password: CORE_USER_INVALID_CURRENT_HASH
	// password changed
	// reauthed: true
	// old password: CORE_SESSION_INVALID_CREDS
	// new password: true
}

// Uploads and downloads: Upload sends a file in file/upload chunks; the
// next call whose doc names the attr attaches it. Download fetches it over
// HTTP with the session's X-Auth-Bearer and X-Auth-Token headers, so the
// read permissions of the module apply: another user gets a 404.
func ExampleClient_Download() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := serve(ctx)
	defer srv.Close()
	ann, bob := mustDial(ctx, srv), mustDial(ctx, srv)
	defer ann.Close()
	defer bob.Close()
	for _, u := range []struct {
		c     *client.Client
		email string
	}{{ann, "ann@example.com"}, {bob, "bob@example.com"}} {
		doc := map[string]any{"name": map[string]any{"en_AE": u.email}, "locale": "en_AE"}
		if _, err := u.c.SignUp(ctx, "email", u.email, "a password", doc); err != nil {
			panic(err)
		}
		if _, err := u.c.Auth(ctx, "email", u.email, "a password"); err != nil {
			panic(err)
		}
	}

	content := []byte("hello, file")
	f := client.File{Name: "hello.txt", Type: "text/plain", Size: int64(len(content))}
	if err := ann.Upload(ctx, "image", 0, f, bytes.NewReader(content)); err != nil {
		panic(err)
	}
	res, err := ann.Call(ctx, "photo/create", nil, map[string]any{"title": "greeting", "image": map[string]any{}})
	if err != nil {
		panic(err)
	}
	var created struct {
		Docs []struct {
			ID string `json:"_id"`
		}
	}
	_ = res.DecodeArgs(&created)
	id := created.Docs[0].ID

	url := ann.FileURL("photo", id, "image", "hello.txt", "")
	fmt.Println(strings.TrimPrefix(url, srv.URL) == "/photo/retrieve_file/"+id+"/image/hello.txt")
	var got bytes.Buffer
	typ, n, err := ann.Download(ctx, "photo", id, "image", "hello.txt", "", &got)
	if err != nil {
		panic(err)
	}
	fmt.Println(typ, n, got.String())

	_, _, err = bob.Download(ctx, "photo", id, "image", "hello.txt", "", &got)
	var le *client.Error
	fmt.Println("bob:", errors.As(err, &le) && le.Status == 404)
	// Output:
	// true
	// text/plain 11 hello, file
	// bob: true
}
