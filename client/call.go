package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/coder/websocket"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Response is one server message (spec §3.3):
// {"status": <int>, "msg": "<text>", "args": {...}}.
type Response struct {
	// Status is LIMP's HTTP-like status: 200 on success; 400, 403, 404,
	// 429, 500 or the in-band 1008 on errors.
	Status int
	// Msg is the human-readable message.
	Msg string
	// Args is the decoded args object. Numbers are json.Number so that
	// integers and floats keep their lexical form.
	Args map[string]any
	// Raw is the whole message as received.
	Raw json.RawMessage

	args json.RawMessage // the args object's text, nil when absent or null
}

// rawArg returns the text of args[k]. Only the rare keys need it (the
// session of a sign-in or a switch), so the args are split into raw values
// only when Args has the key: one decoding of a reply fewer on every call.
func (r *Response) rawArg(k string) (json.RawMessage, bool) {
	if _, ok := r.Args[k]; !ok || r.args == nil {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.args, &m); err != nil {
		return nil, false
	}
	v, ok := m[k]
	return v, ok
}

// CallID returns args.call_id, or "" when absent.
func (r *Response) CallID() string { return r.argString("call_id") }

// Code returns args.code (for example "CORE_SESSION_INVALID_CREDS"), or ""
// when absent.
func (r *Response) Code() string { return r.argString("code") }

func (r *Response) argString(k string) string {
	s, _ := r.Args[k].(string)
	return s
}

// DecodeArgs decodes the args object into v with encoding/json.
func (r *Response) DecodeArgs(v any) error {
	args := r.args
	if args == nil {
		args = json.RawMessage("{}")
	}
	if err := json.Unmarshal(args, v); err != nil {
		return fmt.Errorf("decode response args: %w", err)
	}
	return nil
}

func (r *Response) asError() *Error {
	return &Error{Status: r.Status, Msg: r.Msg, Code: r.Code(), Response: r}
}

func decodeResponse(data []byte) (*Response, error) {
	var env struct {
		Status *int            `json:"status"`
		Msg    string          `json:"msg"`
		Args   json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	if env.Status == nil {
		return nil, errors.New("decode response: missing status")
	}
	r := &Response{Status: *env.Status, Msg: env.Msg, Raw: append(json.RawMessage(nil), data...)}
	if len(env.Args) > 0 && !bytes.Equal(env.Args, []byte("null")) {
		r.args = env.Args // json.Unmarshal copies a RawMessage
		d := json.NewDecoder(bytes.NewReader(env.Args))
		d.UseNumber()
		if err := d.Decode(&r.Args); err != nil {
			return nil, fmt.Errorf("decode response args: %w", err)
		}
	}
	if r.Args == nil {
		r.Args = map[string]any{}
	}
	return r, nil
}

// Error is a LIMP error response: any status other than 200. Match it with
// errors.As, or use [CodeOf].
type Error struct {
	// Status is the response status (400, 403, 404, 429, 500, 1008, ...).
	Status int
	// Msg is the server's message, verbatim.
	Msg string
	// Code is args.code, for example "CORE_SESSION_INVALID_CREDS"; it may be
	// empty.
	Code string
	// Response is the whole response.
	Response *Response
}

// Error implements error.
func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("limp error %d: %s", e.Status, e.Msg)
	}
	return fmt.Sprintf("limp error %d %s: %s", e.Status, e.Code, e.Msg)
}

// CodeOf returns the LIMP code of err if it is or wraps an [*Error], else "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// claims is the JWT payload of a call, in ng-limp's key order (spec §3.2).
type claims struct {
	CallID    string  `json:"call_id"`
	Endpoint  string  `json:"endpoint"`
	SID       string  `json:"sid"`
	Token     *string `json:"token,omitempty"`
	Query     any     `json:"query"`
	Doc       any     `json:"doc"`
	AwaitAuth *bool   `json:"awaitAuth,omitempty"`
	IAT       int64   `json:"iat"`
	EXP       int64   `json:"exp"`
}

// frameOut is the outer websocket frame (spec §3.1).
type frameOut struct {
	Token  string `json:"token"`
	CallID string `json:"call_id"`
}

