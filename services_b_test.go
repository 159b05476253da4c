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
