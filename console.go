package limp

import (
	"embed"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	tsclient "github.com/limp-go/limp/clients/ts"
)

// ConsoleMode says whether the app serves the browser console (Config.Console).
type ConsoleMode uint8

// Console modes.
const (
	// ConsoleAuto serves the console unless Config.Production is set.
	ConsoleAuto ConsoleMode = iota
	// ConsoleOn serves the console in every environment.
	ConsoleOn
	// ConsoleOff never serves it.
	ConsoleOff
)

// consolePath is where the console is served.
const consolePath = "/console"

// consoleFiles is the console: static HTML, CSS and ES modules. Its
// limp.js is the TypeScript client's build itself, embedded by package
// tsclient (clients/ts/dist/index.js), not a copy.
//
//go:embed webconsole
var consoleFiles embed.FS

// consoleClient is the console file served from the TypeScript client's
// build.
const consoleClient = "limp.js"

// ConsoleEnabled reports whether the app serves the console at /console/
// (Config.Console; by default everywhere but in production).
func (a *App) ConsoleEnabled() bool {
	switch a.cfg.Console {
	case ConsoleOn:
		return true
	case ConsoleOff:
		return false
	}
	return !a.cfg.Production
}

// serveConsole serves GET /console/ (the page), /console/<file> (its
// assets) and /console/api.json (the app's APIDescription, plus the anon
// token outside production, which the page needs to sign anonymous calls).
// It reports false, so that the request goes on to LIMP's HTTP interface,
// for other paths and methods and when the console is off.
func (a *App) serveConsole(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	if p != consolePath && !strings.HasPrefix(p, consolePath+"/") || !a.ConsoleEnabled() {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false // the console is read-only; other methods go to the HTTP interface
	}
	var body []byte
	name := strings.TrimPrefix(p, consolePath+"/")
	switch {
	case p == consolePath, name == "api.json":
	default:
		if name == "" {
			name = "index.html"
		}
		name = path.Clean("/" + name)[1:]
		if name == consoleClient {
			body = tsclient.IndexJS
			break
		}
		b, err := fs.ReadFile(consoleFiles, "webconsole/"+name)
		if err != nil || strings.HasPrefix(path.Base(name), ".") {
			// Not a console file: a module named "console" may serve it.
			return false
		}
		body = b
	}
	h := w.Header()
	h.Set("Server", "limpd")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "+
		"connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	if p == consolePath {
		http.Redirect(w, r, consolePath+"/", http.StatusMovedPermanently)
		return true
	}
	if name == "api.json" {
		a.serveConsoleAPI(w)
		return true
	}
	typ := mime.TypeByExtension(path.Ext(name))
	if typ == "" {
		typ = "application/octet-stream"
	}
	h.Set("Content-Type", typ)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
	return true
}

// consoleAPI is what /console/api.json serves.
type consoleAPI struct {
	*APIDescription
	// AnonToken is Config.AnonToken, sent only outside production.
	AnonToken string `json:"anon_token,omitempty"`
	// Production is Config.Production.
	Production bool `json:"production"`
	// Realm is Config.Realm: the page then connects to /ws/__global (a
	// realm-mode app refuses /ws) and shows the URL to edit for a realm.
	Realm bool `json:"realm,omitempty"`
}

func (a *App) serveConsoleAPI(w http.ResponseWriter) {
	d, err := a.Describe()
	if err != nil {
		a.writeHTTPError(w, err, "console/api")
		return
	}
	out := consoleAPI{APIDescription: d, Production: a.cfg.Production, Realm: a.cfg.Realm}
	if !a.cfg.Production {
		out.AnonToken = a.cfg.AnonToken
	}
	b, err := json.Marshal(out)
	if err != nil {
		a.writeHTTPError(w, err, "console/api")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}
