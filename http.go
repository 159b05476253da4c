package limp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/limp-go/limp/internal/jsonv"
)

// MaxHTTPBody bounds the JSON body of an HTTP POST call (LIMP: 1 MiB).
const MaxHTTPBody = 1 << 20

// setHTTPHeaders sets LIMP's common response headers (spec §10.2), with
// the X-Auth headers allowed so that authenticated cross-origin calls work.
func setHTTPHeaders(h http.Header, methods string) {
	h.Set("Server", "limpd")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", methods)
	h.Set("Access-Control-Allow-Headers", "Content-Type, X-Auth-Bearer, X-Auth-Token")
	h.Set("Access-Control-Expose-Headers", "Content-Disposition")
	h.Set("X-Content-Type-Options", "nosniff")
}

// writeHTTP writes a JSON reply {status, msg, args} with the HTTP status.
func writeHTTP(w http.ResponseWriter, status int, msg string, args M) {
	body, err := encodeReply(nil, status, msg, args, nil, false)
	if err != nil {
		body, _ = encodeReply(nil, 500, msgServerError, M{"code": CodeServerError}, nil, false)
		status = 500
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if status < 100 || status > 599 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serveHTTPCall serves LIMP's HTTP interface (spec §10): GET / and the
// methods declared GetMethod or PostMethod at /{module}/{method}/{args...}.
func (a *App) serveHTTPCall(w http.ResponseWriter, r *http.Request) {
	a.callsWG.Add(1)
	defer a.callsWG.Done()
	if r.Method == http.MethodOptions {
		setHTTPHeaders(w.Header(), "GET, POST")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.URL.Path == "/" {
		setHTTPHeaders(w.Header(), "GET")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeHTTP(w, 405, "Method not allowed.", nil)
			return
		}
		writeHTTP(w, 200, "Welcome to LIMP!", nil)
		return
	}
	if a.serveFiles(w, r) { // files.go
		return
	}
	setHTTPHeaders(w.Header(), "GET, POST")
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 {
		writeHTTP(w, 404, "404 NOT FOUND", nil)
		return
	}
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			writeHTTP(w, 400, "Path is not valid.", M{"code": CodeInvalidPath})
			return
		}
		parts[i] = u
	}
	endpoint := strings.ToLower(parts[0] + "/" + parts[1])
	m, meth, err := a.dispatch(endpoint)
	if err != nil {
		writeHTTP(w, 404, "404 NOT FOUND", nil)
		return
	}
	setMetricsEndpoint(w, endpoint)
	switch {
	case r.Method == http.MethodGet && meth.GetMethod, r.Method == http.MethodPost && meth.PostMethod:
	default:
		writeHTTP(w, 405, "Method not allowed.", nil)
		return
	}
	if err := a.checkIPQuota(remoteIP(r)); err != nil {
		a.writeHTTPError(w, err, endpoint)
		return
	}
	q, err := httpQuery(meth, parts[2:])
	if err != nil {
		a.writeHTTPError(w, m.Error(400, CodeInvalidAttr, err.Error()), endpoint)
		return
	}
	doc := M{}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxHTTPBody))
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			writeHTTP(w, 413, "Request body is too large.", M{"code": CodeRequestTooLarge})
			return
		case errors.Is(err, errBodyTimeout):
			a.writeHTTPError(w, errBodyTooSlow, "")
			return
		case err != nil:
			writeHTTP(w, 400, "Request body could not be read.", M{"code": "CORE_REQ_INVALID_BODY"})
			return
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			v, err := jsonv.ParseLimited(body, jsonv.Limits{MaxValues: a.cfg.MaxFrameValues, MaxDepth: a.cfg.MaxFrameDepth})
			obj, ok := v.(map[string]any)
			if err != nil || !ok {
				writeHTTP(w, 400, "Request body must be a JSON object.", M{"code": "CORE_REQ_INVALID_BODY"})
				return
			}
			doc = obj
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.CallTimeout)
	defer cancel()
	sess, err := a.httpSession(ctx, r)
	if err != nil {
		a.writeHTTPError(w, err, endpoint)
		return
	}
	call := &Call{Endpoint: endpoint, Module: m, Method: meth, Query: q, Doc: doc, Session: sess,
		RemoteAddr: remoteIP(r), UserAgent: r.UserAgent(), Origin: r.Header.Get("Origin"), ClientApp: "__http", app: a}
	if err := call.guardClientFiles(); err != nil { // filekeep.go
		a.writeHTTPError(w, err, endpoint)
		return
	}
	a.callAnalytics(ctx, call) // analytic.go
	res, err := a.runClient(ctx, call)
	if err != nil {
		a.writeHTTPError(w, err, endpoint)
		return
	}
	if h, ok := res.Args["return"]; ok && h == "msg" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(res.Status)
		_, _ = io.WriteString(w, res.Msg)
		return
	}
	if res.Status == 404 {
		writeHTTP(w, 404, "Requested content not found.", nil)
		return
	}
	writeHTTP(w, res.Status, res.Msg, res.Args)
}

func (a *App) writeHTTPError(w http.ResponseWriter, err error, endpoint string) {
	status, msg, args := a.wireError(err, endpoint)
	writeHTTP(w, status, msg, args)
}

// httpQuery builds the call's query from the path args: the i-th path
// segment is the value of the method's i-th HTTP path arg.
func httpQuery(meth *Method, args []string) (*Query, error) {
	names := meth.pathArgs()
	if len(args) > len(names) {
		return nil, errors.New("too many path args for this method")
	}
	if len(args) == 0 {
		return &Query{}, nil
	}
	step := jsonv.Object{}
	for i, v := range args {
		step = append(step, jsonv.Member{Key: names[i], Value: v})
	}
	return &Query{steps: []any{step}}, nil
}

// pathArgs returns the names of the method's HTTP path args: PathArgs when
// set, else the sorted keys of its first QueryArgs set.
func (m *Method) pathArgs() []string {
	if m.PathArgs != nil {
		return m.PathArgs
	}
	if len(m.QueryArgs) == 0 {
		return nil
	}
	var names []string
	for k := range m.QueryArgs[0] {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// httpSession returns the session of an HTTP call: the one named by the
// X-Auth-Bearer (user _id) and X-Auth-Token (session token) headers, or
// ANON without them (spec §4.10).
func (a *App) httpSession(ctx context.Context, r *http.Request) (*Session, error) {
	bearer, token := r.Header.Get("X-Auth-Bearer"), r.Header.Get("X-Auth-Token")
	if bearer == "" && token == "" {
		return a.anon, nil
	}
	if bearer == "" || token == "" {
		return nil, NewError(400, "CORE_SESSION_INVALID_XAUTH", "One 'X-Auth' headers was set but not the other.")
	}
	s, err := a.sessionByToken(ctx, bearer, token)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, NewError(403, CodeInvalidXAuth, "X-Auth headers could not be verified.")
	}
	return s, nil
}
