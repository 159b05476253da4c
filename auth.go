package limp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// Default credentials of the ADMIN user (LIMP's documented quick-start
// values). Start logs a warning while they are in use and refuses them in
// production unless Config.AllowInsecureDefaults is set.
const (
	DefaultAdminEmail    = "ADMIN@LIMP.MASAAR.COM"
	DefaultAdminPassword = "__ADMIN"
	// DefaultSessionTTL is how long a session lives after auth or reauth.
	DefaultSessionTTL = 30 * 24 * time.Hour
)

// defaultUser is the user attrs of an app that declares none.
type defaultUser struct {
	Email string `json:"email" limp:"type=EMAIL"`
}

// Argon2id parameters for stored credential digests: OWASP's Password
// Storage Cheat Sheet (2025) minimum for argon2id, m=19 MiB, t=2, p=1. The
// client-computed hash LIMP clients send is a password equivalent, so it
// gets a password's protection.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
	// maxHashLen bounds the client hash fed to argon2.
	maxHashLen = 4096
)

// argonSem bounds concurrent argon2 runs: each holds 19 MiB, so an auth
// burst cannot exhaust memory; extra callers wait (under their deadline).
var argonSem = make(chan struct{}, max(2, runtime.NumCPU()))

// argonRuns counts argon2 computations (for the sign-in flood benchmark).
var argonRuns atomic.Int64

// digestCredential returns the PHC-format argon2id digest of a client hash.
func digestCredential(ctx context.Context, hash string) (string, error) {
	var salt [argonSaltLen]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", err
	}
	key, err := argonKey(ctx, hash, salt[:], argonTime, argonMemory, argonThreads)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt[:]), base64.RawStdEncoding.EncodeToString(key)), nil
}

func argonKey(ctx context.Context, hash string, salt []byte, t, m uint32, p uint8) ([]byte, error) {
	select {
	case argonSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-argonSem }()
	argonRuns.Add(1)
	return argon2.IDKey([]byte(hash), salt, t, m, p, argonKeyLen), nil
}

// dummyDigest is verified against when a user does not exist, so that an
// unknown account costs as much as a wrong password.
var dummyDigest = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$ak3o2p3m0xkYzE6sE4jQ7l5y6x2qY8qf2cS1i8fW3Vc"

