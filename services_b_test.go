package limp_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// Item is the document of the services-b tests.
type Item struct {
	limp.OwnedDoc
	Name string   `json:"name" limp:"unique"`
	Note string   `json:"note" limp:"default=''"`
	Log  []string `json:"log" limp:"default=[]"`
}

func itemModule(name string) *limp.Module {
	return limp.NewModule[Item](name, limp.Methods{
		"read":   {Permissions: limp.Perms("read")},
		"create": {Permissions: limp.Perms("create")},
		"update": {Permissions: limp.Perms("update"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
		"delete": {Permissions: limp.Perms("delete"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
	})
}

type ctxKey struct{}

// TestInterceptors: app and module interceptors wrap websocket and HTTP
// calls of base and custom methods, in order, with the call's context;
// one may refuse a call with an exact wire error; internal calls pass
// through none.
func TestInterceptors(t *testing.T) {
	var mu sync.Mutex
	var trace []string
	rec := func(name string) limp.Interceptor {
		return func(next limp.Handler) limp.Handler {
			return func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
				mu.Lock()
				trace = append(trace, name+">"+c.Endpoint)
				mu.Unlock()
				if c.Doc["refuse"] == name {
					return nil, limp.NewError(403, "TEST_REFUSED", "Refused by "+name+".")
				}
				res, err := next(context.WithValue(ctx, ctxKey{}, name), c)
				mu.Lock()
				trace = append(trace, "<"+name)
				mu.Unlock()
				return res, err
			}
		}
	}
	items := itemModule("item")
	items.Use(rec("mod"))
	svc := limp.NewService("svc", limp.Methods{
		"echo": {Permissions: limp.Perms("*"), PostMethod: true, Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			v, _ := ctx.Value(ctxKey{}).(string)
			if c.Doc["inner"] == true {
				if _, err := c.Invoke(ctx, "item/read", nil, nil); err != nil {
					return nil, err
				}
			}
			return limp.OK("Echoed.", limp.M{"ctx": v}), nil
		}},
	})
	app := limp.New(limptest.Config(t, limp.Config{Name: "t", Locale: "en_AE",
		AnonPrivileges: limp.Privileges{"item": {"*"}, "svc": {"*"}}, QuotaIPMin: -1, QuotaAnonMin: -1}))
	app.Use(rec("a1"), rec("a2"))
	app.Register("test", items, svc)
	s := limptest.Start(t, app)
	c := dial(t, s.WS)

	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := trace
		trace = nil
		return out
	}
	must(t, c.call("item/read", nil, nil))
	if got, want := take(), []string{"a1>item/read", "a2>item/read", "mod>item/read", "<mod", "<a2", "<a1"}; !slices.Equal(got, want) {
		t.Fatalf("base method trace %v, want %v", got, want)
	}
	r := must(t, c.call("svc/echo", nil, map[string]any{"inner": true}))
	if r.Args["ctx"] != "a2" {
		t.Fatalf("handler saw ctx value %v, want a2 (the innermost app interceptor's)", r.Args["ctx"])
	}
	// The internal item/read of the handler passes through no interceptor.
	if got, want := take(), []string{"a1>svc/echo", "a2>svc/echo", "<a2", "<a1"}; !slices.Equal(got, want) {
		t.Fatalf("custom method trace %v, want %v", got, want)
	}
	r = c.call("item/create", nil, map[string]any{"name": "x", "refuse": "a2"})
	wantErr(t, r, 403, "TEST_REFUSED")
	if r.Msg != "Refused by a2." {
		t.Fatalf("msg %q", r.Msg)
	}
	if got := take(); !slices.Equal(got, []string{"a1>item/create", "a2>item/create", "<a1"}) {
		t.Fatalf("refused trace %v", got)
	}
	// HTTP calls pass through the same chain.
	resp, err := http.Post(s.URL+"/svc/echo", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var hr reply
	if err := json.Unmarshal(body, &hr); err != nil || hr.Status != 200 || hr.Args["ctx"] != "a2" {
		t.Fatalf("HTTP reply %s (%v)", body, err)
	}
	if got := take(); !slices.Equal(got, []string{"a1>svc/echo", "a2>svc/echo", "<a2", "<a1"}) {
		t.Fatalf("HTTP trace %v", got)
	}
	// The Go client sees the refusal as an *Error with the code.
	gc := s.Client(t, nil)
	_, err = gc.Call(context.Background(), "svc/echo", nil, map[string]any{"refuse": "a1"})
	if client.CodeOf(err) != "TEST_REFUSED" {
		t.Fatalf("client error %v, want TEST_REFUSED", err)
	}
}

// TestCallLog: --debug (Config.Debug) logs one structured line per call.
func TestCallLog(t *testing.T) {
	var buf syncBuf
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	app := limp.New(limptest.Config(t, limp.Config{Name: "t", Locale: "en_AE", Debug: true, Logger: log,
		AnonPrivileges: limp.Privileges{"item": {"read"}}, QuotaIPMin: -1, QuotaAnonMin: -1}))
	app.Register("test", itemModule("item"))
	s := limptest.Start(t, app)
	c := dial(t, s.WS)
	id := c.send("item/read", nil, nil)
	must(t, c.recv())
	wantErr(t, c.call("item/create", nil, map[string]any{"name": "x"}), 403, "CORE_SESSION_FORBIDDEN")
	var lines []map[string]any
	for _, l := range strings.Split(buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "call" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("call log lines %v, want 2", lines)
	}
	l := lines[0]
	if l["endpoint"] != "item/read" || l["status"] != 200.0 || l["call_id"] != id || l["user"] != limp.AnonUserID.Hex() || l["duration"] == nil {
		t.Fatalf("read log line %v", l)
	}
	if l := lines[1]; l["endpoint"] != "item/create" || l["status"] != 403.0 || l["code"] != "CORE_SESSION_FORBIDDEN" {
		t.Fatalf("create log line %v", l)
	}
}

// TestL10N: l10n/read returns a locale's dictionary over the default
// locale's; errors are sent with the text their code has in the caller's
// locale.
func TestL10N(t *testing.T) {
	app := limp.New(limptest.Config(t, limp.Config{Name: "t", Locale: "en_AE",
		AnonPrivileges:    limp.Privileges{"item": {"*"}},
		DefaultPrivileges: limp.Privileges{"item": {"*"}},
		L10N:              map[string]map[string]string{"en_AE": {"title": "Items", "empty": "None"}},
		QuotaIPMin:        -1, QuotaAnonMin: -1, QuotaAuthMin: -1}))
	app.Register("test", itemModule("item"))
	app.L10N("en_AE", map[string]string{"title": "All items", "TEST_ITEM_DUPLICATE_DOC": "This name is taken."})
	app.L10N("ar_AE", map[string]string{"title": "العناصر", "TEST_ITEM_DUPLICATE_DOC": "هذا الاسم مستخدم."})
	s := limptest.Start(t, app)
	c := dial(t, s.WS)

	r := must(t, c.call("l10n/read", nil, nil))
	if r.Msg != "Found L10N dictionary." || r.Args["locale"] != "en_AE" {
		t.Fatalf("l10n/read %+v", r)
	}
	if d := r.Args["l10n"].(map[string]any); d["title"] != "All items" || d["empty"] != "None" {
		t.Fatalf("en_AE dictionary %v", d)
	}
	r = must(t, c.call("l10n/read", []any{map[string]any{"locale": "ar_AE"}}, nil))
	if d := r.Args["l10n"].(map[string]any); r.Args["locale"] != "ar_AE" || d["title"] != "العناصر" || d["empty"] != "None" {
		t.Fatalf("ar_AE dictionary (with fallback) %+v", r)
	}
	wantErr(t, c.call("l10n/read", []any{map[string]any{"locale": "fr_FR"}}, nil), 400, "CORE_L10N_INVALID_LOCALE")
	// Over HTTP, the locale is a path arg.
	resp, err := http.Post(s.URL+"/l10n/read/ar_AE", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var hr reply
	if err := json.Unmarshal(body, &hr); err != nil || hr.Status != 200 || hr.Args["locale"] != "ar_AE" || hr.Args["l10n"].(map[string]any)["title"] != "العناصر" {
		t.Fatalf("HTTP l10n/read %s (%v)", body, err)
	}
	wantErr(t, c.call("l10n/read", []any{map[string]any{"locale": 5}}, nil), 400, "CORE_L10N_INVALID_LOCALE")

	must(t, c.call("item/create", nil, map[string]any{"name": "x"}))
	r = c.call("item/create", nil, map[string]any{"name": "x"})
	wantErr(t, r, 400, "TEST_ITEM_DUPLICATE_DOC")
	if r.Msg != "This name is taken." {
		t.Fatalf("ANON (default locale) msg %q", r.Msg)
	}
	// A user whose locale is ar_AE gets the ar_AE text.
	sess := signIn(t, c, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	uid := sess["user"].(map[string]any)["_id"]
	must(t, c.call("user/update", []any{map[string]any{"_id": uid}}, map[string]any{"locale": "ar_AE"}))
	r = c.call("item/create", nil, map[string]any{"name": "x"})
	wantErr(t, r, 400, "TEST_ITEM_DUPLICATE_DOC")
	if r.Msg != "هذا الاسم مستخدم." {
		t.Fatalf("ar_AE user msg %q", r.Msg)
	}
	// An error without a text keeps its msg.
	r = c.call("item/update", []any{map[string]any{"_id": "zz"}}, map[string]any{"note": "n"})
	if r.Status != 400 || !strings.HasPrefix(r.Msg, "Could not match query") {
		t.Fatalf("untranslated error %+v", r)
	}

	// A dictionary of a locale the app does not have is a declaration error.
	bad := limp.New(limptest.Config(t, limp.Config{Name: "t"}))
	bad.L10N("fr_FR", map[string]string{"x": "y"})
	if err := bad.Start(context.Background()); err == nil || !strings.Contains(err.Error(), `locale "fr_FR"`) {
		t.Fatalf("Start with fr_FR dictionary: %v", err)
	}
}

// TestPackageConfig: package configs merge in registration order with
// LIMP's rules, the env's overrides apply, "$__env.NAME" values are read.
func TestPackageConfig(t *testing.T) {
	t.Setenv("LIMP_TEST_SECRET", "s3cret")
	var buf syncBuf
	app := limp.New(limptest.Config(t, limp.Config{Name: "t", Locale: "en_AE", Env: "prod",
		Logger: slog.New(slog.NewTextHandler(&buf, nil)),
		Vars:   limp.M{"base": 1, "over": "base"}}))
	app.Register("a", itemModule("item"))
	app.RegisterConfig("a", limp.Config{
		Vars:           limp.M{"over": "a", "secret": "$__env.LIMP_TEST_SECRET", "nested": limp.M{"x": "$__env.LIMP_TEST_UNSET_VAR"}},
		AnonPrivileges: limp.Privileges{"item": {"read"}},
		Locales:        []string{"en_AE", "ar_AE"},
		Envs:           map[string]func(*limp.Config){"prod": func(c *limp.Config) { c.Vars["env"] = "prod" }},
	})
	app.RegisterConfig("b", limp.Config{
		Vars:           limp.M{"over": "b"},
		AnonPrivileges: limp.Privileges{"user": {"create"}},
		Locales:        []string{"ar_AE", "en_AE", "fr_FR"},
	})
	s := limptest.Start(t, app)
	cfg := s.App.Config()
	want := map[string]any{"base": 1, "over": "b", "secret": "s3cret", "env": "prod"}
	for k, v := range want {
		if got, ok := s.App.Var(k); !ok || got != v {
			t.Errorf("Var(%q) = %v, want %v", k, got, v)
		}
	}
	if n := cfg.Vars["nested"].(limp.M); n["x"] != "" {
		t.Errorf("unset env var value %q, want empty", n["x"])
	}
	if !strings.Contains(buf.String(), "LIMP_TEST_UNSET_VAR") {
		t.Errorf("no warning for the unset variable: %s", buf.String())
	}
	if !slices.Equal(cfg.Locales, []string{"ar_AE", "en_AE", "fr_FR"}) {
		t.Errorf("Locales %v: a later package's list replaces an earlier one's", cfg.Locales)
	}
	if len(cfg.AnonPrivileges) != 2 {
		t.Errorf("AnonPrivileges %v: maps merge", cfg.AnonPrivileges)
	}
	c := dial(t, s.WS)
	must(t, c.call("item/read", nil, nil)) // package a's AnonPrivileges apply
}

// TestAppDocsAndDataIndexes: Config.Docs are created at start when
// missing and no delete removes them; Config.DataIndexes add a text index
// that $search uses.
func TestAppDocsAndDataIndexes(t *testing.T) {
	const id = "aaaaaaaaaaaaaaaaaaaaaaaa"
	path := t.TempDir() + "/docs.db"
	start := func(note string) *limptest.Server {
		app := limp.New(limptest.Config(t, limp.Config{Name: "t", Locale: "en_AE", Data: path,
			AnonPrivileges: limp.Privileges{"item": {"*"}}, QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1,
			Docs:        []limp.AppDoc{{Module: "item", Doc: limp.M{"_id": id, "name": "seeded", "note": note}}},
			DataIndexes: []limp.DataIndex{{Collection: "item", Keys: []limp.IndexKey{{Path: "note", Text: true}}}},
		}))
		app.Register("test", itemModule("item"))
		return limptest.Start(t, app)
	}
	s := start("first words")
	c := dial(t, s.WS)
	d := docs(t, must(t, c.call("item/read", []any{map[string]any{"_id": id}}, nil)))
	if len(d) != 1 || d[0]["name"] != "seeded" {
		t.Fatalf("seeded doc %v", d)
	}
	must(t, c.call("item/create", nil, map[string]any{"name": "other", "note": "other words"}))
	r := must(t, c.call("item/read", []any{map[string]any{"$search": "first"}}, nil))
	if d := docs(t, r); len(d) != 1 || d[0]["name"] != "seeded" {
		t.Fatalf("$search through the data index: %v", d)
	}
	r = must(t, c.call("item/delete", []any{map[string]any{"_id": id}}, nil))
	if r.Args["count"] != 0.0 {
		t.Fatalf("delete of an app doc removed %v docs", r.Args["count"])
	}
	signIn(t, c, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	must(t, c.call("item/delete", []any{map[string]any{"_id": id, "$soft": true}}, nil))
	if d := docs(t, must(t, c.call("item/read", []any{map[string]any{"_id": id}}, nil))); len(d) != 1 {
		t.Fatal("a hard delete removed the app doc")
	}
	must(t, c.call("item/update", []any{map[string]any{"_id": id}}, map[string]any{"note": "changed"}))
	ctx := context.Background()
	if err := s.App.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// A second start keeps the existing doc (created only when missing).
	s = start("second")
	c = dial(t, s.WS)
	if d := docs(t, must(t, c.call("item/read", []any{map[string]any{"_id": id}}, nil))); len(d) != 1 || d[0]["note"] != "changed" {
		t.Fatalf("after restart %v", d)
	}

	for _, tc := range []struct {
		cfg  limp.Config
		want string
	}{
		{limp.Config{Docs: []limp.AppDoc{{Module: "nope", Doc: limp.M{"_id": id}}}}, `unknown module "nope"`},
		{limp.Config{Docs: []limp.AppDoc{{Module: "item", Doc: limp.M{"name": "x"}}}}, "no _id"},
		{limp.Config{DataIndexes: []limp.DataIndex{{Collection: "item", Keys: []limp.IndexKey{{Path: "nope"}}}}}, `no attr "nope"`},
		{limp.Config{DataIndexes: []limp.DataIndex{{Collection: "nope", Keys: []limp.IndexKey{{Path: "name"}}}}}, `collection "nope"`},
	} {
		tc.cfg.Name = "t"
		app := limp.New(limptest.Config(t, tc.cfg))
		app.Register("test", itemModule("item"))
		if err := app.Start(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start: %v, want %q", err, tc.want)
		}
	}
}

// TestProxyModule: a proxy shares its target's collection and attrs, has
// its own permissions, copies undeclared methods, runs the target's hooks
// before its own, and pre hooks pass a payload to on hooks.
func TestProxyModule(t *testing.T) {
	items := itemModule("item")
	items.Hooks = limp.Hooks{
		PreRead: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			c.Payload = limp.M{"order": []string{"target-pre"}}
			return nil, nil
		},
		OnRead: func(ctx context.Context, c *limp.Call, r *limp.Result) (*limp.Result, error) {
			r.Args["order"] = append(c.Payload["order"].([]string), "target-on")
			return r, nil
		},
	}
	board := limp.NewProxy("board", "item", limp.Methods{
		"read": {Permissions: limp.Perms("admin")},
	})
	board.Hooks = limp.Hooks{
		PreRead: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			c.Payload["order"] = append(c.Payload["order"].([]string), "proxy-pre")
			return nil, nil
		},
		OnRead: func(ctx context.Context, c *limp.Call, r *limp.Result) (*limp.Result, error) {
			r.Args["order"] = append(r.Args["order"].([]string), "proxy-on")
			return r, nil
		},
	}
	staff := limp.NewProxy("staff", "user", limp.Methods{"delete": {Permissions: limp.Perms("delete")}})
	s := startApp(t, limp.Config{Name: "t", AnonPrivileges: limp.Privileges{"item": {"*"}, "board": {"create"}, "staff": {"delete"}},
		QuotaIPMin: -1, QuotaAnonMin: -1}, items, board, staff)
	c := dial(t, s.WS)
	r := must(t, c.call("item/read", nil, nil))
	if got := r.Args["order"]; !slices.Equal(anyStrings(got), []string{"target-pre", "target-on"}) {
		t.Fatalf("target hooks/payload %v", got)
	}
	// board/create is copied from item, under board's own privileges.
	r = must(t, c.call("board/create", nil, map[string]any{"name": "via-proxy"}))
	wantErr(t, c.call("board/create", nil, map[string]any{"name": "via-proxy"}), 400, "TEST_BOARD_DUPLICATE_DOC")
	wantErr(t, c.call("board/read", nil, nil), 403, "CORE_SESSION_FORBIDDEN")
	d := docs(t, must(t, c.call("item/read", []any{map[string]any{"name": "via-proxy"}}, nil)))
	if len(d) != 1 {
		t.Fatalf("doc created through the proxy not in the target's collection: %v", d)
	}
	// The target's system docs are the proxy's too.
	r = must(t, c.call("staff/delete", []any{map[string]any{"_id": limp.AdminUserID.Hex()}}, nil))
	if r.Args["count"] != 0.0 {
		t.Fatalf("staff/delete removed the ADMIN user: %+v", r)
	}
	signIn(t, c, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	r = must(t, c.call("board/read", nil, nil))
	if got := r.Args["order"]; !slices.Equal(anyStrings(got), []string{"target-pre", "proxy-pre", "target-on", "proxy-on"}) {
		t.Fatalf("proxy hook order %v", got)
	}
	if len(docs(t, r)) != 1 {
		t.Fatalf("board/read docs %v", r.Args["docs"])
	}

	for _, tc := range []struct {
		m    *limp.Module
		want string
	}{
		{limp.NewProxy("p", "nope", nil), `proxies unknown module "nope"`},
		{limp.NewProxy("p", "p", nil), "proxies itself"},
		{limp.NewProxy("p", "board", nil), "itself a proxy"},
		{limp.NewProxy("p", "svc", nil), "service module"},
	} {
		app := limp.New(limptest.Config(t, limp.Config{Name: "t"}))
		svc := limp.NewService("svc", limp.Methods{"x": {Permissions: limp.Perms("*"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) { return limp.OK("", nil), nil }}})
		app.Register("test", itemModule("item"), limp.NewProxy("board", "item", nil), svc, tc.m)
		if err := app.Start(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start: %v, want %q", err, tc.want)
		}
	}
}

func anyStrings(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i], _ = e.(string)
		}
		return out
	}
	return nil
}

// Ref is a document whose references are expanded per document.
type Ref struct {
	Kind   string   `json:"kind"`
	Fields []string `json:"fields" limp:"default=[]"`
	Target limp.ID  `json:"target"`
	Cond   *limp.ID `json:"cond"`
}

// TestDynamicExtns: an extn's module and attrs come from the document
// ("$__doc.<path>"), or a function chooses it per document (conditional).
func TestDynamicExtns(t *testing.T) {
	refs := limp.NewModule[Ref]("ref", limp.Methods{
		"read": {Permissions: limp.Perms("*")}, "create": {Permissions: limp.Perms("*")},
	})
	refs.Extns = map[string]*limp.Extn{
		"target": {Module: "$__doc.kind", Attrs: []string{"$__doc.fields"}},
		"cond": {Func: func(ctx context.Context, c *limp.Call, doc limp.M) (*limp.Extn, error) {
			if doc["kind"] != "item" {
				return nil, nil // left as the id
			}
			return &limp.Extn{Module: "item", Attrs: []string{"note"}}, nil
		}},
	}
	secret := itemModule("secret") // ANON may not read it
	s := startApp(t, limp.Config{Name: "t", AnonPrivileges: limp.Privileges{"item": {"*"}, "ref": {"*"}, "secret": {"create"}},
		QuotaIPMin: -1, QuotaAnonMin: -1}, itemModule("item"), secret, refs, limp.NewProxy("ref_view", "ref", limp.Methods{"read": {Permissions: limp.Perms("*")}}))
	c := dial(t, s.WS)
	id := func(r reply) string { return docs(t, r)[0]["_id"].(string) }
	it := id(must(t, c.call("item/create", nil, map[string]any{"name": "i1", "note": "n1"})))
	sc := id(must(t, c.call("secret/create", nil, map[string]any{"name": "s1", "note": "hidden"})))
	r1 := id(must(t, c.call("ref/create", nil, map[string]any{"kind": "item", "fields": []any{"name"}, "target": it, "cond": it})))
	r2 := id(must(t, c.call("ref/create", nil, map[string]any{"kind": "secret", "target": sc, "cond": sc})))
	r3 := id(must(t, c.call("ref/create", nil, map[string]any{"kind": "nope", "target": it})))
	got := map[string]map[string]any{}
	for _, d := range docs(t, must(t, c.call("ref/read", nil, nil))) {
		got[d["_id"].(string)] = d
	}
	if tg, ok := got[r1]["target"].(map[string]any); !ok || tg["name"] != "i1" || tg["note"] != nil || tg["_id"] != it {
		t.Errorf("dynamic module and attrs: target %v", got[r1]["target"])
	}
	if cd, ok := got[r1]["cond"].(map[string]any); !ok || cd["note"] != "n1" || cd["name"] != nil {
		t.Errorf("conditional extn applied: cond %v", got[r1]["cond"])
	}
	if got[r2]["target"] != nil {
		t.Errorf("a module the caller may not read expands to null, got %v", got[r2]["target"])
	}
	if got[r2]["cond"] != sc {
		t.Errorf("conditional extn not applied: cond %v, want the id", got[r2]["cond"])
	}
	if got[r3]["target"] != nil {
		t.Errorf("unknown module from the doc expands to null, got %v", got[r3]["target"])
	}
	// A proxy shares the extensions: its read expands the same way.
	for _, d := range docs(t, must(t, c.call("ref_view/read", []any{map[string]any{"_id": r1}}, nil))) {
		if tg, ok := d["target"].(map[string]any); !ok || tg["name"] != "i1" {
			t.Errorf("proxy read: target %v", d["target"])
		}
	}
}

// TestGenerateRefServices: the API reference documents interceptors,
// L10N, app docs, data indexes and proxies.
func TestGenerateRefServices(t *testing.T) {
	app := limp.New(limptest.Config(t, limp.Config{Name: "t", Locale: "en_AE",
		Docs: []limp.AppDoc{{Module: "item", Doc: limp.M{"_id": "aaaaaaaaaaaaaaaaaaaaaaaa", "name": "x"}}}}))
	app.RegisterConfig("test", limp.Config{
		DataIndexes: []limp.DataIndex{{Collection: "item", Keys: []limp.IndexKey{{Path: "note", Text: true}, {Path: "name", Desc: true}}}}})
	app.Use(func(next limp.Handler) limp.Handler { return next })
	app.L10N("en_AE", map[string]string{"a": "A"})
	app.Register("test", itemModule("item"), limp.NewProxy("board", "item", nil))
	var out strings.Builder
	if err := app.GenerateRef(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Interceptors: 1 around every client call", "L10N dictionaries (read with `l10n/read`): `en_AE` (1 keys)",
		"- `item` `aaaaaaaaaaaaaaaaaaaaaaaa`", "- `item`: note (text), name (-1)", "Proxy of `item`", "## l10n", "#### `l10n/read`"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("reference lacks %q", want)
		}
	}
}
