package limp_test

import (
	"testing"

	"github.com/limp-go/limp"
)

type Secret struct {
	limp.OwnedDoc
	Code string `json:"code"`
}

type Note struct {
	limp.Doc
	Text   string    `json:"text"`
	Secret *limp.ID  `json:"secret" limp:"ref=secret"`
	Refs   []limp.ID `json:"refs" limp:"ref=secret"`
}

// TestExtnHonoursReadPermissions: an extension never shows a document the
// caller could not read directly (LIMP expanded references unchecked).
func TestExtnHonoursReadPermissions(t *testing.T) {
	secrets := limp.NewModule[Secret]("secret", limp.Methods{
		// Only admins read secrets, and each user their own.
		"read": {Permissions: []limp.Perm{{Privilege: "admin"},
			{Privilege: "read", QueryMod: limp.M{"user": limp.VarUser}}}},
		"create": {Permissions: limp.Perms("admin")},
	})
	notes := limp.NewModule[Note]("note", limp.Methods{
		"read": {Permissions: limp.Perms("*")}, "create": {Permissions: limp.Perms("admin")},
	})
	s := startApp(t, limp.Config{Name: "extn", QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1}, secrets, notes)
	admin := dial(t, s.WS)
	signIn(t, admin, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	r := must(t, admin.call("secret/create", nil, map[string]any{"code": "42"}))
	sid := docs(t, r)[0]["_id"]
	must(t, admin.call("note/create", nil, map[string]any{"text": "x", "secret": sid, "refs": []any{sid}}))

	// ADMIN sees the expanded secret.
	r = must(t, admin.call("note/read", nil, nil))
	if sec, ok := docs(t, r)[0]["secret"].(map[string]any); !ok || sec["code"] != "42" {
		t.Fatalf("admin: secret = %v", docs(t, r)[0]["secret"])
	}
	// ANON has no secret.read: the reference is not expanded.
	anon := dial(t, s.WS)
	r = must(t, anon.call("note/read", nil, nil))
	d := docs(t, r)[0]
	if d["secret"] != nil || d["refs"].([]any)[0] != nil {
		t.Fatalf("ANON sees a secret through an extension: %v %v", d["secret"], d["refs"])
	}
	wantErr(t, anon.call("secret/read", nil, nil), 403, limp.CodeForbidden)
}

func TestProductionRefusesDefaults(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		cfg  limp.Config
		fail bool
	}{
		{limp.Config{Production: true}, true},
		{limp.Config{Production: true, AnonToken: "a-long-random-anon-token"}, true}, // admin password still default
		{limp.Config{Production: true, AnonToken: "a-long-random-anon-token", AdminPassword: "s3cret!"}, false},
		{limp.Config{Production: true, AllowInsecureDefaults: true}, false},
		{limp.Config{}, false}, // development: warnings only
		{limp.Config{Env: "prod", Envs: map[string]func(*limp.Config){"prod": func(c *limp.Config) { c.Production = true }}}, true},
	} {
		cfg := tc.cfg
		cfg.Name, cfg.Data = "sec", ":memory:"
		app := limp.New(cfg)
		err := app.Start(ctx)
		if (err != nil) != tc.fail {
			t.Errorf("%+v: Start = %v, want failure %v", tc.cfg, err, tc.fail)
		}
		if err == nil {
			_ = app.Shutdown(ctx)
		}
	}
}
