package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"
)

// HashLevel selects the auth hash algorithm (ng-limp's authHashLevel, spec
// §4.2, §12.1).
type HashLevel string

// Auth hash levels.
const (
	// HashLevel50 hashes [authVar, authVal, password] (legacy, LIMP 5.0).
	HashLevel50 HashLevel = "5.0"
	// HashLevel56 hashes [authVar, authVal, password, anonToken] (LIMP 5.6
	// and later; the default).
	HashLevel56 HashLevel = "5.6"
)

// Hash computes LIMP's client-side auth hash (spec §4.2): the base64url
// (unpadded) encoding of the compact JSON {"hash": [authVar, authVal,
// password(, anonToken)]}, which is the payload segment of the HS256 JWT of
// that object that ng-limp's generateAuthHash builds (the signing key does
// not affect that segment). Level [HashLevel56] appends anonToken,
// [HashLevel50] does not; anonToken is ignored for 5.0.
//
// The JSON is encoded as the LIMP server encodes it when it computes the
// ADMIN user's hashes (Python json.dumps with separators (',', ':') and
// ensure_ascii): non-ASCII characters and DEL are escaped as lower-case
// \uXXXX (astral characters as surrogate pairs). For ASCII input this is
// byte-identical to ng-limp's JSON.stringify; for non-ASCII input see
// [HashNGLimp].
//
// Security: the result is a reversible encoding of the password and is a
// password-equivalent credential; never log it.
func Hash(level HashLevel, authVar, authVal, password, anonToken string) (string, error) {
	return hash(level, authVar, authVal, password, anonToken, true)
}

// HashNGLimp is [Hash] with ng-limp's JSON.stringify encoding, which leaves
// non-ASCII characters unescaped. It equals Hash for ASCII input; use it to
// log in users whose hashes ng-limp computed from non-ASCII credentials.
func HashNGLimp(level HashLevel, authVar, authVal, password, anonToken string) (string, error) {
	return hash(level, authVar, authVal, password, anonToken, false)
}

func hash(level HashLevel, authVar, authVal, password, anonToken string, ascii bool) (string, error) {
	var parts []string
	switch level {
	case HashLevel50:
		parts = []string{authVar, authVal, password}
	case HashLevel56:
		parts = []string{authVar, authVal, password, anonToken}
	default:
		return "", fmt.Errorf("auth hash: unknown hash level %q (want %q or %q)", level, HashLevel50, HashLevel56)
	}
	b := []byte(`{"hash":[`)
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, p, ascii)
	}
	b = append(b, "]}"...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ReauthHash computes the session/reauth hash of a session token (spec
// §4.5): base64url (unpadded) of the compact JSON {"token": "<token>"},
// encoded as [Hash] encodes (Python ensure_ascii; tokens are ASCII).
func ReauthHash(token string) string {
	b := append([]byte(`{"token":`), appendJSONString(nil, token, true)...)
	b = append(b, '}')
	return base64.RawURLEncoding.EncodeToString(b)
}

// appendJSONString appends s as a JSON string. Both modes escape '"', '\\'
// and control characters like Python and JavaScript do (\b \f \n \r \t,
// else \u00xx); with ascii, everything outside ' '..'~' is escaped too, like
// Python's ensure_ascii. Invalid UTF-8 is encoded as U+FFFD.
func appendJSONString(b []byte, s string, ascii bool) []byte {
	const hex = "0123456789abcdef"
	u4 := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r < 0x20:
			b = u4(b, r)
		case !ascii || r < 0x7f:
			b = utf8.AppendRune(b, r)
		case r <= 0xffff:
			b = u4(b, r)
		default:
			r -= 0x10000
			b = u4(b, 0xd800+(r>>10))
			b = u4(b, 0xdc00+(r&0x3ff))
		}
	}
	return append(b, '"')
}