// verifyCredential reports whether hash matches the PHC digest. A digest
// that is not argon2id (the ANON user's placeholder) never matches.
func verifyCredential(ctx context.Context, digest, hash string) (bool, error) {
	parts := strings.Split(digest, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, nil
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false, nil
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false, nil
	}
	got, err := argonKey(ctx, hash, salt, t, m, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// AuthHash computes the auth hash LIMP clients send (spec §4.2): the
// base64url (unpadded) compact JSON {"hash": [authVar, authVal, password,
// anonToken]} for level "5.6", without the anon token for "5.0". Non-ASCII
// is escaped as Python's json.dumps does.
func AuthHash(level, authVar, authVal, password, anonToken string) (string, error) {
	parts := []string{authVar, authVal, password}
	switch level {
	case "5.6", "":
		parts = append(parts, anonToken)
	case "5.0":
	default:
		return "", fmt.Errorf("unknown auth hash level %q", level)
	}
	var b bytes.Buffer
	b.WriteString(`{"hash":[`)
	for i, s := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		writeASCIIJSON(&b, s)
	}
	b.WriteString(`]}`)
	return base64.RawURLEncoding.EncodeToString(b.Bytes()), nil
}

// writeASCIIJSON writes s as a JSON string with Python's ensure_ascii
// escaping.
func writeASCIIJSON(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r > 0x7e && r < 0x10000:
			fmt.Fprintf(b, `\u%04x`, r)
		case r >= 0x10000:
			r -= 0x10000
			fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// tokenDigest is what the sessions collection keeps of a session token:
// its SHA-256, base64url. The token is 32 random bytes, so a fast hash is
// enough; a stolen database yields no usable token.
func tokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newToken returns a session token: 32 random bytes, base64url (43 chars).
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// parseDatetime parses a stored DATETIME.
func parseDatetime(s string) (time.Time, error) {
	return time.Parse("2006-01-02T15:04:05.999999", s)
}

// prepareUser adds the app's user attrs, the credential digest attrs and
// the auth attrs' uniqueness to the user module (spec §4.1).
func (a *App) prepareUser() error {
	users := a.modules["user"]
	if users == nil {
		return nil
	}
	u := a.cfg.User
	if u == nil {
		u = defaultUser{}
	}
	t := reflect.TypeOf(u)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	attrs, err := attrsOf(t)
	if err != nil {
		return fmt.Errorf("Config.User: %w", err)
	}
	var errs []error
	for _, name := range a.cfg.AuthAttrs {
		i := slices.IndexFunc(attrs, func(at *Attr) bool { return at.Name == name })
		if i < 0 {
			errs = append(errs, fmt.Errorf("Config.AuthAttrs names %q, which Config.User does not declare", name))
			continue
		}
		attrs = append(attrs, &Attr{Name: name + "_hash", Type: TypeStr, Desc: "argon2id digest of the client-computed auth hash"})
		users.Unique = append(users.Unique, []string{name})
	}
	users.Attrs = append(users.Attrs, attrs...)
	if users.Defaults == nil {
		users.Defaults = map[string]any{}
	}
	if _, ok := users.Defaults["locale"]; !ok {
		users.Defaults["locale"] = a.cfg.Locale
	}
	return errors.Join(errs...)
}

// isHashAttr reports whether a user attr holds a credential digest.
func (a *App) isHashAttr(name string) bool {
	base, ok := strings.CutSuffix(name, "_hash")
	return ok && slices.Contains(a.cfg.AuthAttrs, base)
}

// secretUserAttr reports whether a user attr never leaves the server.
func (a *App) secretUserAttr(name string) bool { return a.isHashAttr(name) }

// userHooks are the core user module's hooks: credentials are digested
// before they are stored, never read back, and changed only with proof.
func (a *App) userPreCreate(ctx context.Context, c *Call) (*Result, error) {
	users := c.Module
	if err := a.foldAuthValues(ctx, c, nil); err != nil {
		return nil, err
	}
	for _, name := range a.cfg.AuthAttrs {
		key := name + "_hash"
		v, ok := c.Doc[key]
		if !ok {
			continue
		}
		h, ok := v.(string)
		if !ok || h == "" || len(h) > maxHashLen {
			return nil, users.Errorf(400, CodeInvalidAttr, "Invalid attr '%s': expects the client-computed auth hash.", key)
		}
		d, err := digestCredential(ctx, h)
		if err != nil {
			return nil, err
		}
		c.Doc[key] = d
	}
	if c.skip&skipPerm == 0 {
		def := a.defaultGroupID(ctx) // the realm's in realm mode
		groups, _ := c.Doc["groups"].([]any)
		if !slices.ContainsFunc(groups, func(g any) bool { return g == def || g == def.Hex() }) {
			c.Doc["groups"] = append(groups, def)
		}
	}
	return nil, nil
}

func (a *App) userOnRead(ctx context.Context, c *Call, r *Result) (*Result, error) {
	docs, _ := r.Args["docs"].([]any)
	for _, d := range docs {
		if m, ok := d.(map[string]any); ok {
			for k := range m {
				if a.secretUserAttr(k) {
					delete(m, k)
				}
			}
		}
	}
	if err := a.mergeUserSettings(ctx, asDocs(docs)); err != nil { // settings.go
		return nil, err
	}
	return r, nil
}

// userPreUpdate guards credentials: a hash in the doc is digested; a
// caller who is not a user admin must prove the current credential with
// doc "current_hash" to change an auth attr or a hash, and an auth attr
// changes only together with its hash.
func (a *App) userPreUpdate(ctx context.Context, c *Call) (*Result, error) {
	users := c.Module
	if err := refuseAnonEdit(c); err != nil { // anon.go
		return nil, err
	}
	touches := false
	for _, name := range a.cfg.AuthAttrs {
		_, setAttr := c.Doc[name]
		_, setHash := c.Doc[name+"_hash"]
		if setAttr && !setHash {
			return nil, users.Errorf(400, CodeMissingAttr, "Changing '%s' needs '%s_hash' computed with the new value.", name, name)
		}
		touches = touches || setAttr || setHash
	}
	cur, hasCur := c.Doc["current_hash"]
	delete(c.Doc, "current_hash")
	if touches && !c.Session.HasPrivilege(users, "admin") && c.skip&skipPerm == 0 {
		h, _ := cur.(string)
		if !hasCur || h == "" || len(h) > maxHashLen {
			return nil, users.Error(403, "CURRENT_HASH_REQUIRED", "Changing credentials needs 'current_hash' of the current ones.")
		}
		// The client's _id and the permission's {_id: $__user} must
		// name one user.
		var id ID
		n := 0
		for _, v := range c.Query.Values("_id") {
			x, ok := toID(v)
			if !ok || n > 0 && x != id {
				n = 2
				break
			}
			id, n = x, 1
		}
		if n != 1 {
			return nil, users.Error(400, CodeInvalidQuery, "Changing credentials works on one user, by '_id'.")
		}
		if err := a.checkThrottle(ctx, c.RemoteAddr, "user:"+id.Hex()); err != nil {
			return nil, err
		}
		ok, err := a.verifyUserCredential(ctx, id, h)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, users.Error(403, "INVALID_CURRENT_HASH", "The current credentials are wrong.")
		}
		a.clearAuthFailures(c.RemoteAddr, "user:"+id.Hex())
	}
	var self []any
	for _, v := range c.Query.Values("_id") {
		if id, ok := toID(v); ok && !slices.Contains(self, any(id)) {
			self = append(self, id)
		}
	}
	if err := a.foldAuthValues(ctx, c, self); err != nil {
		return nil, err
	}
	for _, name := range a.cfg.AuthAttrs {
		key := name + "_hash"
		if v, ok := c.Doc[key]; ok {
			h, ok := v.(string)
			if !ok || h == "" || len(h) > maxHashLen {
				return nil, users.Errorf(400, CodeInvalidAttr, "Invalid attr '%s': expects the client-computed auth hash.", key)
			}
			d, err := digestCredential(ctx, h)
			if err != nil {
				return nil, err
			}
			c.Doc[key] = d
		}
	}
	return nil, nil
}

func toID(v any) (ID, bool) {
	switch x := v.(type) {
	case oid.ID:
		return x, true
	case string:
		id, err := ParseID(x)
		return id, err == nil
	}
	return ID{}, false
}

// verifyUserCredential checks a client hash against any of the user's
// stored credential digests.
func (a *App) verifyUserCredential(ctx context.Context, id ID, hash string) (bool, error) {
	users := a.modules["user"]
	res, err := a.store.Read(ctx, users.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id}, Limit: 1})
	if err != nil || len(res.Docs) == 0 {
		return false, err
	}
	for _, name := range a.cfg.AuthAttrs {
		if d, ok := res.Docs[0][name+"_hash"].(string); ok {
			h := hash
			if sv, ok := res.Docs[0][name].(string); ok && a.foldedAuthAttr(name) {
				h = foldHash(hash, name, sv)
			}
			ok, err := verifyCredential(ctx, d, h)
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

// auth is session/auth (spec §4.3): doc {<auth attr>: value, hash,
// groups?}.
func (a *App) auth(ctx context.Context, c *Call) (*Result, error) {
	sessions := c.Module
	var key string
	for _, name := range a.cfg.AuthAttrs {
		if _, ok := c.Doc[name]; ok {
			key = name
			break
		}
	}
	hash, _ := c.Doc["hash"].(string)
	if key == "" || hash == "" || len(hash) > maxHashLen {
		return nil, sessions.Errorf(400, CodeInvalidDoc, "Could not match doc with any of the required doc_args. Failed sets:['hash': Missing, '%s': Missing]", strings.Join(a.cfg.AuthAttrs, "|"))
	}
	users := a.modules["user"]
	cc := a.convertCtx()
	val, err := users.byName[key].convert(cc, c.Doc[key], key)
	if err != nil {
		return nil, sessions.attrError(err, "auth")
	}
	var groups []any
	if g, ok := c.Doc["groups"]; ok && g != nil {
		gl, err := (&Attr{Type: TypeList, Items: []*Attr{{Type: TypeID}}}).convert(cc, g, "groups")
		if err != nil {
			return nil, sessions.attrError(err, "auth")
		}
		groups, _ = gl.([]any)
	}
	account := key + ":" + strings.ToLower(fmt.Sprint(val))
	if err := a.checkThrottle(ctx, c.RemoteAddr, account); err != nil {
		return nil, err
	}
	found, err := a.findAuthUser(ctx, key, val)
	if err != nil {
		return nil, err
	}
	var user map[string]any
	digest := dummyDigest
	if found != nil && found["_id"] != AnonUserID {
		user = found
		digest, _ = user[key+"_hash"].(string)
		if sv, ok := user[key].(string); ok && a.foldedAuthAttr(key) {
			hash = foldHash(hash, key, sv)
		}
	}
	ok, err := verifyCredential(ctx, digest, hash)
	if err != nil {
		return nil, err
	}
	if !ok || user == nil {
		return nil, NewError(403, CodeInvalidCreds, "Wrong auth credentials.")
	}
	a.clearAuthFailures(c.RemoteAddr, account)
	switch st, _ := user["status"].(string); st {
	case "active":
	case "disabled_password":
		return nil, NewError(403, CodeInvalidUser, "User password is disabled.")
	default:
		return nil, NewError(403, CodeInvalidUser, fmt.Sprintf("User is %s.", st))
	}
	if len(groups) > 0 {
		s, err := a.sessionFor(ctx, user)
		if err != nil {
			return nil, err
		}
		member := slices.ContainsFunc(groups, func(g any) bool { return slices.Contains(s.Groups, g.(oid.ID)) })
		if !member && !slices.Contains(s.Privileges["*"], "*") {
			return nil, NewError(403, CodeInvalidCreds, "Wrong auth credentials.")
		}
	}
	return a.openSession(ctx, c, user, groups, "You were successfully authed.")
}

// openSession stores a new session for user and switches the call's
// connection to it. The token is returned once, in args.session.token;
// only its digest is stored.
func (a *App) openSession(ctx context.Context, c *Call, user map[string]any, groups []any, msg string) (*Result, error) {
	token := newToken()
	id := NewID()
	now := time.Now().UTC()
	expiry := FormatDatetime(now.Add(a.cfg.SessionTTL))
	if groups == nil {
		groups = []any{}
	}
	doc := M{"_id": id, "user": user["_id"], "groups": groups, "host_add": c.RemoteAddr, "user_agent": c.UserAgent,
		"expiry": expiry, "token_hash": tokenDigest(token), "create_time": FormatDatetime(now)}
	if err := a.store.Insert(ctx, a.modules["session"].coll, doc); err != nil {
		return nil, err
	}
	s, err := a.loadSession(ctx, doc, token)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("new session did not load")
	}
	s.Doc["token"] = token
	r := OK(msg, nil)
	c.SwitchSession(r, s)
	a.authAnalytics(c, "AUTH", s)
	return r, nil
}

// reauth is session/reauth (spec §4.5): query [{_id, hash}] with hash the
// base64url of {"token": "<token>"} (LIMP 6.0), or [{_id, token}]
// (ng-limp 6.1); an optional {groups}.
func (a *App) reauth(ctx context.Context, c *Call) (*Result, error) {
	sessions := c.Module
	ids := c.Query.Values("_id")
	if len(ids) == 0 {
		return nil, sessions.Error(400, CodeInvalidQuery, "Could not match query with any of the required query_args. Failed sets:['_id': Missing, 'hash': Missing]")
	}
	sid, ok := toID(ids[0])
	if !ok {
		return nil, sessions.Error(400, CodeInvalidQuery, "Could not match query with any of the required query_args. Failed sets:['_id': Invalid]")
	}
	if sid == AnonSessionID {
		return nil, NewError(400, CodeAnonReauth, "Reauth is not required for '__ANON' user.")
	}
	var token string
	if v := c.Query.Values("token"); len(v) > 0 {
		token, _ = v[0].(string)
	} else if v := c.Query.Values("hash"); len(v) > 0 {
		h, _ := v[0].(string)
		token = tokenFromReauthHash(h)
	}
	if err := a.checkThrottle(ctx, c.RemoteAddr, "session:"+sid.Hex()); err != nil {
		return nil, err
	}
	snap := a.live.snap(sid) // before the read: a later write makes it stale
	res, err := a.store.Read(ctx, sessions.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: sid}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(res.Docs) == 0 {
		return nil, NewError(403, CodeInvalidSession, "Session is invalid.")
	}
	doc := res.Docs[0]
	stored, _ := doc["token_hash"].(string)
	if token == "" || subtle.ConstantTimeCompare([]byte(tokenDigest(token)), []byte(stored)) != 1 {
		return nil, NewError(403, CodeInvalidReauthHash, "Reauth token hash invalid.")
	}
	if g := c.Query.Values("groups"); len(g) > 0 {
		want, _ := g[0].([]any)
		have, _ := doc["groups"].([]any)
		if len(want) > 0 && !slices.ContainsFunc(want, func(w any) bool {
			id, ok := toID(w)
			return ok && slices.Contains(have, any(id))
		}) {
			return nil, NewError(403, CodeInvalidSession, "Session is invalid.")
		}
	}
	exp, _ := doc["expiry"].(string)
	if t, err := parseDatetime(exp); err != nil || !time.Now().Before(t) {
		byID := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: sid}}
		_, _ = a.store.Delete(ctx, sessions.coll, byID, true)
		return nil, NewError(403, CodeSessionExpired, msgSessionExpired)
	}
	now := time.Now().UTC()
	newExpiry := FormatDatetime(now.Add(a.cfg.SessionTTL))
	byID := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: sid}}
	if _, err := a.store.Update(ctx, sessions.coll, byID, &store.Update{Set: map[string]any{"expiry": newExpiry}}); err != nil {
		return nil, err
	}
	uid, _ := doc["user"].(oid.ID)
	byUser := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: uid}}
	if _, err := a.store.Update(ctx, a.modules["user"].coll, byUser, &store.Update{Set: map[string]any{"login_time": FormatDatetime(now)}}); err != nil {
		return nil, err
	}
	doc["expiry"] = newExpiry
	s, err := a.buildSession(ctx, doc, token, snap)
	var refused *Error
	if errors.As(err, &refused) {
		return nil, NewError(403, CodeInvalidSession, "Session is invalid.")
	}
	if err != nil {
		return nil, err
	}
	a.clearAuthFailures(c.RemoteAddr, "session:"+sid.Hex())
	s.Doc["token"] = token
	r := OK("You were succefully reauthed.", nil)
	c.SwitchSession(r, s)
	a.authAnalytics(c, "REAUTH", s)
	return r, nil
}

