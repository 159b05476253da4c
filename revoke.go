package limp

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/limp-go/limp/internal/blob"
	"github.com/limp-go/limp/internal/feed"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// Revocation on live connections (issue 10 item 3).
//
// A signed-in connection keeps its Session in memory, so a change to the
// session's user, groups or session document must reach it without a
// database read per call. Every write to the user, group and session
// collections goes through watchedStore, which bumps a generation counter:
// one per live session (kept in liveSessions, found by session _id and by
// user _id) and one for all groups. A Session remembers the generations it
// was built at; a connection compares them (two atomic loads) before each
// call, and only when one moved does it rebuild the session from the store
// (liveSession): a deleted session, a deleted user or a user who is no
// longer active ends the session on that connection (403, and the
// connection is back on ANON); anything else (privileges, groups) is
// picked up silently.

// liveEntry is the generation counter of one session _id. Sessions built
// for that _id share it; it lives as long as one of them does.
type liveEntry struct {
	sid ID
	gen atomic.Uint64
	mu  sync.Mutex // guards uid
	uid ID
}

// liveSessions indexes the live sessions' counters. Entries are weak: a
// session no connection holds any more is forgotten once collected, so
// the tables are bounded by the live sessions.
type liveSessions struct {
	mu        sync.Mutex
	bySession map[ID]weak.Pointer[liveEntry]
	byUser    map[ID]map[ID]struct{} // user _id -> session _ids
	groupGen  atomic.Uint64
}

// liveSnap is the state of the counters before a session is read from the
// store: a write after it moves a counter and makes the session stale.
type liveSnap struct {
	e        *liveEntry
	gen      uint64
	groupGen uint64
}

// snap returns the counter of session sid (creating it) and its current
// generations. Take it before reading the session's documents.
func (r *liveSessions) snap(sid ID) liveSnap {
	r.mu.Lock()
	defer r.mu.Unlock()
	var e *liveEntry
	if wp, ok := r.bySession[sid]; ok {
		e = wp.Value()
	}
	if e == nil {
		if r.bySession == nil {
			r.bySession = map[ID]weak.Pointer[liveEntry]{}
			r.byUser = map[ID]map[ID]struct{}{}
		}
		e = &liveEntry{sid: sid}
		r.bySession[sid] = weak.Make(e)
		runtime.AddCleanup(e, r.forget, sid)
	}
	return liveSnap{e: e, gen: e.gen.Load(), groupGen: r.groupGen.Load()}
}

// bind records that session e belongs to user uid, so that writes to the
// user reach it. Call it before reading the user.
func (r *liveSessions) bind(e *liveEntry, uid ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.mu.Lock()
	old := e.uid
	e.uid = uid
	e.mu.Unlock()
	if old != uid && !old.IsZero() {
		r.unindex(old, e.sid)
	}
	s := r.byUser[uid]
	if s == nil {
		s = map[ID]struct{}{}
		r.byUser[uid] = s
	}
	s[e.sid] = struct{}{}
}

func (r *liveSessions) unindex(uid, sid ID) {
	if s := r.byUser[uid]; s != nil {
		delete(s, sid)
		if len(s) == 0 {
			delete(r.byUser, uid)
		}
	}
}

// forget drops session sid's entry once its counter was collected (and
// not replaced by a newer one).
func (r *liveSessions) forget(sid ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	wp, ok := r.bySession[sid]
	if !ok || wp.Value() != nil {
		return
	}
	delete(r.bySession, sid)
	for uid, s := range r.byUser {
		if _, ok := s[sid]; ok {
			r.unindex(uid, sid)
		}
	}
}

// sessionsWritten marks sessions ids stale.
func (r *liveSessions) sessionsWritten(ids []oid.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sid := range ids {
		if e := r.bySession[sid].Value(); e != nil {
			e.gen.Add(1)
		}
	}
}

// usersWritten marks every live session of users ids stale.
func (r *liveSessions) usersWritten(ids []oid.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, uid := range ids {
		for sid := range r.byUser[uid] {
			if e := r.bySession[sid].Value(); e != nil {
				e.gen.Add(1)
			}
		}
	}
}

// groupsWritten marks every live session stale: group writes are rare,
// and a group's members are not known without a read.
func (r *liveSessions) groupsWritten() { r.groupGen.Add(1) }

// stale reports whether s was built before a write to its session, its
// user or any group. Two atomic loads; safe for concurrent use.
func (a *App) stale(s *Session) bool {
	return s.live != nil && (s.live.gen.Load() != s.liveGen || a.live.groupGen.Load() != s.groupGen)
}

// revalidate returns the current state of a stale session: the rebuilt
// session, or a 403 *Error when it must end (the session or its user was
// deleted, the user is no longer active, the session expired).
func (a *App) revalidate(ctx context.Context, s *Session) (*Session, error) {
	snap := a.live.snap(s.ID)
	sessions := a.modules["session"]
	res, err := a.store.Read(ctx, sessions.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: s.ID}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(res.Docs) == 0 {
		return nil, errSessionRevoked
	}
	doc := res.Docs[0]
	if stored, _ := doc["token_hash"].(string); stored != tokenDigest(s.token) {
		return nil, errSessionRevoked
	}
	ns, err := a.buildSession(ctx, doc, s.token, snap)
	if err != nil {
		return nil, err
	}
	if tok, ok := s.Doc["token"]; ok {
		ns.Doc["token"] = tok
	}
	return ns, nil
}

