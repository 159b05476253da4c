package limp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/store"
)

// Call is one method call: who makes it, to which endpoint, with which
// query and doc. Hooks and handlers receive it; they may change Query and
// Doc. Not safe for concurrent use.
type Call struct {
	// Endpoint is "module/method", lower-cased.
	Endpoint string
	// CallID is the client's call_id, echoed in the reply.
	CallID any
	// Module and Method are the endpoint's declarations.
	Module *Module
	Method *Method
	// Query and Doc are the call's query and doc, after permission
	// modifiers once the permission check has run.
	Query *Query
	Doc   M
	// Session is the caller's session (ANON when unauthenticated).
	Session *Session
	// RemoteAddr is the client's IP; UserAgent and Origin its headers.
	RemoteAddr string
	UserAgent  string
	Origin     string
	// ClientApp is the app id given to conn/verify ("__public" when the
	// app declares no client apps).
	ClientApp string
	// Payload carries data from a base method's Pre hook to its On hook
	// (LIMP's payload, spec §6.10): nil until a hook sets it (a Pre hook
	// assigns c.Payload = limp.M{...}); an On hook reads it. A proxy's
	// hooks share it with its target's. Internal calls start with nil.
	Payload M
	// Realm is the realm the call runs in (realm mode, spec §5.6): the
	// one its URL names, else its context's (WithRealm), else
	// GlobalRealm; empty outside realm mode.
	Realm string

	app  *App
	conn *conn
	skip skipSet
	// switchTo is the session the connection switches to after the call.
	switchTo *Session
	// badSwitch is set when SwitchSession was asked for the system session.
	badSwitch bool
	// expandRead marks the read expandBatch makes to expand a reference
	// (expand_cache.go).
	expandRead bool
	// wire marks a client's call over the websocket, whose result goes
	// to the reply encoder (readraw.go).
	wire bool

	// clientFiles are the file objects the client wrote in Doc (filekeep.go).
	clientFiles []map[string]any
}

// App returns the app the call runs in.
func (c *Call) App() *App { return c.app }

// skipSet are the pipeline stages an internal call skips (spec §5.4).
type skipSet uint16

const (
	skipPerm skipSet = 1 << iota
	skipArgs
	skipPre
	skipOn
	skipExtn
)

// Result is a method's reply: status, message and args (spec §3.3).
type Result struct {
	Status int
	Msg    string
	Args   M
}

// OK returns a 200 Result.
func OK(msg string, args M) *Result {
	if args == nil {
		args = M{}
	}
	return &Result{Status: 200, Msg: msg, Args: args}
}

// SwitchSession makes the connection switch to s once the call returns,
// as LIMP does for any result carrying args.session (spec §2.5). The
// reply's args.session is set to s.Doc. A result that carries
// args.session without SwitchSession switches the connection too, once
// that session is checked (it must be ANON's, or a stored session named
// with its token); see switch.go.
//
// The system session (App.SystemSession) is never given to a client: the
// call then fails with a 500 instead.
func (c *Call) SwitchSession(r *Result, s *Session) {
	if s.System() {
		c.badSwitch = true
		return
	}
	c.switchTo = s
	if r.Args == nil {
		r.Args = M{}
	}
	r.Args["session"] = s.Doc
}

// claims are the parts of a call's JWT payload the server reads.
type claims struct {
	endpoint string
	query    any
	rawDoc   jsonv.Object // converted by doc() when a call needs it
	callID   any
	hasID    bool
}

// doc returns the payload's doc as a map (empty if absent).
func (c *claims) doc() M {
	if c.rawDoc == nil {
		return M{}
	}
	return toMap(c.rawDoc).(M)
}

