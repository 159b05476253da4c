package limp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"reflect"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// Session switching (spec §2.5, issue 10 item 5).
//
// LIMP clients (ng-limp, the Go client) switch to whatever session a
// result's args.session names, whichever method returned it, so the server
// does the same: after a websocket call, a result carrying args.session
// switches the connection to that session, whether the handler called
// [Call.SwitchSession] or built args.session itself (or passed on the
// result of session/auth from [App.Invoke]). A session the handler did
// not get from SwitchSession is checked before the switch: args.session
// must be the ANON session ({"_id": "f00000000000000000000012"}) or name a
// stored session by _id together with its token (and, when it carries a
// user, that session's user), which must still be usable (not expired,
// its user active). Anything else is a handler bug: the call fails with a
// 500 (logged with the reason) and the connection keeps its session, so
// server and client never disagree on the signing key.

// resultSession settles which session a finished call switches its
// connection to, from the result's args.session (see above).
func (a *App) resultSession(ctx context.Context, c *Call, res *Result, err error) (*Result, error) {
	if err != nil || res == nil {
		return res, err
	}
	v, has := res.Args["session"]
	if s := c.switchTo; s != nil {
		if !has {
			// The client switches on args.session only: keep them in step.
			res.Args["session"] = s.Doc
			return res, nil
		}
		if m, ok := v.(M); ok && sameMap(m, s.Doc) {
			return res, nil
		}
	}
	if !has {
		return res, nil
	}
	s, err := a.sessionOfResult(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("%s returned args.session that names no usable session: %w", c.Endpoint, err)
	}
	c.switchTo = s
	return res, nil
}

func sameMap(a, b M) bool {
	return a != nil && b != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// sessionOfResult resolves a result's args.session to a usable session.
func (a *App) sessionOfResult(ctx context.Context, v any) (*Session, error) {
	doc, ok := v.(M)
	if !ok {
		return nil, fmt.Errorf("args.session is %T, not an object", v)
	}
	sid, ok := toID(doc["_id"])
	if !ok {
		return nil, errors.New("args.session has no valid _id")
	}
	if sid == AnonSessionID {
		return a.anon, nil
	}
	token, _ := doc["token"].(string)
	if token == "" || len(token) > maxHashLen {
		return nil, errors.New("args.session has no token")
	}
	snap := a.live.snap(sid)
	sessions := a.modules["session"]
	res, err := a.store.Read(ctx, sessions.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: sid}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(res.Docs) == 0 {
		return nil, fmt.Errorf("session %s does not exist", sid.Hex())
	}
	stored := res.Docs[0]
	sh, _ := stored["token_hash"].(string)
	if subtle.ConstantTimeCompare([]byte(tokenDigest(token)), []byte(sh)) != 1 {
		return nil, fmt.Errorf("args.session.token is not session %s's token", sid.Hex())
	}
	if u, ok := doc["user"]; ok {
		if m, isDoc := u.(M); isDoc {
			u = m["_id"]
		}
		uid, ok := toID(u)
		if suid, _ := stored["user"].(oid.ID); !ok || uid != suid {
			return nil, fmt.Errorf("args.session.user is not session %s's user", sid.Hex())
		}
	}
	s, err := a.buildSession(ctx, stored, token, snap)
	if err != nil {
		return nil, err
	}
	s.Doc["token"] = token
	return s, nil
}
