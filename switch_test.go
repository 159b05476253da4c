package limp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
)

// TestSwitchOnAnyResultSession: a custom method whose result carries
// args.session switches the connection as LIMP clients do (spec §2.5),
// without calling Call.SwitchSession; args.session that names no usable
// session is refused (500) and switches nothing.
func TestSwitchOnAnyResultSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var fakeSID limp.ID = limp.NewID()
	acct := limp.NewService("acct", limp.Methods{
		// login signs in through session/auth and passes its result on.
		"login": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			return c.App().Invoke(ctx, nil, "session/auth", nil, limp.M{"email": c.Doc["email"], "hash": c.Doc["hash"]})
		}},
		// leave builds the ANON session itself.
		"leave": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			return limp.OK("Left.", limp.M{"session": limp.M{"_id": limp.AnonSessionID}}), nil
		}},
		// garbage returns sessions that do not exist or are not the
		// caller's to have.
		"garbage": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			var s any
			switch c.Doc["kind"] {
			case "unknown":
				s = limp.M{"_id": fakeSID, "token": "x"}
			case "wrong token":
				s = limp.M{"_id": c.Session.ID, "token": "not-the-token"}
			case "wrong user":
				s = limp.M{"_id": c.Session.ID, "token": c.Doc["token"], "user": limp.M{"_id": limp.AnonUserID}}
			case "not an object":
				s = "f00000000000000000000012"
			}
			return limp.OK("Here.", limp.M{"session": s}), nil
		}},
	})
	s := startApp(t, limp.Config{Name: "switch", AnonPrivileges: limp.Privileges{"acct": {"*"}}, QuotaAnonMin: -1, QuotaAuthMin: -1, QuotaIPMin: -1}, acct)
	c := s.Client(t, nil)
	hash, _ := client.Hash(client.HashLevel56, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword, limp.DefaultAnonToken)
	if _, err := c.Call(ctx, "acct/login", nil, map[string]any{"email": limp.DefaultAdminEmail, "hash": hash}); err != nil {
		t.Fatal(err)
	}
	sess := c.Session()
	if sess == nil || sess.Token == "" {
		t.Fatalf("client did not switch: %+v", sess)
	}
	// The client now signs with the new token: the server must agree.
	r, err := c.Call(ctx, "user/read", []any{map[string]any{"_id": limp.AdminUserID.Hex()}}, nil)
	if err != nil {
		t.Fatalf("call after the switch: %v", err)
	}
	if r.Args["count"] == nil {
		t.Fatalf("user/read = %+v", r.Args)
	}

	for _, kind := range []string{"unknown", "wrong token", "wrong user", "not an object"} {
		r, err := c.Call(ctx, "acct/garbage", nil, map[string]any{"kind": kind, "token": sess.Token})
		if err == nil || r == nil || r.Status != 500 || r.Args["session"] != nil {
			t.Fatalf("%s: garbage args.session = %+v, %v; want a 500 without args.session", kind, r, err)
		}
		// Still on the signed-in session.
		if _, err := c.Call(ctx, "user/read", []any{map[string]any{"_id": limp.AdminUserID.Hex()}}, nil); err != nil {
			t.Fatalf("%s: session lost after a refused switch: %v", kind, err)
		}
	}

	// Back to ANON by a hand-made args.session.
	if _, err := c.Call(ctx, "acct/leave", nil, nil); err != nil {
		t.Fatal(err)
	}
	if c.Session() != nil {
		t.Fatal("client did not switch to ANON")
	}
	if _, err := c.Call(ctx, "acct/leave", nil, nil); err != nil {
		t.Fatalf("server did not switch to ANON with the client: %v", err)
	}
	if _, err := c.Call(ctx, "user/read", []any{map[string]any{"_id": limp.AdminUserID.Hex()}}, nil); clientCode(err) != limp.CodeForbidden {
		t.Fatalf("ANON read ADMIN: %v", err)
	}
}

func clientCode(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}
