package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// SignUp creates a user with user/create as the connection's current
// session (normally ANON, when the app grants ANON the user module's
// "create" privilege): doc is the user's other attrs (name, locale, and
// any the app declares; may be nil), to which SignUp adds authVar: authVal
// and authVar+"_hash": the auth hash of password ([Hash] with
// [Options.HashLevel] and the anon token), the value session/auth checks
// later. It returns the new user's _id. The server stores only a digest of
// the hash and answers an existing authVal with
// CORE_USER_DUPLICATE_DOC-like codes (<PKG>_USER_DUPLICATE_DOC, 400).
func (c *Client) SignUp(ctx context.Context, authVar, authVal, password string, doc map[string]any) (string, error) {
	h, err := Hash(c.opts.HashLevel, authVar, authVal, password, c.anonToken)
	if err != nil {
		return "", fmt.Errorf("sign up: %w", err)
	}
	d := make(map[string]any, len(doc)+2)
	for k, v := range doc {
		d[k] = v
	}
	d[authVar], d[authVar+"_hash"] = authVal, h
	res, err := c.Call(ctx, "user/create", nil, d)
	if err != nil {
		return "", fmt.Errorf("sign up: %w", err)
	}
	var args struct {
		Docs []struct {
			ID string `json:"_id"`
		} `json:"docs"`
	}
	if err := res.DecodeArgs(&args); err != nil || len(args.Docs) != 1 || args.Docs[0].ID == "" {
		return "", fmt.Errorf("sign up: reply has no docs[0]._id (%v)", err)
	}
	return args.Docs[0].ID, nil
}

// ChangePassword changes the signed-in user's password with user/update
// (query [{"_id": <user>}]), proving the current one as LIMP-go requires of
// a user who is not a user admin: doc {authVar+"_hash": hash of next,
// "current_hash": hash of current} (hashes as [Hash] computes them, with
// authVal the user's current value of authVar). A wrong current password
// fails with 403 <PKG>_USER_INVALID_CURRENT_HASH, and attempts count
// towards sign-in throttling (429 CORE_SESSION_AUTH_THROTTLED). The
// session stays valid. An app with several auth attrs keeps one hash per
// attr: call user/update with each <attr>_hash to change them all.
func (c *Client) ChangePassword(ctx context.Context, authVar, authVal, current, next string) error {
	s := c.Session()
	if s == nil || s.UserID() == "" {
		return errors.New("change password: the connection is not signed in")
	}
	cur, err := Hash(c.opts.HashLevel, authVar, authVal, current, c.anonToken)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	h, err := Hash(c.opts.HashLevel, authVar, authVal, next, c.anonToken)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	q := []any{map[string]any{"_id": s.UserID()}}
	if _, err := c.Call(ctx, "user/update", q, map[string]any{authVar + "_hash": h, "current_hash": cur}); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return nil
}

// FileURL returns the HTTP URL of a file attr's content (spec §9.4):
// {base}/{module}/retrieve_file/{id}/{attr}/{name}, with base the server
// Dial connected to (ws → http, wss → https, the /ws path removed; in
// realm mode {prefix}/ws/{realm} gives {prefix}/{realm}, the realm's HTTP
// routes). With
// thumb set (e.g. "100x100") it is the image thumbnail's URL. The URL
// carries no credentials: files readable only by a user need the
// X-Auth-Bearer and X-Auth-Token headers, which [Client.Download] sends.
func (c *Client) FileURL(module, id, attr, name, thumb string) string {
	u, err := url.Parse(c.url)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "wss":
		u.Scheme = "https"
	default:
		u.Scheme = "http"
	}
	base := strings.TrimSuffix(u.Path, "/")
	if i := strings.LastIndex(base, "/"); i >= 0 {
		dir, last := base[:i], base[i+1:]
		switch {
		case last == "ws":
			base = dir // {prefix}/ws → {prefix}
		case strings.HasSuffix(dir, "/ws"):
			// Realm mode (spec §5.6): {prefix}/ws/{realm} → {prefix}/{realm}.
			base = strings.TrimSuffix(dir, "/ws") + "/" + last
		}
	}
	segs := []string{module, "retrieve_file", id, attr}
	if thumb != "" {
		segs = append(segs, thumb)
	}
	segs = append(segs, name)
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment = "", "", "", ""
	return u.String() + base + "/" + strings.Join(segs, "/")
}

// Download writes the content of a file attr (see [Client.FileURL]) to w
// and returns its media type and length in bytes. When the connection is
// signed in, the request carries the session as LIMP's HTTP interface
// expects (spec §4.10): X-Auth-Bearer: <user _id>, X-Auth-Token: <session
// token>; else it is an anonymous request. HTTP requests use
// Options.Dialer.HTTPClient, or http.DefaultClient. A refused request
// returns an [*Error] with the server's status and code (403
// CORE_SESSION_INVALID_XAUTH for a revoked session, 404 for a missing
// file).
func (c *Client) Download(ctx context.Context, module, id, attr, name, thumb string, w io.Writer) (string, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.FileURL(module, id, attr, name, thumb), nil)
	if err != nil {
		return "", 0, fmt.Errorf("download: %w", err)
	}
	if s := c.Session(); s != nil {
		req.Header.Set("X-Auth-Bearer", s.UserID())
		req.Header.Set("X-Auth-Token", s.Token)
	}
	hc := http.DefaultClient
	if c.opts.Dialer != nil && c.opts.Dialer.HTTPClient != nil {
		hc = c.opts.Dialer.HTTPClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("download: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		e := &Error{Status: res.StatusCode, Msg: http.StatusText(res.StatusCode)}
		var r struct {
			Msg  string `json:"msg"`
			Args struct {
				Code string `json:"code"`
			} `json:"args"`
		}
		if json.Unmarshal(body, &r) == nil {
			if r.Msg != "" {
				e.Msg = r.Msg
			}
			e.Code = r.Args.Code
		}
		return "", 0, fmt.Errorf("download: %w", e)
	}
	n, err := io.Copy(w, res.Body)
	if err != nil {
		return "", n, fmt.Errorf("download: %w", err)
	}
	return res.Header.Get("Content-Type"), n, nil
}