// verifyHS256 verifies a compact JWS signed with HMAC-SHA256 and returns
// its decoded payload. The protected header must name alg HS256 and may
// carry typ and nothing else the server would have to understand (crit,
// b64, jku, ...). It is the hot path of every call, so it does the
// work directly with crypto/hmac; FuzzVerifyHS256 checks it never
// accepts what jws.VerifyCompactFast (jwx) refuses. The payload is
// decoded into dst's storage when it is large enough.
func verifyHS256(token string, key []byte, dst []byte) ([]byte, error) {
	h, rest, ok1 := strings.Cut(token, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") {
		return nil, errors.New("token is not a compact JWS")
	}
	if err := checkJWSHeader(h); err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, key)
	// The signing input is hashed in place: a file chunk's token is
	// megabytes, and hmac neither keeps nor changes what it is given.
	signed := token[:len(h)+1+len(p)]
	mac.Write(unsafe.Slice(unsafe.StringData(signed), len(signed)))
	want := mac.Sum(nil)
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return nil, errors.New("signature does not match")
	}
	return decodeB64(p, dst)
}

// checkJWSHeader checks a JWS protected header (base64url): alg HS256,
// and nothing else than typ, cty and kid (strings).
func checkJWSHeader(h string) error {
	header, err := base64.RawURLEncoding.Strict().DecodeString(h)
	if err != nil {
		return errors.New("header is not base64url")
	}
	hv, err := jsonv.ParseLimited(header, headerLimits)
	hm, ok := hv.(map[string]any)
	if err != nil || !ok || hm["alg"] != "HS256" {
		return errors.New("only HS256 is accepted")
	}
	for k, v := range hm {
		switch k {
		case "alg":
		case "typ", "cty", "kid":
			if _, ok := v.(string); !ok {
				return errors.New("malformed header")
			}
		default:
			return fmt.Errorf("header parameter %q is not accepted", k)
		}
	}
	return nil
}

// decodeB64 decodes base64url (unpadded, strict) into dst's storage when
// it is large enough.
func decodeB64(s string, dst []byte) ([]byte, error) {
	enc := base64.RawURLEncoding.Strict()
	n := enc.DecodedLen(len(s))
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	m, err := enc.Decode(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
	if err != nil {
		return nil, errors.New("payload is not base64url")
	}
	return dst[:m], nil
}

// verifyToken checks a call's compact JWS against key (HS256 only) and its
// registered claims, and returns the payload's call fields. The payload
// is decoded into buf's storage (nil: a new buffer); the claims keep no
// reference to it.
func verifyToken(token string, key []byte, now time.Time, buf []byte) (*claims, error) {
	return verifyTokenLimits(token, key, now, buf, defaultPayloadLimits)
}

// verifyTokenLimits is verifyToken with the payload decoded within lim
// (Config.MaxFrameValues and MaxFrameDepth).
func verifyTokenLimits(token string, key []byte, now time.Time, buf []byte, lim jsonv.Limits) (*claims, error) {
	payload, err := verifyHS256(token, key, buf)
	if err != nil {
		return nil, err
	}
	return payloadClaims(payload, now, lim)
}

// payloadClaims decodes a verified payload within lim and checks its
// registered claims.
func payloadClaims(payload []byte, now time.Time, lim jsonv.Limits) (*claims, error) {
	v, err := jsonv.ParseOrderedLimited(payload, lim)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(jsonv.Object)
	if !ok {
		return nil, errors.New("payload is not an object")
	}
	c := &claims{}
	unix := float64(now.Unix())
	for _, m := range obj {
		switch m.Key {
		case "exp":
			t, ok := numericDate(m.Value)
			if !ok || unix >= t {
				return nil, errors.New("token expired or exp malformed")
			}
		case "nbf":
			t, ok := numericDate(m.Value)
			if !ok || unix < t {
				return nil, errors.New("token not valid yet or nbf malformed")
			}
		case "iat":
			if _, ok := numericDate(m.Value); !ok {
				return nil, errors.New("iat is not a number")
			}
		case "aud":
			return nil, errors.New("aud is not accepted")
		case "endpoint":
			s, ok := m.Value.(string)
			if !ok {
				return nil, errInvalidPath
			}
			c.endpoint = s
		case "query":
			c.query = m.Value
		case "doc":
			switch d := m.Value.(type) {
			case nil:
			case jsonv.Object:
				c.rawDoc = d
			default:
				return nil, errors.New("doc is not an object")
			}
		case "call_id":
			c.callID, c.hasID = m.Value, true
		}
	}
	return c, nil
}

func numericDate(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x)
	}
	return 0, false
}

