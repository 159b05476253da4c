package limp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"

	"github.com/limp-go/limp/internal/jsonv"
)

// Ids of the built-in system user and its session (spec §5.2: the only
// holder of "__sys"). Neither is stored; neither can be signed in to or
// resumed, and no connection or HTTP call ever runs under them.
var (
	SystemUserID    = mustID("f00000000000000000000001")
	SystemSessionID = mustID("f00000000000000000000002")
)

// InvokeOption changes how App.Invoke and Call.Invoke run an internal
// call. The options are the Skip flags.
type InvokeOption interface {
	applyInvoke(c *Call)
}

// Skip is a set of call pipeline stages an internal call skips: LIMP's
// skip_events (spec §5.4, §6.8). Combine flags with |, e.g.
// limp.SkipPermissions|limp.SkipArgs. Network calls never skip anything;
// only Go code can pass these.
type Skip uint16

// The stages an internal call can skip.
const (
	// SkipPermissions skips the permission check (Event.PERM): no
	// permission set is required and none of their query_mod / doc_mod
	// apply, so "__sys" methods run. The method sees the session it was
	// given (its user for auto attrs and "$__user" in hooks).
	SkipPermissions = Skip(skipPerm)
	// SkipArgs skips query_args/doc_args validation (Event.ARGS); base
	// create then also lets the doc choose its _id and does not set its
	// "user" attr from the session. Attr values are still converted.
	SkipArgs = Skip(skipArgs)
	// SkipPreHooks skips the module's Pre* hooks (Event.PRE).
	SkipPreHooks = Skip(skipPre)
	// SkipOnHooks skips the module's On* hooks (Event.ON).
	SkipOnHooks = Skip(skipOn)
	// SkipExtensions skips reference expansion on read (Event.EXTN).
	SkipExtensions = Skip(skipExtn)
)

func (s Skip) applyInvoke(c *Call) { c.skip |= skipSet(s) }

// Skipped reports whether the call skips every stage of s, as hooks of
// LIMP test skip_events: a client's call skips nothing.
func (c *Call) Skipped(s Skip) bool { return Skip(c.skip)&s == s }

// System reports whether s is the system session (App.SystemSession).
func (s *Session) System() bool { return s != nil && s.sys }

// SystemSession returns a session of the built-in system user
// (SystemUserID), which holds every privilege of every module, "__sys"
// included (spec §5.2): with it, App.Invoke passes the first permission
// set of any method, with that set's query_mod and doc_mod ("$__user" is
// SystemUserID). Use it for jobs, start-up tasks and hooks that act on
// behalf of the app rather than of a client; pass SkipPermissions instead
// to ignore permission sets altogether.
//
// The system session is never reachable by clients: it is not stored, its
// token is random and never sent, Call.SwitchSession refuses it, and no
// connection or HTTP call runs under it. Each call returns a new Session,
// so callers may change it freely.
func (a *App) SystemSession() *Session {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return &Session{
		ID:     SystemSessionID,
		UserID: SystemUserID,
		User: M{
			"_id":        SystemUserID,
			"name":       localeAll(a.cfg.Locales, "__SYSTEM"),
			"groups":     []any{},
			"privileges": M{"*": []any{"*"}},
			"locale":     a.cfg.Locale,
		},
		Groups:     []ID{},
		Privileges: Privileges{"*": {"*"}},
		Doc:        M{"_id": SystemSessionID, "user": SystemUserID},
		token:      hex.EncodeToString(b[:]),
		sys:        true,
	}
}

// Invoke runs endpoint's method as an internal call from a hook or a
// handler, with the calling client's context: its session, IP, user agent,
// origin and client app (LIMP's env), through the same pipeline as a
// client call (spec §6.8) unless opts skip stages. The inner call gets no
// call_id, does not attach the client's uploads and cannot switch the
// client's session; its result is returned, not sent. q and doc are not
// modified (the call works on copies); nil means empty.
//
// To run as the app instead of the client, use App.Invoke with
// App.SystemSession.
func (c *Call) Invoke(ctx context.Context, endpoint string, q *Query, doc M, opts ...InvokeOption) (*Result, error) {
	if c.app == nil {
		return nil, errors.New("limp: Call.Invoke on a call that is not running in an app")
	}
	return c.app.invoke(ctx, &Call{Session: c.Session, RemoteAddr: c.RemoteAddr, UserAgent: c.UserAgent,
		Origin: c.Origin, ClientApp: c.ClientApp}, endpoint, q, doc, opts)
}

// invoke dispatches an internal call built from base (who calls).
func (a *App) invoke(ctx context.Context, base *Call, endpoint string, q *Query, doc M, opts []InvokeOption) (*Result, error) {
	m, meth, err := a.dispatch(endpoint)
	if err != nil {
		return nil, err
	}
	c := base
	c.Endpoint, c.Module, c.Method, c.app = endpoint, m, meth, a
	if c.Session == nil {
		c.Session = a.anon
	}
	c.Query = q.clone()
	if doc != nil {
		c.Doc = cloneOrdered(doc).(M)
	}
	for _, o := range opts {
		if o != nil {
			o.applyInvoke(c)
		}
	}
	return a.run(ctx, c)
}

// errSystemSwitch is the error of a call that tried to hand the system
// session to a client.
var errSystemSwitch = errors.New("limp: Call.SwitchSession with the system session: it is never given to a client")

// clone returns a deep copy of q (nil: an empty query).
func (q *Query) clone() *Query {
	if q == nil {
		return &Query{}
	}
	out := &Query{}
	if q.steps != nil {
		out.steps = cloneOrdered(q.steps).([]any)
	}
	if q.legacy != nil {
		out.legacy = cloneOrdered(q.legacy).(jsonv.Object)
	}
	return out
}

// cloneOrdered deep-copies a wire value (jsonv objects, maps, lists).
func cloneOrdered(v any) any {
	switch x := v.(type) {
	case jsonv.Object:
		o := make(jsonv.Object, len(x))
		for i, m := range x {
			o[i] = jsonv.Member{Key: m.Key, Value: cloneOrdered(m.Value)}
		}
		return o
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = cloneOrdered(e)
		}
		return l
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneOrdered(e)
		}
		return m
	}
	return v
}
