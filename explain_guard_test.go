package limp_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// TestExplainGuarded: App.Explain shows the query the store runs, with
// every join through a reference guarded by the referenced module's read
// permission (for ANON), and App.ExplainFor a session's read with its
// permission modifiers too. Golden file of the MongoDB pipelines:
// testdata/explain_guard.golden (-update rewrites it).
func TestExplainGuarded(t *testing.T) {
	mods := jpModules()
	cfg := jpConfig(limp.Privileges{"jp_note": {"read"}, "jp_secret": {"vault"}, "jp_vault": {"read"}, "jp_article": {"read"}}, mods...)
	cfg.Locale = "en_AE"
	app := limp.New(limptest.Config(t, cfg))
	app.Register("test", mods...)
	s := limptest.Start(t, app)
	ctx := context.Background()
	// The golden file holds the MongoDB pipelines only: the embedded
	// store's SQL follows its table layout, checked above by what it joins.
	type entry struct {
		Name  string          `json:"name"`
		Mongo json.RawMessage `json:"mongo"`
	}
	var out []entry
	add := func(name string) func(*limp.Explanation, error) *limp.Explanation {
		return func(e *limp.Explanation, err error) *limp.Explanation {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, entry{name, e.Mongo})
			return e
		}
	}
	// A note through its secret, whose read for ANON goes through the
	// secret's vault (open, level < 5): both guards show.
	e := add("Explain jp_note secret.code")(s.App.Explain("jp_note", `[{"secret.code": "x"}]`))
	if !strings.Contains(e.SQL, "jp_vault") || !strings.Contains(string(e.Mongo), `"level"`) {
		t.Errorf("Explain shows no join guard:\nSQL %s\nMongo %s", e.SQL, e.Mongo)
	}
	// ANON may not read users: the join matches nothing.
	e = add("Explain jp_article author.email")(s.App.Explain("jp_article", `[{"author.email": "admin@localhost"}]`))
	if strings.Contains(e.SQL, "user") || strings.Contains(string(e.Mongo), `"user"`) {
		t.Errorf("Explain joins users, which ANON may not read:\nSQL %s\nMongo %s", e.SQL, e.Mongo)
	}
	// ExplainFor: the module's own query_mod for the session too.
	e = add("ExplainFor ANON jp_secret")(s.App.ExplainFor(ctx, nil, "jp_secret", `[{"code": "x"}]`))
	if !strings.Contains(e.SQL, "jp_vault") || !strings.Contains(string(e.Mongo), `.open"`) {
		t.Errorf("ExplainFor(ANON) lacks jp_secret's query_mod (vault.open):\n%s", e.SQL)
	}
	e = add("ExplainFor system jp_secret")(s.App.ExplainFor(ctx, s.App.SystemSession(), "jp_secret", `[{"code": "x"}]`))
	if strings.Contains(e.SQL, "jp_vault") {
		t.Errorf("ExplainFor(system) applies ANON's query_mod:\n%s", e.SQL)
	}
	if _, err := s.App.ExplainFor(ctx, nil, "jp_vault", `[]`); err != nil {
		t.Errorf("ExplainFor(ANON) jp_vault: %v", err)
	}
	var le *limp.Error
	if _, err := s.App.ExplainFor(ctx, nil, "jp_secret", `[]`); err != nil {
		t.Errorf("ExplainFor(ANON) jp_secret: %v", err)
	}
	if _, err := s.App.ExplainFor(ctx, nil, "user", `[]`); err == nil || !asError(err, &le) || le.Code != limp.CodeForbidden {
		t.Errorf("ExplainFor(ANON) user: %v, want %s", err, limp.CodeForbidden)
	}

	got, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "explain_guard.golden")
	if updateGolden() {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("explanations differ from %s (run with -update after checking):\n%s", golden, got)
	}
}

func asError(err error, target **limp.Error) bool {
	e, ok := err.(*limp.Error)
	if ok {
		*target = e
	}
	return ok
}