// Decode limits of a frame's parts (Config.MaxFrameValues and
// MaxFrameDepth bound the payload): the outer frame is {token, call_id}
// and the JWS header a few names, so either holding more is refused
// before it costs more than a scan.
var (
	outerFrameLimits     = jsonv.Limits{MaxValues: 64, MaxDepth: 8}
	headerLimits         = jsonv.Limits{MaxValues: 16, MaxDepth: 2}
	defaultPayloadLimits = jsonv.Limits{MaxValues: DefaultMaxFrameValues, MaxDepth: DefaultMaxFrameDepth}
)

// frame is a decoded outer websocket frame {token, call_id}.
type frame struct {
	token  string
	callID any
}

// decodeFrame parses an outer frame. Any failure is a 403
// CORE_REQ_INVALID_TOKEN (the frame carries no usable token); the call_id
// is returned when it could be read.
func decodeFrame(data []byte) (frame, error) {
	if f, ok := decodeFrameFast(data); ok {
		return f, nil
	}
	return decodeFrameSlow(data)
}

// decodeFrameFast decodes the usual frame, {"token": "...", "call_id":
// "..."} with plain strings, without building a map. It reports false for
// anything else (escapes, numbers, other keys, malformed input), which
// decodeFrameSlow then handles; FuzzDecodeFrame checks they agree.
func decodeFrameFast(data []byte) (frame, bool) {
	var f frame
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return f, false
	}
	i++
	seen := 0
	for {
		i = skipWS(data, i)
		key, j, ok := plainString(data, i)
		if !ok {
			return f, false
		}
		i = skipWS(data, j)
		if i >= len(data) || data[i] != ':' {
			return f, false
		}
		i = skipWS(data, i+1)
		val, j, ok := plainString(data, i)
		if !ok {
			return f, false
		}
		i = skipWS(data, j)
		switch key {
		case "token":
			if seen&1 != 0 || val == "" {
				return f, false
			}
			seen |= 1
			f.token = val
		case "call_id":
			if seen&2 != 0 {
				return f, false
			}
			seen |= 2
			f.callID = strings.Clone(val) // echoed later: not a view of data
		default:
			return f, false
		}
		if i >= len(data) {
			return f, false
		}
		if data[i] == '}' {
			break
		}
		if data[i] != ',' {
			return f, false
		}
		i++
	}
	if skipWS(data, i+1) != len(data) || seen&1 == 0 {
		return f, false
	}
	return f, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at b[i] that has no escapes and only
// printable ASCII, returning it and the index after its closing quote.
// The string is a view of b, not a copy: a token of a file chunk is
// megabytes, and frames are read into recycled buffers, so callers copy
// whatever outlives the frame (decodeFrame's token is only verified).
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if j == i+1 {
				return "", j + 1, true
			}
			return unsafe.String(&b[i+1], j-i-1), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return "", i, false
		}
	}
	return "", i, false
}

func decodeFrameSlow(data []byte) (frame, error) {
	v, err := jsonv.ParseLimited(data, outerFrameLimits)
	if err != nil {
		return frame{}, errInvalidToken
	}
	m, ok := v.(map[string]any)
	if !ok {
		return frame{}, errInvalidToken
	}
	f := frame{callID: m["call_id"]}
	switch f.callID.(type) {
	case nil, string, int64, float64:
	default:
		f.callID = nil // only scalars are echoed
	}
	tok, ok := m["token"].(string)
	if !ok || tok == "" {
		return f, errInvalidToken
	}
	f.token = tok
	return f, nil
}

// splitEndpoint checks "module/method".
func splitEndpoint(ep string) (mod, meth string, ok bool) {
	mod, meth, ok = strings.Cut(ep, "/")
	if !ok || mod == "" || meth == "" || strings.Contains(meth, "/") {
		return "", "", false
	}
	return mod, meth, true
}

// dispatch resolves an endpoint to its module and method.
func (a *App) dispatch(endpoint string) (*Module, *Method, error) {
	modName, methName, ok := splitEndpoint(endpoint)
	if !ok {
		return nil, nil, errInvalidPath
	}
	m := a.modules[modName]
	if m == nil {
		return nil, nil, errInvalidModule
	}
	meth := m.Methods[methName]
	if meth == nil {
		return nil, nil, errInvalidMethod
	}
	return m, meth, nil
}

