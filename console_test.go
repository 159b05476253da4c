package limp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

func init() {
	// -update rewrites golden files; another test file may define it too.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files in testdata")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// TSKitchen declares one attr of every shape --generate-ts maps.
type TSKitchen struct {
	limp.OwnedDoc
	Title    limp.Locale       `json:"title" limp:"desc='The title */ of it'"`
	Lang     string            `json:"lang" limp:"type=LOCALES"`
	Status   string            `json:"status" limp:"literal=[\"draft\",\"published\",1]"`
	Count    int64             `json:"count" limp:"default=0,min=0"`
	Price    *float64          `json:"price"`
	On       bool              `json:"on"`
	Tags     []string          `json:"tags" limp:"default=[]"`
	Scores   map[string]int    `json:"scores"`
	Addr     TSAddr            `json:"addr"`
	Cover    *limp.File        `json:"cover" limp:"types=image/*"`
	Files    []limp.File       `json:"files" limp:"default=[]"`
	Where    *limp.Geo         `json:"where"`
	Access   limp.Access       `json:"access"`
	Extra    any               `json:"extra"`
	When     string            `json:"when" limp:"type=DATETIME"`
	Email    string            `json:"email" limp:"type=EMAIL"`
	Parent   *limp.ID          `json:"parent" limp:"ref=ts_kitchen"`
	Nested   []map[string]bool `json:"nested"`
	WeirdKey string            `json:"weird-key"`
}

// TSAddr is a DICT with fields.
type TSAddr struct {
	City string  `json:"city"`
	Zip  *string `json:"zip"`
}

func tsApp(cfg limp.Config) *limp.App {
	cfg.Name, cfg.Version = "kitchen", "1.2.3"
	app := limp.New(cfg)
	app.Register("kitchen", limp.NewModule[TSKitchen]("ts_kitchen", limp.Methods{
		"read":   {Permissions: limp.Perms("*")},
		"create": {Permissions: limp.Perms("admin")},
		"update": {Permissions: limp.Perms("admin"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
		"rate": {Permissions: limp.Perms("admin", "*"), Desc: "Rates a doc.",
			QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}},
			DocArgs:   []limp.Args{{"stars": {Type: limp.TypeInt}}, {"skip": {Type: limp.TypeBool}, "why": {Type: limp.TypeStr}}},
			Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
				return limp.OK("Rated.", nil), nil
			}},
	}))
	return app
}

// TestGenerateTS compares --generate-ts output with a golden file
// (go test -run TestGenerateTS -update rewrites it).
func TestGenerateTS(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := tsApp(limp.Config{}).RunArgs(context.Background(), []string{"--generate-ts", dir}, &out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, limp.GenerateTSFile))
	if err != nil {
		t.Fatal(err)
	}
	got = bytes.ReplaceAll(got, []byte("limp-go "+limp.Version), []byte("limp-go VERSION"))
	golden := filepath.Join("testdata", "generate_ts.golden")
	if updateGolden() {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("--generate-ts output differs from %s (run with -update after checking):\n%s", golden, got)
	}
	// Secrets: the user's auth hash is accepted on create, never read.
	s := string(got)
	user := s[strings.Index(s, "export interface User {"):strings.Index(s, "export interface UserCreate {")]
	if strings.Contains(user, "email_hash") {
		t.Errorf("User (as read) declares email_hash:\n%s", user)
	}
	if !strings.Contains(s, "email_hash: string;") {
		t.Error("UserCreate lacks email_hash")
	}
	if err := tsApp(limp.Config{}).RunArgs(context.Background(), []string{"--generate-ts", filepath.Join(dir, limp.GenerateTSFile, "x")}, &out); err == nil {
		t.Error("--generate-ts into a path under a file: no error")
	}
}

func getBody(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r, b
}