// marshalJSON encodes v without HTML escaping (as Python and JavaScript do).
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// signClaims returns the compact HS256 JWS of cl with header
// {"alg":"HS256","typ":"JWT"}, keyed by the UTF-8 bytes of key.
func signClaims(cl *claims, key string) (string, error) {
	payload, err := marshalJSON(cl)
	if err != nil {
		return "", fmt.Errorf("encode call claims: %w", err)
	}
	h := jws.NewHeaders()
	if err := h.Set(jws.TypeKey, "JWT"); err != nil {
		return "", fmt.Errorf("sign call: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.HS256(), []byte(key), jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", fmt.Errorf("sign call: %w", err)
	}
	return string(tok), nil
}

// isNil reports whether v is nil or a nil pointer, map, slice or interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// frame builds a signed frame for a new call with the connection's current
// key and sid and returns it with its call id. It does not register the call.
func (c *Client) frame(endpoint string, query, doc any) ([]byte, string, error) {
	c.mu.Lock()
	id := c.newCallIDLocked()
	key, sid := c.key, c.sid
	c.mu.Unlock()
	b, err := c.sign(id, endpoint, sid, key, query, doc)
	return b, id, err
}

func (c *Client) sign(id, endpoint, sid, key string, query, doc any) ([]byte, error) {
	if isNil(query) {
		query = []any{}
	}
	if isNil(doc) {
		doc = map[string]any{}
	}
	now := time.Now()
	cl := &claims{
		CallID:   id,
		Endpoint: endpoint,
		SID:      sid,
		Query:    query,
		Doc:      doc,
		IAT:      now.Unix(),
		EXP:      now.Add(c.opts.TokenLifetime).Unix(),
	}
	if c.opts.NGLimpClaims {
		f := false
		cl.Token, cl.AwaitAuth = &key, &f
	}
	tok, err := signClaims(cl, key)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", endpoint, err)
	}
	b, err := marshalJSON(frameOut{Token: tok, CallID: id})
	if err != nil {
		return nil, fmt.Errorf("call %s: encode frame: %w", endpoint, err)
	}
	return b, nil
}

// Call sends one call to endpoint ("module/method") with the given query
// (nil means []) and doc (nil means {}) and waits for its response. query
// and doc are encoded with encoding/json.
//
// A response with status 200 is returned as is; any other status is
// returned as an [*Error] (the *Response is returned too). If ctx ends first,
// Call returns ctx.Err() and the late response is dropped; if ctx ends while
// the frame is being written, the websocket is closed, since a partial frame
// cannot be recovered. If the connection closes, Call returns an error
// wrapping [ErrClosed].
func (c *Client) Call(ctx context.Context, endpoint string, query, doc any) (*Response, error) {
	return c.call(ctx, endpoint, query, doc, false)
}

// call is Call; restoring calls go out on a reconnected websocket before
// it is open to the app's calls (reconnect.go).
func (c *Client) call(ctx context.Context, endpoint string, query, doc any, restoring bool) (*Response, error) {
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("call %s: %w", endpoint, err)
	}
	if c.down != nil && !restoring {
		err := c.down
		c.mu.Unlock()
		return nil, fmt.Errorf("call %s: reconnecting: %w", endpoint, err)
	}
	id := c.newCallIDLocked()
	key, sid := c.key, c.sid
	ch := make(chan result, 1)
	c.pending[id] = ch
	c.mu.Unlock()

	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}
	frame, err := c.sign(id, endpoint, sid, key, query, doc)
	if err != nil {
		forget()
		return nil, err
	}
	if err := c.write(ctx, endpoint, frame); err != nil {
		forget()
		return nil, err
	}
	select {
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("call %s: %w", endpoint, r.err)
		}
		if r.res.Status != 200 {
			return r.res, r.res.asError()
		}
		return r.res, nil
	}
}

// write sends a frame; a failed write leaves the connection unusable.
func (c *Client) write(ctx context.Context, endpoint string, frame []byte) error {
	err := c.wsConn().Write(ctx, websocket.MessageText, frame)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cerr := c.Err(); cerr != nil {
		return fmt.Errorf("call %s: %w", endpoint, cerr)
	}
	return fmt.Errorf("call %s: %w: %w", endpoint, ErrClosed, err)
}
