package limp_test

import (
	"testing"

	"github.com/limp-go/limp"
)

type Titled struct {
	limp.Doc
	Title limp.Locale `json:"title"`
	Meta  struct {
		Label limp.Locale `json:"label"`
	} `json:"meta"`
	Names []limp.Locale `json:"names" limp:"default=[]"`
}

// TestLocalePathsOnlyAppLocales: dotted LOCALE paths accept only the
// app's locales, in update docs and in queries (and whole LOCALE values in
// create docs).
func TestLocalePathsOnlyAppLocales(t *testing.T) {
	m := limp.NewModule[Titled]("titled", limp.Methods{
		"read":   {Permissions: limp.Perms("*")},
		"create": {Permissions: limp.Perms("*")},
		"update": {Permissions: limp.Perms("*")},
	})
	s := startApp(t, limp.Config{Name: "titles", Locales: []string{"ar_AE", "en_AE"}, QuotaIPMin: -1, QuotaAnonMin: -1}, m)
	c := dial(t, s.WS)
	r := must(t, c.call("titled/create", nil, map[string]any{"title": map[string]any{"en_AE": "hi"}, "meta": map[string]any{"label": map[string]any{"en_AE": "l"}}}))
	id := docs(t, r)[0]["_id"]
	q := []any{map[string]any{"_id": id}}
	for _, tt := range []struct {
		endpoint string
		query    []any
		doc      map[string]any
		code     string
		msg      string
	}{
		{"titled/update", q, map[string]any{"title.fr_FR": "salut"}, "TEST_TITLED_INVALID_ATTR",
			`Invalid attr 'title.fr_FR': "fr_FR" is not one of the app locales [ar_AE en_AE] for 'update' request on module 'TEST_TITLED'.`},
		{"titled/update", q, map[string]any{"meta.label.fr_FR": "x"}, "TEST_TITLED_INVALID_ATTR",
			`Invalid attr 'meta.label.fr_FR': "fr_FR" is not one of the app locales [ar_AE en_AE] for 'update' request on module 'TEST_TITLED'.`},
		{"titled/update", q, map[string]any{"title": map[string]any{"en_AE": "x", "fr_FR": "y"}}, "TEST_TITLED_INVALID_ATTR", ""},
		{"titled/create", nil, map[string]any{"title": map[string]any{"en_AE": "x", "fr_FR": "y"}, "meta": map[string]any{"label": map[string]any{"en_AE": "l"}}}, "TEST_TITLED_INVALID_ATTR", ""},
		{"titled/read", []any{map[string]any{"title.fr_FR": "salut"}}, nil, "TEST_TITLED_INVALID_QUERY", ""},
		{"titled/read", []any{map[string]any{"meta.label.fr_FR": "salut"}}, nil, "TEST_TITLED_INVALID_QUERY", ""},
		{"titled/read", []any{map[string]any{"$sort": map[string]any{"title.fr_FR": 1}}}, nil, "TEST_TITLED_INVALID_QUERY", ""},
		{"titled/read", []any{map[string]any{"names.fr_FR": "x"}}, nil, "TEST_TITLED_INVALID_QUERY", ""},
		{"titled/update", q, map[string]any{"names.0.fr_FR": "x"}, "TEST_TITLED_INVALID_ATTR",
			`Invalid attr 'names.0.fr_FR': "fr_FR" is not one of the app locales [ar_AE en_AE] for 'update' request on module 'TEST_TITLED'.`},
		{"titled/update", []any{map[string]any{"title.fr_FR": "hi"}}, map[string]any{"title.en_AE": "x"}, "TEST_TITLED_INVALID_QUERY", ""},
	} {
		r := c.call(tt.endpoint, tt.query, tt.doc)
		if r.Status != 400 || r.code() != tt.code || tt.msg != "" && r.Msg != tt.msg {
			t.Errorf("%s %v %v: %d %s %q, want 400 %s %q", tt.endpoint, tt.query, tt.doc, r.Status, r.code(), r.Msg, tt.code, tt.msg)
		}
	}
	// The app's locales work.
	must(t, c.call("titled/update", q, map[string]any{"title.ar_AE": "مرحبا", "meta.label.en_AE": "m"}))
	r = must(t, c.call("titled/read", []any{map[string]any{"title.ar_AE": "مرحبا", "meta.label.en_AE": "m"}}, nil))
	if len(docs(t, r)) != 1 {
		t.Fatalf("read by app locales: %v", docs(t, r))
	}
}