// errSessionRevoked ends a live session whose document is gone (spec
// §4.5's code for an unknown session).
var errSessionRevoked = &Error{Status: 403, Code: CodeInvalidSession, Msg: "Session is invalid."}

// watchedStore is the app's store with the write path of the user, group
// and session collections reporting to the live sessions. Writes inside
// a transaction report again once it commits, so a session rebuilt from
// the store between the write and the commit is marked stale once more.
type watchedStore struct {
	store.Store
	a *App
}

// watchedBlobStore is a watchedStore over a store that keeps file
// contents itself (MongoDB's GridFS), keeping that capability visible.
type watchedBlobStore struct {
	watchedStore
	blobs interface{ Blobs() blob.Store }
}

func (s watchedBlobStore) Blobs() blob.Store { return s.blobs.Blobs() }

// Unwrap returns the store underneath, for capability checks.
func (s watchedStore) Unwrap() store.Store { return s.Store }

// watchStore wraps st (once).
func (a *App) watchStore(st store.Store) store.Store {
	switch st.(type) {
	case watchedStore, watchedBlobStore:
		return st
	}
	w := watchedStore{Store: st, a: a}
	if b, ok := st.(interface{ Blobs() blob.Store }); ok {
		return watchedBlobStore{watchedStore: w, blobs: b}
	}
	return w
}

type txWritesKey struct{}

// txWrites records a transaction's writes to report again on commit.
type txWrites struct {
	mu     sync.Mutex
	writes []func()
}

func (s watchedStore) written(ctx context.Context, c *schema.Collection, ids []oid.ID) {
	a := s.a
	var f func()
	switch {
	case c == a.modules["user"].coll && len(ids) > 0:
		f = func() { a.live.usersWritten(ids) }
	case c == a.modules["session"].coll && len(ids) > 0:
		f = func() { a.live.sessionsWritten(ids) }
	case c == a.modules["group"].coll:
		f = a.live.groupsWritten
	default:
		return
	}
	f()
	if tw, ok := ctx.Value(txWritesKey{}).(*txWrites); ok {
		tw.mu.Lock()
		tw.writes = append(tw.writes, f)
		tw.mu.Unlock()
	}
}

func (s watchedStore) Insert(ctx context.Context, c *schema.Collection, docs ...map[string]any) error {
	err := s.Store.Insert(ctx, c, docs...)
	if err == nil {
		s.publishCreated(ctx, c, docs)
	}
	s.a.cacheWritten(ctx, c)
	if err == nil && c == s.a.modules["group"].coll {
		// A user may name a group before it exists.
		s.written(ctx, c, nil)
	}
	return err
}

func (s watchedStore) Update(ctx context.Context, c *schema.Collection, q *query.Query, u *store.Update) (*store.UpdateResult, error) {
	res, err := s.Store.Update(ctx, c, q, u)
	if err == nil && res != nil && res.Modified > 0 {
		s.publish(ctx, c, feed.Update, res.Matched)
	}
	s.a.cacheWritten(ctx, c)
	if res != nil && len(res.Matched) > 0 && !loginTimeOnly(s.a, c, u) {
		s.written(ctx, c, res.Matched)
	}
	return res, err
}

func (s watchedStore) Delete(ctx context.Context, c *schema.Collection, q *query.Query, hard bool) ([]oid.ID, error) {
	ids, err := s.Store.Delete(ctx, c, q, hard)
	if err == nil {
		s.publish(ctx, c, feed.Delete, ids)
	}
	s.a.cacheWritten(ctx, c)
	if len(ids) > 0 {
		s.written(ctx, c, ids)
	}
	return ids, err
}

func (s watchedStore) Tx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, nested := ctx.Value(txWritesKey{}).(*txWrites); nested {
		return s.Store.Tx(ctx, fn)
	}
	tw := &txWrites{}
	err := s.txFeed(ctx, func(ctx context.Context) error {
		return s.Store.Tx(context.WithValue(ctx, txWritesKey{}, tw), fn)
	})
	tw.mu.Lock()
	defer tw.mu.Unlock()
	for _, f := range tw.writes {
		f()
	}
	return err
}

// revalidate rebuilds the connection's stale session old before a call.
// A session that must end is replaced by ANON, and the call is answered
// with the reason (403, args.session the ANON session, as for an expired
// session); it then returns nil.
func (c *conn) revalidate(old *Session, callID any) *Session {
	a := c.app
	ctx, cancel := context.WithTimeout(c.hard, a.cfg.CallTimeout)
	defer cancel()
	s, err := a.revalidate(ctx, old)
	var e *Error
	if errors.As(err, &e) {
		if c.realmGone(ctx, callID) { // realm_purge.go: its sessions went with it
			return nil
		}
		c.session.CompareAndSwap(old, a.anon)
		a.Logger().Info("session ended on a live connection", "session", old, "ip", c.ip, "code", e.Code)
		c.reply(e.Status, e.Msg, M{"code": e.Code, "session": M{"_id": AnonSessionID}}, callID, true)
		return nil
	}
	if err != nil {
		c.replyErr(err, callID, "")
		return nil
	}
	c.session.CompareAndSwap(old, s)
	return s
}

// loginTimeOnly reports whether u only stamps users' login_time (every
// reauth does), which changes nothing a session depends on.
func loginTimeOnly(a *App, c *schema.Collection, u *store.Update) bool {
	if c != a.modules["user"].coll {
		return false
	}
	p := u.Paths()
	return len(p) == 1 && p[0] == "login_time"
}