func TestConsoleServed(t *testing.T) {
	s := limptest.Start(t, tsApp(limptest.Config(t, limp.Config{})))
	r, body := getBody(t, s.URL+"/console/")
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("console.js")) {
		t.Fatalf("GET /console/: %d %s %.80s", r.StatusCode, r.Header.Get("Content-Type"), body)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	for path, typ := range map[string]string{"/console/console.js": "text/javascript", "/console/limp.js": "text/javascript", "/console/console.css": "text/css"} {
		if r, _ := getBody(t, s.URL+path); r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), typ) {
			t.Errorf("GET %s: %d %s", path, r.StatusCode, r.Header.Get("Content-Type"))
		}
	}
	if r, _ := getBody(t, s.URL+"/console"); r.StatusCode != 301 || r.Header.Get("Location") != "/console/" {
		t.Errorf("GET /console: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	for _, p := range []string{"/console/nope.js", "/console/..%2fconsole.go", "/console/%2e%2e/go.mod", "/console/.hidden"} {
		if r, _ := getBody(t, s.URL+p); r.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
		}
	}
	if r, err := http.Post(s.URL+"/console/api.json", "text/plain", strings.NewReader("x")); err != nil || r.StatusCode == 200 {
		t.Errorf("POST /console/: %v %v", r, err)
	} else {
		r.Body.Close()
	}

	r, body = getBody(t, s.URL+"/console/api.json")
	var api struct {
		limp.APIDescription
		AnonToken string `json:"anon_token"`
	}
	if err := json.Unmarshal(body, &api); err != nil || r.StatusCode != 200 {
		t.Fatalf("api.json: %d %v %s", r.StatusCode, err, body)
	}
	if api.App != "kitchen" || api.AnonToken != limp.DefaultAnonToken || len(api.AuthAttrs) == 0 {
		t.Errorf("api.json: app %q anon_token %q auth_attrs %v", api.App, api.AnonToken, api.AuthAttrs)
	}
	var kitchen *limp.ModuleDescription
	for i := range api.Modules {
		if api.Modules[i].Name == "ts_kitchen" {
			kitchen = &api.Modules[i]
		}
	}
	if kitchen == nil || len(kitchen.Methods) != 4 {
		t.Fatalf("api.json lacks ts_kitchen with 4 methods: %+v", kitchen)
	}
	byName := map[string]limp.AttrDescription{}
	for _, a := range kitchen.Attrs {
		byName[a.Name] = a
	}
	if a := byName["tags"]; a.Type != "LIST" || a.Required || string(a.Default) != "[]" || a.Items[0].Type != "STR" {
		t.Errorf("tags = %+v", a)
	}
	if a := byName["cover"]; a.Type != "FILE" || !a.Optional || len(a.FileTypes) != 1 {
		t.Errorf("cover = %+v", a)
	}
	if a := byName["user"]; !a.Server || a.Required {
		t.Errorf("user = %+v", a)
	}
}

func TestConsoleEnabledByEnv(t *testing.T) {
	for _, tc := range []struct {
		name       string
		production bool
		mode       limp.ConsoleMode
		served     bool
	}{
		{"dev default", false, limp.ConsoleAuto, true},
		{"production default", true, limp.ConsoleAuto, false},
		{"production enabled", true, limp.ConsoleOn, true},
		{"dev disabled", false, limp.ConsoleOff, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := limptest.Config(t, limp.Config{Production: tc.production, Console: tc.mode, AllowInsecureDefaults: true})
			app := tsApp(cfg)
			s := limptest.Start(t, app)
			if app.ConsoleEnabled() != tc.served {
				t.Errorf("ConsoleEnabled() = %v", app.ConsoleEnabled())
			}
			r, body := getBody(t, s.URL+"/console/api.json")
			if !tc.served {
				// The path falls through to LIMP's HTTP interface.
				if r.StatusCode != 404 || bytes.Contains(body, []byte("modules")) {
					t.Errorf("console off: GET api.json = %d %s", r.StatusCode, body)
				}
				return
			}
			if r.StatusCode != 200 {
				t.Fatalf("GET api.json = %d %s", r.StatusCode, body)
			}
			// The anon token is only given away outside production.
			if got := bytes.Contains(body, []byte(`"anon_token"`)); got == tc.production {
				t.Errorf("production %v: anon_token sent = %v", tc.production, got)
			}
		})
	}
}

// TestConsoleServesClientBuild: /console/limp.js is the TypeScript
// client's build, clients/ts/dist/index.js, byte for byte (embedded from
// there by package tsclient: there is no copy to go stale). .ci/ts checks
// dist against src.
func TestConsoleServesClientBuild(t *testing.T) {
	built, err := os.ReadFile(filepath.Join("clients", "ts", "dist", "index.js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("webconsole", "limp.js")); err == nil {
		t.Error("webconsole/limp.js exists: the console serves clients/ts/dist/index.js, remove the copy")
	}
	s := limptest.Start(t, limp.New(limptest.Config(t, limp.Config{Name: "bundle"})))
	res, err := http.Get(s.URL + "/console/limp.js")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	served, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || !bytes.Equal(served, built) {
		t.Fatalf("/console/limp.js: %d %s, %d bytes, want 200 and clients/ts/dist/index.js (%d bytes)", res.StatusCode, res.Header.Get("Content-Type"), len(served), len(built))
	}
}