// run runs a call through the pipeline (spec §6.8): permissions, args,
// handler. A panic in app code becomes a 500.
func (a *App) run(ctx context.Context, c *Call) (res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v\n%s", c.Endpoint, r, debug.Stack())
			res = nil
		}
	}()
	ctx = a.enterRealm(ctx, c) // realm.go
	if c.Query == nil {
		c.Query = &Query{}
	}
	if c.Doc == nil {
		c.Doc = M{}
	}
	if c.skip&skipPerm == 0 {
		if err := a.checkPermissions(ctx, c); err != nil {
			return nil, err
		}
	}
	if c.skip&skipArgs == 0 {
		if err := c.checkArgs(); err != nil {
			return nil, err
		}
	}
	if h := c.Method.Handler; h != nil {
		res, err = h(ctx, c)
	} else {
		res, err = a.baseMethod(ctx, c)
	}
	if c.badSwitch {
		return nil, fmt.Errorf("%s: %w", c.Endpoint, errSystemSwitch)
	}
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, fmt.Errorf("%s returned no result and no error", c.Endpoint)
	}
	return res, nil
}

// Invoke runs endpoint's method as an internal call (from a hook, a
// handler, a job or start-up code) under session s (nil: ANON), through
// the same pipeline as a client call (spec §6.8): permissions, args,
// hooks, handler. opts skip stages, as LIMP's skip_events do (spec §5.4):
//
//	app.Invoke(ctx, app.SystemSession(), "report/build", q, doc)
//	app.Invoke(ctx, s, "user/read", q, nil, limp.SkipPermissions|limp.SkipExtensions)
//
// "__sys" methods, which no client can reach, run with the system session
// (App.SystemSession) or with SkipPermissions. The call has no call_id,
// attaches no uploads and runs as client app "__sys" from 127.0.0.1; its
// result is returned. q and doc are not modified (the call works on
// copies); nil means empty. Errors are *Error for LIMP's refusals (403
// CORE_SESSION_FORBIDDEN, 400 ..._INVALID_QUERY, ...), others as returned
// by the method. Use Call.Invoke to call with a client's context. Safe for
// concurrent use.
func (a *App) Invoke(ctx context.Context, s *Session, endpoint string, q *Query, doc M, opts ...InvokeOption) (*Result, error) {
	return a.invoke(ctx, &Call{Session: s, RemoteAddr: "127.0.0.1", UserAgent: "limp-go", ClientApp: "__sys"}, endpoint, q, doc, opts)
}

// checkArgs validates the call against the method's query_args and
// doc_args sets (spec §8.7), converting the matched set's values in place.
func (c *Call) checkArgs() error {
	m := c.Module
	cc := c.app.convertCtx()
	if sets := c.Method.QueryArgs; len(sets) > 0 {
		var failed []string
		matched := false
		for _, set := range sets {
			fails, apply := checkArgSet(cc, set, func(arg string) ([]any, bool) {
				if strings.HasPrefix(arg, "$") {
					v, ok := c.Query.Special(arg)
					return []any{v}, ok
				}
				vs := c.Query.Values(arg)
				return vs, len(vs) > 0
			})
			if len(fails) == 0 {
				for arg, vals := range apply {
					c.Query.setValues(arg, vals)
				}
				matched = true
				break
			}
			failed = append(failed, "["+strings.Join(fails, ", ")+"]")
		}
		if !matched {
			return m.Error(400, CodeInvalidQuery, "Could not match query with any of the required query_args. Failed sets:"+strings.Join(failed, ", "))
		}
	}
	if sets := c.Method.DocArgs; len(sets) > 0 {
		var failed []string
		matched := false
		for _, set := range sets {
			fails, apply := checkArgSet(cc, set, func(arg string) ([]any, bool) {
				v, ok := c.Doc[arg]
				return []any{v}, ok
			})
			if len(fails) == 0 {
				for arg, vals := range apply {
					c.Doc[arg] = vals[0]
				}
				matched = true
				break
			}
			failed = append(failed, "["+strings.Join(fails, ", ")+"]")
		}
		if !matched {
			return m.Error(400, CodeInvalidDoc, "Could not match doc with any of the required doc_args. Failed sets:"+strings.Join(failed, ", "))
		}
	}
	return nil
}

