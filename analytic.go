package limp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// Analytic is one analytics set of a module (LIMP's ANALYTIC, spec
// §6.15): for every client call to the module for which Condition holds
// (nil: every call), the event Doc returns is recorded. Both run before
// the permission check, on the call's goroutine, and must be quick; the
// write itself happens later, off the call's path.
type Analytic struct {
	Condition func(ctx context.Context, c *Call) bool
	Doc       func(ctx context.Context, c *Call) AnalyticEvent
}

// AnalyticEvent is what an analytics set records: one occurrence, with
// Args and Score, of Event/Subevent for the caller's user.
type AnalyticEvent struct {
	Event    string
	Subevent any
	Args     M
	Score    int64
}

// Built-in analytics events (spec §6.15), recorded unless
// Config.AnalyticsEvents turns them off by their LIMP config names
// (app_conn_verified, session_conn_auth, session_user_auth,
// session_conn_reauth, session_user_reauth, session_conn_deauth,
// session_user_deauth). CONN_* events have the client app as subevent,
// USER_* the user's _id.
const (
	EventConnVerified = "CONN_VERIFIED"
	EventConnAuth     = "CONN_AUTH"
	EventUserAuth     = "USER_AUTH"
	EventConnReauth   = "CONN_REAUTH"
	EventUserReauth   = "USER_REAUTH"
	EventConnDeauth   = "CONN_DEAUTH"
	EventUserDeauth   = "USER_DEAUTH"
)

// DefaultAnalyticsQueue is the default of Config.AnalyticsQueue.
const DefaultAnalyticsQueue = 4096

// DefaultAnalyticsKeep is the default of Config.AnalyticsKeep.
const DefaultAnalyticsKeep = 1000

// analyticsKeep is the Keep of an occurrences append: 0 keeps all.
func (a *App) analyticsKeep() int {
	switch k := a.cfg.AnalyticsKeep; {
	case k < 0:
		return 0
	case k == 0:
		return DefaultAnalyticsKeep
	default:
		return k
	}
}

// coreAnalytic is the stored shape of an analytic (spec §6.15): one doc
// per (user, event, subevent), its occurrences appended.
type coreAnalytic struct {
	Doc
	User        ID                   `json:"user" limp:"index"`
	Event       string               `json:"event" limp:"index"`
	Subevent    any                  `json:"subevent"`
	Occurrences []analyticOccurrence `json:"occurrences" limp:"default=[]"`
	Score       int64                `json:"score" limp:"default=0"`
}

type analyticOccurrence struct {
	Args       map[string]any `json:"args"`
	Score      int64          `json:"score"`
	CreateTime string         `json:"create_time" limp:"type=DATETIME"`
}

func newAnalyticModule(a *App) *Module {
	m := NewModule[coreAnalytic]("analytic", Methods{
		"read":   {Permissions: Perms("read")},
		"update": {Permissions: Perms("__sys"), QueryArgs: []Args{{"_id": {Type: TypeID}}}},
		"delete": {Permissions: Perms("delete"), QueryArgs: []Args{{"_id": {Type: TypeID}}}},
	})
	m.Collection = "analytics"
	m.Desc = "Analytics (spec §6.15): one doc per (user, event, subevent) with every occurrence `{args, score, create_time}` and the summed `score`. " +
		"Recorded from modules' Analytics sets and the built-in events CONN_VERIFIED, CONN_AUTH, USER_AUTH, CONN_REAUTH, USER_REAUTH, CONN_DEAUTH, USER_DEAUTH (Config.AnalyticsEvents)."
	m.Methods["create"] = &Method{Permissions: Perms("__sys"), Handler: a.analyticCreate,
		DocArgs: []Args{{"event": {Type: TypeStr}, "subevent": {Type: TypeAny}, "args": {Type: TypeDict, Val: &Attr{Type: TypeAny}}}},
		Desc:    "Internal: records one occurrence (upsert on user, event, subevent)."}
	return m
}

// analyticCreate is analytic/create: an upsert of the caller's event.
func (a *App) analyticCreate(ctx context.Context, c *Call) (*Result, error) {
	ev, _ := c.Doc["event"].(string)
	args, _ := c.Doc["args"].(map[string]any)
	score, _ := toInt64(c.Doc["score"])
	id, err := a.recordAnalytic(ctx, analyticJob{user: c.Session.UserID, ev: AnalyticEvent{Event: ev, Subevent: c.Doc["subevent"], Args: args, Score: score}, at: time.Now()})
	if err != nil {
		return nil, err
	}
	return OK("Created 1 docs.", M{"count": int64(1), "docs": []any{M{"_id": id}}}), nil
}

type analyticJob struct {
	user ID
	ev   AnalyticEvent
	at   time.Time
	// realm is the realm the event happened in (realm mode; "" is
	// GlobalRealm): the writer records it there.
	realm string
}