// tokenFromReauthHash decodes a v6.0 reauth hash: base64url of the JSON
// {"token": "<token>"} (the payload segment of a JWT).
func tokenFromReauthHash(h string) string {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "="))
	if err != nil || len(b) > maxHashLen {
		return ""
	}
	v, err := jsonv.Parse(b)
	if err != nil {
		return ""
	}
	m, _ := v.(map[string]any)
	t, _ := m["token"].(string)
	return t
}

// signout is session/signout (spec §4.6): it ends the queried session,
// which must be the caller's, on every connection.
func (a *App) signout(ctx context.Context, c *Call) (*Result, error) {
	ids := c.Query.Values("_id")
	var sid ID
	if len(ids) > 0 {
		sid, _ = toID(ids[0])
	}
	if c.Session.Anon() {
		return nil, errAnonSignout
	}
	if sid != c.Session.ID {
		return nil, NewError(403, CodeInvalidSession, "Session is invalid.")
	}
	byID := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: sid}}
	if _, err := a.store.Delete(ctx, c.Module.coll, byID, true); err != nil {
		return nil, err
	}
	a.endSession(sid)
	a.authAnalytics(c, "DEAUTH", c.Session)
	r := OK("You are successfully signed-out.", nil)
	c.SwitchSession(r, a.anon)
	return r, nil
}