// checkArgSet checks one args set; it returns the failing args rendered as
// LIMP does ("'_id': Missing") and the converted values of every arg.
func checkArgSet(cc *convertCtx, set Args, get func(string) ([]any, bool)) ([]string, map[string][]any) {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	var fails []string
	apply := map[string][]any{}
	for _, n := range names {
		vals, ok := get(n)
		if !ok {
			fails = append(fails, fmt.Sprintf("'%s': Missing", n))
			continue
		}
		conv := make([]any, len(vals))
		for i, v := range vals {
			x, err := set[n].convert(cc, toMap(v), n)
			if err != nil {
				mark := "Invalid"
				var ae *attrError
				if errors.As(err, &ae) {
					switch ae.kind {
					case errConvert:
						mark = "Convert"
					case errMissing:
						mark = "Missing"
					}
				}
				fails = append(fails, fmt.Sprintf("'%s': %s", n, mark))
				conv = nil
				break
			}
			conv[i] = x
		}
		if conv != nil {
			apply[n] = conv
		}
	}
	return fails, apply
}

// setValues replaces, in order, the equality values of attr (the ones
// Values returns) with vals.
func (q *Query) setValues(attr string, vals []any) {
	i := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case jsonv.Object:
			for j := range x {
				m := &x[j]
				switch {
				case m.Key == attr && i < len(vals):
					if o, ok := m.Value.(jsonv.Object); ok && len(o) == 1 && strings.HasPrefix(o[0].Key, "$") {
						if o[0].Key == "$eq" {
							o[0].Value = vals[i]
							i++
						}
						continue
					}
					m.Value = vals[i]
					i++
				case strings.HasPrefix(m.Key, "__or"):
					walk(m.Value)
				}
			}
		}
	}
	walk(q.steps)
}

// errorID returns a short random id that ties a 500 reply to its log line.
func errorID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// wireError converts any error to the reply's status, msg and args,
// logging unexpected errors once with an error id.
func (a *App) wireError(err error, endpoint string) (int, string, M) {
	var e *Error
	if errors.As(err, &e) {
		args := M{}
		for k, v := range e.Args {
			args[k] = v
		}
		args["code"] = e.Code
		return e.Status, e.Msg, args
	}
	var ue *store.UnsupportedError
	if errors.As(err, &ue) {
		return 501, fmt.Sprintf("The database server does not support %s, needed by %s.", ue.Feature, ue.Use),
			M{"code": CodeStoreUnsupported, "feature": ue.Feature}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return 503, "The call took too long and was stopped.", M{"code": "CORE_REQ_TIMEOUT"}
	}
	id := errorID()
	a.Logger().Error("call failed", "endpoint", endpoint, "error_id", id, "err", err)
	args := M{"code": CodeServerError, "error_id": id}
	msg := msgServerError
	if a.cfg.Debug {
		msg = fmt.Sprintf("Unexpected error has occured [method:%s] [%v].", endpoint, err)
		args["err"] = err.Error()
	}
	return 500, msg, args
}

// encodeReply appends the reply envelope {status, msg, args}.
func encodeReply(dst []byte, status int, msg string, args M, callID any, withID bool) ([]byte, error) {
	dst = append(dst, `{"status":`...)
	dst, _ = jsonv.Append(dst, int64(status))
	dst = append(dst, `,"msg":`...)
	dst = jsonv.AppendString(dst, msg)
	dst = append(dst, `,"args":{`...)
	keys := make([]string, 0, len(args))
	for k := range args {
		if k != "call_id" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	first := true
	if withID {
		dst = append(dst, `"call_id":`...)
		var err error
		if dst, err = jsonv.Append(dst, callID); err != nil {
			return dst, err
		}
		first = false
	}
	for _, k := range keys {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = jsonv.AppendString(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = jsonv.Append(dst, args[k]); err != nil {
			return dst, err
		}
	}
	return append(dst, "}}"...), nil
}