// analyticsQueue is the one goroutine that writes analytics, fed by a
// bounded queue: a full queue drops the event (counted), so recording
// never slows or fails a call. Shutdown waits for the queue to drain.
type analyticsQueue struct {
	mu      sync.RWMutex
	q       chan analyticJob
	closed  bool
	dropped atomic.Int64
	written atomic.Int64
	done    chan struct{}
}

// startAnalytics starts the writer; called by Start.
func (a *App) startAnalytics() {
	size := a.cfg.AnalyticsQueue
	if size <= 0 {
		size = DefaultAnalyticsQueue
	}
	aq := &a.analytics
	aq.q, aq.done = make(chan analyticJob, size), make(chan struct{})
	go func() {
		defer close(aq.done)
		batch := make([]analyticJob, 0, analyticsBatch)
		for job := range aq.q {
			batch = append(batch[:0], job)
		fill: // take what else is queued, so that a busy key is one write
			for len(batch) < analyticsBatch {
				select {
				case j, ok := <-aq.q:
					if !ok {
						break fill
					}
					batch = append(batch, j)
				default:
					break fill
				}
			}
			if a.hardCtx.Err() != nil {
				// Shutdown's context ended: what is left is dropped.
				aq.dropped.Add(int64(len(batch)))
				continue
			}
			for _, group := range groupAnalytics(batch) {
				ctx, cancel := context.WithTimeout(a.hardCtx, 10*time.Second)
				if r := group[0].realm; r != "" && a.cfg.Realm {
					ctx = WithRealm(ctx, r) // the event's realm, not __global
				}
				_, err := a.recordAnalytics(ctx, group)
				cancel()
				if err != nil {
					a.log.Warn("analytics: events not recorded", "event", group[0].ev.Event, "count", len(group), "err", err)
					continue
				}
				aq.written.Add(int64(len(group)))
			}
		}
	}()
}

// analyticsBatch bounds the events the writer takes at once.
const analyticsBatch = 256

// groupAnalytics splits jobs by (realm, user, event, subevent), in order.
func groupAnalytics(jobs []analyticJob) [][]analyticJob {
	var keys []string
	groups := map[string][]analyticJob{}
	for _, j := range jobs {
		sub, _ := json.Marshal(canonicalAny(j.ev.Subevent))
		k := j.realm + "\x00" + j.user.Hex() + "\x00" + j.ev.Event + "\x00" + string(sub)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], j)
	}
	out := make([][]analyticJob, len(keys))
	for i, k := range keys {
		out[i] = groups[k]
	}
	return out
}

// stopAnalytics closes the queue and waits for the writer to record what
// is queued (Shutdown's context cancels the writes still waiting).
func (a *App) stopAnalytics() {
	aq := &a.analytics
	aq.mu.Lock()
	if aq.q == nil || aq.closed {
		aq.mu.Unlock()
		return
	}
	aq.closed = true
	close(aq.q)
	aq.mu.Unlock()
	<-aq.done
}

// AnalyticsDropped returns how many analytics events were dropped because
// the queue (Config.AnalyticsQueue) was full.
func (a *App) AnalyticsDropped() int64 { return a.analytics.dropped.Load() }

// RecordAnalytic queues ev for the user; it never blocks (a full queue
// drops the event, see AnalyticsDropped) and never fails. In realm mode
// the event is recorded in the realm of ctx: the caller's realm when ctx
// is the one a hook or handler received, the one WithRealm names, else
// GlobalRealm (as the events of client calls, Analytics sets and the
// built-in auth events, are recorded in the call's realm).
func (a *App) RecordAnalytic(ctx context.Context, user ID, ev AnalyticEvent) {
	a.queueAnalytic(a.callRealm(ctx, nil), user, ev)
}

// callRealm is the realm c runs in: c.Realm, else the context's ("" when
// neither says, and outside realm mode).
func (a *App) callRealm(ctx context.Context, c *Call) string {
	if !a.cfg.Realm {
		return ""
	}
	if c != nil && c.Realm != "" {
		return c.Realm
	}
	r, _ := realmFrom(ctx)
	return r
}

// queueAnalytic is RecordAnalytic for an event of realm ("" is
// GlobalRealm).
func (a *App) queueAnalytic(realm string, user ID, ev AnalyticEvent) {
	aq := &a.analytics
	aq.mu.RLock()
	defer aq.mu.RUnlock()
	if aq.q == nil || aq.closed || a.modules["analytic"] == nil {
		return
	}
	select {
	case aq.q <- analyticJob{user: user, ev: ev, at: time.Now(), realm: realm}:
	default:
		aq.dropped.Add(1)
	}
}

// builtinAnalytic records a built-in event unless Config.AnalyticsEvents
// turns it off (name is its LIMP config name).
func (a *App) builtinAnalytic(name string, c *Call, ev AnalyticEvent) {
	if on, set := a.cfg.AnalyticsEvents[name]; set && !on {
		return
	}
	a.queueAnalytic(a.callRealm(context.Background(), c), c.Session.UserID, ev)
}