// endSession switches every connection on session sid back to ANON, so
// the session's token stops working everywhere at once.
func (a *App) endSession(sid ID) {
	a.connsMu.Lock()
	defer a.connsMu.Unlock()
	for c := range a.conns {
		if s := c.session.Load(); s.ID == sid {
			c.session.CompareAndSwap(s, a.anon)
		}
	}
}

// addGroup is user/add_group: query {_id}, doc {group: ID or [ID]}.
func (a *App) addGroup(ctx context.Context, c *Call) (*Result, error) {
	return a.changeGroups(ctx, c, true)
}

// deleteGroup is user/delete_group: query {_id, group}.
func (a *App) deleteGroup(ctx context.Context, c *Call) (*Result, error) {
	return a.changeGroups(ctx, c, false)
}

// changeGroups is user/add_group and user/delete_group (spec §6.21),
// all or nothing: every group must exist (400 CORE_USER_INVALID_GROUP),
// the user too (400 CORE_USER_INVALID_USER); adding a group the user is
// already in is 400 CORE_USER_GROUP_ADDED, removing one they are not in
// 400 CORE_USER_GROUP_NOT_ADDED. The check and the write are one
// transaction, and the user's live sessions see the change by their next
// call.
func (a *App) changeGroups(ctx context.Context, c *Call, add bool) (*Result, error) {
	users := c.Module
	uid, ok := toID(first(c.Query.Values("_id")))
	if !ok {
		return nil, users.Error(400, CodeInvalidQuery, "Could not match query with any of the required query_args. Failed sets:['_id': Missing]")
	}
	if err := refuseAnonEdit(c); err != nil { // anon.go
		return nil, err
	}
	var raw any
	if add {
		raw = c.Doc["group"]
	} else {
		raw = first(c.Query.Values("group"))
	}
	var gids []any
	switch x := raw.(type) {
	case []any:
		gids = slices.Clone(x)
	case nil:
	default:
		gids = []any{x}
	}
	if len(gids) == 0 {
		return nil, users.Error(400, CodeInvalidDoc, "Could not match doc with any of the required doc_args. Failed sets:['group': Missing]")
	}
	for i, g := range gids {
		id, ok := toID(g)
		if !ok {
			return nil, users.Errorf(400, CodeInvalidAttr, "Invalid attr 'group.%d': expects an _id.", i)
		}
		gids[i] = id
	}
	gids = slices.CompactFunc(gids, func(x, y any) bool { return x == y })
	groups := a.modules["group"]
	var res *store.UpdateResult
	err := a.store.Tx(ctx, func(ctx context.Context) error {
		found, err := a.store.Read(ctx, groups.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.In, Value: gids}, Attrs: []string{"_id"}})
		if err != nil {
			return err
		}
		if len(found.Docs) != len(uniqueIDs(gids)) {
			return users.Error(400, "INVALID_GROUP", "Group is invalid.")
		}
		byID := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: uid}, Limit: 1}
		u, err := a.store.Read(ctx, users.coll, &query.Query{Filter: byID.Filter, Limit: 1, Attrs: []string{"groups"}})
		if err != nil {
			return err
		}
		if len(u.Docs) == 0 {
			return users.Error(400, "INVALID_USER", "User is invalid.")
		}
		have, _ := u.Docs[0]["groups"].([]any)
		for _, g := range gids {
			member := slices.Contains(have, g)
			if add && member {
				return users.Error(400, "GROUP_ADDED", "User is already a member of the group.")
			}
			if !add && !member {
				return users.Error(400, "GROUP_NOT_ADDED", "User is not a member of the group.")
			}
		}
		up := &store.Update{}
		if add {
			up.Append = map[string]store.Append{"groups": {Values: gids, Unique: true}}
		} else {
			up.Remove = map[string][]any{"groups": gids}
		}
		res, err = a.store.Update(ctx, users.coll, byID, up)
		return err
	})
	if err != nil {
		return nil, err
	}
	return OK(fmt.Sprintf("Updated %d docs.", res.Modified), M{"count": res.Modified, "docs": idDocs(res.Matched)}), nil
}

