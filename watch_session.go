package limp

import "errors"

// A watcher's session changed (issue 14; spec §6.12 with §5's
// permissions): sign-out, sign-in, session switch, revocation.
//
// A watch never tells a session about a document that session may not
// read, not even that it left:
//
//   - Before each event the watcher compares its session with the
//     connection's (resession, watch.go): when it changed, the
//     permissions are checked again and the watcher moves to the group of
//     its new filter.
//   - Events matched under the old filter and not delivered yet (queued
//     before the move, or matched by the old group while the watcher
//     moved) are matched again under the new filter: a document it
//     matches is sent as matched; any other event is dropped, deletes
//     included: a document seen under the old session and unreadable
//     under the new one gets no more events, not even its delete {_id}.
//     (A client that needs an exact view after a session change watches
//     again.)
//   - An event is queued on the connection only while the connection's
//     session is still the one it was shaped for, checked under the
//     connection's reply queue lock (conn.sendIf): a session switch stores
//     the new session before its reply is queued, so no event shaped for
//     the old session follows the reply of a sign-out, sign-in or
//     session switch. Otherwise the event is delivered again under the
//     new session (errSessionMoved), at most maxResession times.

// errSessionMoved: the connection's session changed between the check of
// an event and its sending; the event is delivered again.
var errSessionMoved = errors.New("watch: the connection's session changed")

// maxResession bounds the deliveries of one event whose session keeps
// changing; past it the watch ends with CORE_WATCH_LOST.
const maxResession = 16

// sessionHolds reports whether c's session is still sess and current
// (not revoked meanwhile).
func (a *App) sessionHolds(c *conn, sess *Session) bool {
	s := c.session.Load()
	return s == sess && !a.stale(s)
}

// replyIf is reply (with the call_id), queued only while ok holds: see
// conn.sendIf.
func (c *conn) replyIf(status int, msg string, args M, callID any, ok func() bool) bool {
	bp := bufPool.Get().(*[]byte)
	b, err := encodeReply((*bp)[:0], status, msg, args, callID, true)
	if err != nil {
		c.app.Logger().Error("encode reply", "err", err)
		b, _ = encodeReply((*bp)[:0], 500, msgServerError, M{"code": CodeServerError}, callID, true)
	}
	*bp = b
	return c.sendIf(bp, ok)
}

// deliver shapes one event for the watcher's caller and sends it, again
// under the new session when the session changed meanwhile.
func (t *watchTask) deliver(e watchEvent) error {
	for range maxResession {
		if err := t.deliverOnce(e); !errors.Is(err, errSessionMoved) {
			return err
		}
	}
	return errWatchLost
}