// authAnalytics records CONN_<kind> and USER_<kind> (kind AUTH, REAUTH or
// DEAUTH) for the session s the call signed in to or out of.
func (a *App) authAnalytics(c *Call, kind string, s *Session) {
	if s == nil {
		return
	}
	lower := map[string]string{"AUTH": "auth", "REAUTH": "reauth", "DEAUTH": "deauth"}[kind]
	a.builtinAnalytic("session_conn_"+lower, c, AnalyticEvent{Event: "CONN_" + kind, Subevent: c.ClientApp,
		Args: M{"user": s.UserID, "session": s.ID, "REMOTE_ADDR": c.RemoteAddr, "HTTP_USER_AGENT": c.UserAgent}})
	a.builtinAnalytic("session_user_"+lower, c, AnalyticEvent{Event: "USER_" + kind, Subevent: s.UserID,
		Args: M{"session": s.ID, "REMOTE_ADDR": c.RemoteAddr, "HTTP_USER_AGENT": c.UserAgent, "client_app": c.ClientApp}})
}

// callAnalytics evaluates the module's analytics sets for a client call
// (spec §6.8 step 2: before the permission check).
func (a *App) callAnalytics(ctx context.Context, c *Call) {
	if c.Module == nil || len(c.Module.Analytics) == 0 {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("analytics set panicked", "endpoint", c.Endpoint, "panic", r)
		}
	}()
	for _, set := range c.Module.Analytics {
		if set.Doc == nil || set.Condition != nil && !set.Condition(ctx, c) {
			continue
		}
		a.queueAnalytic(a.callRealm(ctx, c), c.Session.UserID, set.Doc(ctx, c))
	}
}

// recordAnalytic writes one occurrence: appended to the (user, event,
// subevent) doc, or a new doc, in one transaction.
func (a *App) recordAnalytic(ctx context.Context, job analyticJob) (ID, error) {
	return a.recordAnalytics(ctx, []analyticJob{job})
}

// recordAnalytics writes occurrences of one (user, event, subevent), in
// order, with one update (or insert).
func (a *App) recordAnalytics(ctx context.Context, jobs []analyticJob) (ID, error) {
	m := a.modules["analytic"]
	job := jobs[0]
	if job.ev.Event == "" {
		return ID{}, m.Error(400, CodeInvalidDoc, "Analytic event is required.")
	}
	cc := a.convertCtx()
	subevent := canonicalAny(job.ev.Subevent)
	if id, ok := subevent.(ID); ok {
		subevent = id.Hex() // as ANY values are read back, so the upsert finds it
	}
	sub, err := m.byName["subevent"].convert(cc, subevent, "subevent")
	if err != nil {
		return ID{}, m.attrError(err, "create")
	}
	occs := make([]any, 0, len(jobs))
	var score int64
	for _, j := range jobs {
		args := j.ev.Args
		if args == nil {
			args = M{}
		}
		occ, err := m.byName["occurrences"].Items[0].convert(cc, M{"args": canonicalAny(args), "score": j.ev.Score, "create_time": FormatDatetime(j.at)}, "occurrences")
		if err != nil {
			return ID{}, m.attrError(err, "create")
		}
		occs = append(occs, occ)
		score += j.ev.Score
	}
	filter := query.AndFilter(query.AndFilter(
		&query.Cond{Path: "user", Op: query.Eq, Value: job.user},
		&query.Cond{Path: "event", Op: query.Eq, Value: job.ev.Event}),
		&query.Cond{Path: "subevent", Op: query.Eq, Value: sub})
	var id ID
	err = a.store.Tx(ctx, func(ctx context.Context) error {
		res, err := a.store.Update(ctx, m.coll, &query.Query{Filter: filter, Limit: 1}, &store.Update{
			Append: map[string]store.Append{"occurrences": {Values: occs, Keep: a.analyticsKeep()}},
			Add:    map[string]any{"score": score},
		})
		if err != nil {
			return err
		}
		if len(res.Matched) > 0 {
			id = res.Matched[0]
			return nil
		}
		id = oid.NewAt(job.at)
		if k := a.analyticsKeep(); k > 0 && len(occs) > k {
			occs = occs[len(occs)-k:]
		}
		return a.store.Insert(ctx, m.coll, map[string]any{"_id": id, "create_time": FormatDatetime(job.at),
			"user": job.user, "event": job.ev.Event, "subevent": sub, "occurrences": occs, "score": score})
	})
	return id, err
}

// canonicalAny turns Go values from app code (ints, typed maps and
// slices) into the canonical values the store takes.
func canonicalAny(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = canonicalAny(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = canonicalAny(e)
		}
		return out
	}
	return v
}

// checkAnalyticsDecl reports analytics sets without a Doc.
func checkAnalyticsDecl(m *Module) error {
	var errs []error
	for i, s := range m.Analytics {
		if s.Doc == nil {
			errs = append(errs, fmt.Errorf("module %q: Analytics[%d] has no Doc", m.Name, i))
		}
	}
	return errors.Join(errs...)
}