func uniqueIDs(l []any) map[any]bool {
	out := make(map[any]bool, len(l))
	for _, v := range l {
		out[v] = true
	}
	return out
}

// readPrivileges is user/read_privileges (spec §5.5, §6.21): the user
// doc with the privileges of its groups (DEFAULT included) merged into
// its own, in read's shape; 400 CORE_USER_INVALID_USER when the query
// (with the caller's permission modifiers) selects no user.
func (a *App) readPrivileges(ctx context.Context, c *Call) (*Result, error) {
	q, err := a.parseQuery(ctx, c, c.Query)
	if err != nil {
		return nil, err
	}
	q.Limit, q.Skip, q.Attrs, q.Group = 1, 0, nil, nil
	res, err := a.store.Read(ctx, c.Module.coll, q)
	if err != nil {
		return nil, err
	}
	if len(res.Docs) == 0 {
		return nil, c.Module.Error(400, "INVALID_USER", "User is invalid.")
	}
	s, err := a.sessionFor(ctx, res.Docs[0])
	if err != nil {
		return nil, err
	}
	a.fillLocales(c.Module, s.User)
	return OK("Found 1 docs.", M{"total": int64(1), "count": int64(1), "docs": []any{s.User}, "groups": M{}}), nil
}

func first(l []any) any {
	if len(l) == 0 {
		return nil
	}
	return l[0]
}

