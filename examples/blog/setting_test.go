package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// TestUserSettings: a signed-up user keeps its own `user` settings (the
// example grants setting create and update), and cannot change another
// user's.
func TestUserSettings(t *testing.T) {
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ids []string
	var settings []string
	for _, email := range []string{"ann@example.com", "bob@example.com"} {
		c := s.Client(t, nil)
		id, err := c.SignUp(ctx, "email", email, "pw", map[string]any{"name": map[string]any{"ar_AE": "x"}})
		if err != nil {
			t.Fatalf("sign-up %s: %v", email, err)
		}
		if _, err := c.Auth(ctx, "email", email, "pw"); err != nil {
			t.Fatal(err)
		}
		r, err := c.Call(ctx, "setting/create", nil, map[string]any{"var": "theme", "val": "dark", "type": "user"})
		if err != nil {
			t.Fatalf("%s creates its setting: %v", email, err)
		}
		sid := r.Args["docs"].([]any)[0].(map[string]any)["_id"].(string)
		if _, err := c.Call(ctx, "setting/update", []any{map[string]any{"_id": sid}}, map[string]any{"val": "light"}); err != nil {
			t.Fatalf("%s updates its setting: %v", email, err)
		}
		ids, settings = append(ids, id), append(settings, sid)
	}
	bob := s.Client(t, nil)
	if _, err := bob.Auth(ctx, "email", "bob@example.com", "pw"); err != nil {
		t.Fatal(err)
	}
	r, err := bob.Call(ctx, "setting/update", []any{map[string]any{"_id": settings[0]}}, map[string]any{"val": "bob's"})
	if err == nil && fmt.Sprint(r.Args["count"]) != "0" {
		t.Fatalf("bob updated ann's setting: %+v", r.Args)
	}
	ann, err := limp.ParseID(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.App.UserSetting(ctx, ann, "theme")
	if err != nil || v != "light" {
		t.Fatalf("ann's theme = %v, %v; want light", v, err)
	}
}
