package limp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// Session is the session a connection (or an HTTP call) runs under: the
// ANON session until the client authenticates.
type Session struct {
	// ID is the session's _id; AnonSessionID for ANON.
	ID ID
	// User is the user's document as the client sees it (no secrets),
	// including its effective "privileges".
	User M
	// UserID is the user's _id; AnonUserID for ANON.
	UserID ID
	// Groups are the user's groups.
	Groups []ID
	// Privileges are the user's effective privileges: their own merged
	// with their groups'.
	Privileges Privileges
	// Expiry is when the session ends; zero for ANON.
	Expiry time.Time
	// Doc is the session document as sent to the client in args.session.
	Doc M

	token string // the HMAC key of the session's calls; never logged
	sys   bool   // the system session (App.SystemSession): every privilege, "__sys" included

	// live is the session's revocation counter and liveGen, groupGen
	// the generations it was built at (revoke.go); nil for ANON.
	live              *liveEntry
	liveGen, groupGen uint64
}

// Anon reports whether s is the ANON session.
func (s *Session) Anon() bool { return s == nil || s.ID == AnonSessionID }

// LogValue implements slog.LogValuer: the token is never logged.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("_id", s.ID.Hex()), slog.String("user", s.UserID.Hex()))
}

// newAnonSession builds the ANON session from the config.
func (a *App) newAnonSession() *Session {
	user := M{
		"_id":        AnonUserID,
		"name":       localeAll(a.cfg.Locales, "__ANON"),
		"groups":     []any{},
		"privileges": privilegesValue(a.cfg.AnonPrivileges),
		"locale":     a.cfg.Locale,
	}
	return &Session{
		ID:         AnonSessionID,
		User:       user,
		UserID:     AnonUserID,
		Privileges: clonePrivileges(a.cfg.AnonPrivileges),
		Doc:        M{"_id": AnonSessionID},
		token:      a.cfg.AnonToken,
	}
}

func localeAll(locales []string, s string) M {
	m := make(M, len(locales))
	for _, l := range locales {
		m[l] = s
	}
	return m
}

func privilegesValue(p Privileges) M {
	m := make(M, len(p))
	for k, v := range p {
		l := make([]any, len(v))
		for i, s := range v {
			l[i] = s
		}
		m[k] = l
	}
	return m
}

func clonePrivileges(p Privileges) Privileges {
	out := make(Privileges, len(p))
	for k, v := range p {
		out[k] = slices.Clone(v)
	}
	return out
}

// HasPrivilege reports whether the session grants privilege priv of module
// mod, expanding "*" wildcards against the module's declared privileges
// (spec §5.2) without mutating anything. "__sys" is never granted, except
// to the system session (App.SystemSession), which holds every privilege.
func (s *Session) HasPrivilege(mod *Module, priv string) bool {
	if priv == "*" || s.System() {
		return true
	}
	if priv == "__sys" || strings.HasSuffix(priv, ".__sys") || s == nil {
		return false
	}
	modName := mod.Name
	declared := mod.Privileges
	if pm, pn, ok := strings.Cut(priv, "."); ok {
		modName, priv = pm, pn
		if t := mod.app.module(pm); t != nil {
			declared = t.Privileges
		} else {
			declared = DefaultPrivileges
		}
	}
	// The module's own list and the "*" list both grant (a user's "*"
	// must not be hidden by a group's narrower entry for the module).
	for _, list := range [][]string{s.Privileges[modName], s.Privileges["*"]} {
		if slices.Contains(list, priv) || slices.Contains(list, "*") && slices.Contains(declared, priv) {
			return true
		}
	}
	return false
}

// checkPermissions finds the first permission set of the method the caller
// passes and applies its modifiers to the call (spec §5.2–5.3). It returns
// errForbidden if none passes.
func (a *App) checkPermissions(ctx context.Context, c *Call) error {
	for _, p := range c.Method.Permissions {
		if !c.Session.HasPrivilege(c.Module, p.Privilege) {
			continue
		}
		if p.QueryMod != nil {
			mod, err := a.resolveMod(ctx, c, p.QueryMod)
			if err != nil {
				return err
			}
			step, err := queryModStep(mod)
			if err != nil {
				return fmt.Errorf("permission query_mod of %s/%s: %w", c.Module.Name, c.Method.name, err)
			}
			if step != nil {
				c.Query.Append(step)
			}
		}
		docMod := p.DocMod
		if c.Method.name == "update" {
			// Implicit protection of user and create_time on update
			// unless the set explicitly allows them (spec §5.3).
			docMod = protectOnUpdate(docMod)
		}
		if docMod != nil {
			mod, err := a.resolveMod(ctx, c, docMod)
			if err != nil {
				return err
			}
			for k, v := range mod.(M) {
				if v == nil {
					delete(c.Doc, k)
				} else {
					c.Doc[k] = v
				}
			}
		}
		return nil
	}
	return errForbidden
}