// bootstrapAdmin creates the ADMIN user if missing (spec §4.8), with the
// configured admin doc and password hashed at level 5.6.
func (a *App) bootstrapAdmin(ctx context.Context) error {
	users := a.modules["user"]
	byID := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: AdminUserID}}
	res, err := a.store.Read(ctx, users.coll, byID)
	if err != nil {
		return err
	}
	exists := res.Total > 0
	if exists && !a.cfg.ForceAdminCheck {
		return nil
	}
	doc := M{"_id": AdminUserID, "name": localeAll(a.cfg.Locales, "__ADMIN"), "locale": a.cfg.Locale,
		"groups": []any{}, "privileges": M{"*": []any{"*"}}, "status": "active"}
	for k, v := range a.cfg.AdminDoc {
		doc[k] = v
	}
	for _, name := range a.cfg.AuthAttrs {
		val, ok := a.cfg.AdminDoc[name].(string)
		if !ok {
			return fmt.Errorf("Config.AdminDoc needs auth attr %q", name)
		}
		h, err := AuthHash("5.6", name, val, a.cfg.AdminPassword, a.cfg.AnonToken)
		if err != nil {
			return err
		}
		if doc[name+"_hash"], err = digestCredential(ctx, h); err != nil {
			return err
		}
	}
	if exists {
		set := map[string]any{}
		for k, v := range doc {
			if k != "_id" {
				set[k] = v
			}
		}
		_, err := a.store.Update(ctx, users.coll, byID, &store.Update{Set: set})
		return err
	}
	return a.ensureDoc(ctx, users, doc, store.Update{})
}