// Session is a LIMP session (spec §4.4) as returned by session/auth and
// session/reauth.
type Session struct {
	// ID is the session _id.
	ID string `json:"_id"`
	// Token is the session token, the HMAC key of the session's calls.
	// Security: it is a bearer credential; cache it as a secret.
	Token string `json:"token"`
	// User is the session's user doc with merged privileges (numbers as
	// json.Number).
	User map[string]any `json:"user"`
	// Groups are the groups the session was authed against.
	Groups []string `json:"groups"`
	// HostAdd is the client IP the server saw at auth.
	HostAdd string `json:"host_add"`
	// UserAgent is the User-Agent the server saw at auth.
	UserAgent string `json:"user_agent"`
	// Expiry is the server's ISO 8601 expiry time (naive UTC).
	Expiry string `json:"expiry"`
	// CreateTime is the server's ISO 8601 creation time, if sent.
	CreateTime string `json:"create_time"`
	// Raw is the session object as received.
	Raw json.RawMessage `json:"-"`
}

// UserID returns the session user's _id, or "".
func (s *Session) UserID() string {
	id, _ := s.User["_id"].(string)
	return id
}

// String describes the session without its token.
func (s *Session) String() string { return "limp session " + s.ID }

// LogValue implements slog.LogValuer; it never reveals the token.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("user", s.UserID()))
}

func decodeSession(raw json.RawMessage) (*Session, error) {
	var s Session
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	s.Raw = append(json.RawMessage(nil), raw...)
	return &s, nil
}

func sessionOf(res *Response) (*Session, error) {
	raw, ok := res.rawArg("session")
	if !ok {
		return nil, errors.New("response has no args.session")
	}
	return decodeSession(raw)
}

// Auth authenticates the connection with session/auth (spec §4.3): it
// computes the auth hash of password with the configured [Options.HashLevel]
// and anon token (see [Hash]) and sends doc {authVar: authVal, "hash": hash,
// "groups": groups} (groups only when given). On success the connection
// switches to the new session and its token signs every later call.
func (c *Client) Auth(ctx context.Context, authVar, authVal, password string, groups ...string) (*Session, error) {
	h, err := Hash(c.opts.HashLevel, authVar, authVal, password, c.anonToken)
	if err != nil {
		return nil, err
	}
	return c.AuthHash(ctx, authVar, authVal, h, groups...)
}

// AuthHash is [Client.Auth] with a precomputed hash (for example from
// [HashNGLimp]).
func (c *Client) AuthHash(ctx context.Context, authVar, authVal, hash string, groups ...string) (*Session, error) {
	doc := map[string]any{authVar: authVal, "hash": hash}
	if len(groups) > 0 {
		doc["groups"] = groups
	}
	res, err := c.Call(ctx, "session/auth", nil, doc)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s, err := sessionOf(res)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return s, nil
}

// Reauth resumes a session cached from an earlier connection with
// session/reauth (spec §4.5): query [{"_id": sid, "hash": ReauthHash(token)}]
// plus a step {"groups": groups} when groups are given. The server accepts
// it only on an anonymous connection, where the call goes out as the spec
// requires: with sid f00000000000000000000012, signed with the anon token.
// On an authenticated connection the server answers with
// CORE_SESSION_ALREADY_AUTHED. On success the connection switches to the
// session and the returned Session carries its token.
func (c *Client) Reauth(ctx context.Context, sid, token string, groups ...string) (*Session, error) {
	query := []any{map[string]any{"_id": sid, "hash": ReauthHash(token)}}
	if len(groups) > 0 {
		query = append(query, map[string]any{"groups": groups})
	}
	res, err := c.Call(ctx, "session/reauth", query, nil)
	if err != nil {
		return nil, fmt.Errorf("reauth: %w", err)
	}
	s, err := sessionOf(res)
	if err != nil {
		return nil, fmt.Errorf("reauth: %w", err)
	}
	return s, nil
}

// Signout ends the connection's session with session/signout (spec §4.6,
// query [{"_id": <current session id>}]); the connection becomes anonymous
// again. On an anonymous connection the server answers with
// CORE_SESSION_ANON_SIGNOUT.
func (c *Client) Signout(ctx context.Context) error {
	c.mu.Lock()
	sid := c.sid
	c.mu.Unlock()
	if _, err := c.Call(ctx, "session/signout", []any{map[string]any{"_id": sid}}, nil); err != nil {
		return fmt.Errorf("signout: %w", err)
	}
	return nil
}