// protectOnUpdate adds user: nil and create_time: nil to an update's doc
// mod unless the set maps them to true (which lifts the protection).
func protectOnUpdate(mod M) M {
	out := M{"user": nil, "create_time": nil}
	for k, v := range mod {
		if (k == "user" || k == "create_time") && v == true {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// queryModStep turns a resolved query_mod into one query step: a dict is
// an extra AND condition; a list of dicts is an OR group. Keys whose value
// resolved to nil are dropped.
func queryModStep(mod any) (any, error) {
	switch x := mod.(type) {
	case M:
		o := dropNils(x)
		if len(o) == 0 {
			return nil, nil
		}
		return o, nil
	case []any:
		var alts []any
		for _, e := range x {
			m, ok := e.(M)
			if !ok {
				return nil, fmt.Errorf("query_mod list items must be objects, got %T", e)
			}
			if o := dropNils(m); len(o) > 0 {
				alts = append(alts, o)
			}
		}
		if len(alts) == 0 {
			return nil, nil
		}
		return alts, nil
	}
	return nil, fmt.Errorf("query_mod must be an object or a list of objects, got %T", mod)
}

func dropNils(m M) jsonv.Object {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	o := make(jsonv.Object, 0, len(keys))
	for _, k := range keys {
		o = append(o, jsonv.Member{Key: k, Value: toOrdered(m[k])})
	}
	return o
}

// resolveMod deep-copies a modifier replacing permission variables and
// ValueFuncs (spec §5.3).
func (a *App) resolveMod(ctx context.Context, c *Call, v any) (any, error) {
	switch x := v.(type) {
	case Var:
		return a.resolveVar(c, string(x))
	case string:
		if strings.HasPrefix(x, "$__") {
			return a.resolveVar(c, x)
		}
		return x, nil
	case ValueFunc:
		r, err := x(ctx, c)
		if err != nil {
			return nil, err
		}
		return r, nil
	case func(context.Context, *Call) (any, error):
		return a.resolveMod(ctx, c, ValueFunc(x))
	case M:
		out := make(M, len(x))
		for k, e := range x {
			r, err := a.resolveMod(ctx, c, e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []M:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = e
		}
		return a.resolveMod(ctx, c, l)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := a.resolveMod(ctx, c, e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// resolveVar returns the value of a "$__..." variable.
func (a *App) resolveVar(c *Call, name string) (any, error) {
	now := time.Now().UTC()
	switch {
	case name == string(VarUser):
		return c.Session.UserID, nil
	case name == string(VarAccess):
		groups := make([]any, len(c.Session.Groups))
		for i, g := range c.Session.Groups {
			groups[i] = g
		}
		return M{"$__user": c.Session.UserID, "$__groups": groups}, nil
	case name == string(VarDatetime):
		return FormatDatetime(now), nil
	case name == string(VarDate):
		return now.Format("2006-01-02"), nil
	case name == string(VarTime):
		return now.Format("15:04:05.000000"), nil
	case strings.HasPrefix(name, "$__user."):
		v, ok := lookupPath(c.Session.User, strings.TrimPrefix(name, "$__user."))
		if !ok {
			return nil, nil
		}
		return v, nil
	}
	return name, nil
}

// FormatDatetime formats t as LIMP stores datetimes: naive UTC ISO 8601 with
// microseconds ("2020-01-05T10:11:12.123456").
func FormatDatetime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000")
}

// lookupPath reads a dotted path ("a.b", list index "a:0" or "a.0").
func lookupPath(v any, path string) (any, bool) {
	for _, seg := range strings.FieldsFunc(path, func(r rune) bool { return r == '.' || r == ':' }) {
		switch x := v.(type) {
		case M:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		case []ID:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// sessionByToken returns the live session of user userHex whose token is
// token, or nil if there is none (unknown, expired, or the user may not
// sign in). It serves the HTTP X-Auth headers (spec §4.10).
func (a *App) sessionByToken(ctx context.Context, userHex, token string) (*Session, error) {
	uid, err := ParseID(userHex)
	if err != nil || uid == AnonUserID || token == "" || len(token) > maxHashLen {
		return nil, nil
	}
	sessions := a.modules["session"]
	res, err := a.store.Read(ctx, sessions.coll, &query.Query{Filter: query.And{
		&query.Cond{Path: "user", Op: query.Eq, Value: uid},
		&query.Cond{Path: "token_hash", Op: query.Eq, Value: tokenDigest(token)},
	}, Limit: 1})
	if err != nil || len(res.Docs) == 0 {
		return nil, err
	}
	return a.loadSession(ctx, res.Docs[0], token)
}

// loadSession builds the Session of a stored session document: its user
// (who must be active), their groups and effective privileges. It returns
// nil if the session expired or the user may not sign in.
func (a *App) loadSession(ctx context.Context, doc map[string]any, token string) (*Session, error) {
	sid, _ := doc["_id"].(oid.ID)
	s, err := a.buildSession(ctx, doc, token, a.live.snap(sid))
	var e *Error
	if errors.As(err, &e) {
		return nil, nil
	}
	return s, err
}

// buildSession is loadSession with the reason a session may not be used
// as a 403 *Error (expired, the user is gone or not active), the live
// counters taken by snap before doc was read.
func (a *App) buildSession(ctx context.Context, doc map[string]any, token string, snap liveSnap) (*Session, error) {
	exp, _ := doc["expiry"].(string)
	expiry, err := parseDatetime(exp)
	if err != nil || !time.Now().Before(expiry) {
		return nil, NewError(403, CodeSessionExpired, msgSessionExpired)
	}
	uid, _ := doc["user"].(oid.ID)
	a.live.bind(snap.e, uid)
	users := a.modules["user"]
	res, err := a.store.Read(ctx, users.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: uid}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(res.Docs) == 0 || uid == AnonUserID {
		return nil, NewError(403, CodeInvalidUser, "User is deleted.")
	}
	user := res.Docs[0]
	switch st, _ := user["status"].(string); st {
	case "active":
	case "disabled_password":
		return nil, NewError(403, CodeInvalidUser, "User password is disabled.")
	default:
		return nil, NewError(403, CodeInvalidUser, fmt.Sprintf("User is %s.", st))
	}
	s, err := a.sessionFor(ctx, user)
	if err != nil {
		return nil, err
	}
	s.ID, _ = doc["_id"].(oid.ID)
	s.Expiry = expiry
	s.token = token
	s.live, s.liveGen, s.groupGen = snap.e, snap.gen, snap.groupGen
	s.Doc = M{"_id": s.ID, "user": s.User, "groups": doc["groups"], "host_add": doc["host_add"],
		"user_agent": doc["user_agent"], "expiry": exp, "create_time": doc["create_time"]}
	return s, nil
}

// sessionFor builds a Session for a user document: the user's own
// privileges merged with those of their groups (and the DEFAULT group,
// which every user is in).
func (a *App) sessionFor(ctx context.Context, user map[string]any) (*Session, error) {
	s := &Session{Privileges: Privileges{}}
	s.UserID, _ = user["_id"].(oid.ID)
	mergePrivileges(s.Privileges, user["privileges"])
	var gids []any
	if gs, ok := user["groups"].([]any); ok {
		for _, g := range gs {
			if id, ok := g.(oid.ID); ok {
				s.Groups = append(s.Groups, id)
				gids = append(gids, id)
			}
		}
	}
	if !slices.Contains(s.Groups, DefaultGroup) {
		gids = append(gids, DefaultGroup)
	}
	groups := a.modules["group"]
	res, err := a.store.Read(ctx, groups.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.In, Value: gids}})
	if err != nil {
		return nil, err
	}
	for _, g := range res.Docs {
		mergePrivileges(s.Privileges, g["privileges"])
	}
	clean := M{}
	for k, v := range user {
		if !a.secretUserAttr(k) {
			clean[k] = v
		}
	}
	clean["privileges"] = privilegesValue(s.Privileges)
	if err := a.mergeUserSettings(ctx, []map[string]any{clean}); err != nil { // settings.go
		return nil, err
	}
	s.User = clean
	return s, nil
}

// mergePrivileges adds a stored privileges map into p.
func mergePrivileges(p Privileges, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for mod, l := range m {
		list, _ := l.([]any)
		for _, x := range list {
			if s, ok := x.(string); ok && !slices.Contains(p[mod], s) {
				p[mod] = append(p[mod], s)
			}
		}
	}
}