// Group is an app-declared group, synced at start (Config.Groups).
type Group struct {
	ID ID
	// Name needs a value in Config.Locale; other locales default to it.
	Name Locale
	// Desc is optional (empty strings when nil).
	Desc       Locale
	Privileges Privileges
}

// syncGroups creates or updates the app's declared groups.
func (a *App) syncGroups(ctx context.Context) error {
	groups := a.modules["group"]
	for _, g := range a.cfg.Groups {
		name := M{}
		for k, v := range g.Name {
			name[k] = v
		}
		desc := localeAll(a.cfg.Locales, "") // Desc is optional in Config.Groups
		for k, v := range g.Desc {
			desc[k] = v
		}
		doc := M{"_id": g.ID, "name": name, "desc": desc, "privileges": privilegesValue(g.Privileges), "settings": M{}}
		if err := a.ensureDoc(ctx, groups, doc, store.Update{Set: map[string]any{"name": name, "privileges": doc["privileges"]}}); err != nil {
			return fmt.Errorf("group %s: %w", g.ID.Hex(), err)
		}
	}
	return nil
}

// checkAuthSecurity applies the insecure-default policy to the admin
// credentials.
func (a *App) checkAuthSecurity() error {
	if a.cfg.AdminPassword != DefaultAdminPassword {
		return nil
	}
	if a.cfg.Production && !a.cfg.AllowInsecureDefaults {
		return errors.New("limp: the default admin password is refused in production; set Config.AdminPassword")
	}
	a.log.Warn("using the default admin password; set Config.AdminPassword before going to production")
	return nil
}
