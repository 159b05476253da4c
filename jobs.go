package limp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/limp-go/limp/internal/cron"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// Scheduled jobs (spec §6.18; issue 16 item 2).
//
// Each Config.Jobs entry has a cron schedule (five fields, minute first,
// UTC, or a descriptor such as @hourly). The App's scheduler wakes at
// every minute and runs each time a job was due since it last looked,
// once: LIMP's loop, which compares the current minute and skips minutes
// when it drifts, is replaced by due times computed from the schedule.
// After a pause (a busy machine, a suspended process) at most
// Job.CatchUp of the missed due times run, the latest ones; the others
// are logged as skipped.
//
// Exactly once across nodes: before running a due time, a node inserts a
// job_run document for (job, run_time) — the store's unique index lets
// one insert win, on the embedded store and on MongoDB alike. The
// document is the run's lease until lease_until (start + Job.Timeout +
// one minute); the run's context ends at Job.Timeout. A node that dies
// mid-run leaves the document "running": once its lease has expired,
// another node takes it over with a conditional update (one wins) and
// runs the job again for that time. The document then records the end
// time, outcome (ok, error, mismatch) and error: the run history, read by
// admins with job_run/read; job_run/run_now runs a job at once.

// Job is one scheduled job (LIMP's Config.jobs entry). Set exactly one of
// Func and Call.
type Job struct {
	// Name identifies the job in run history and job_run/run_now;
	// required, unique, [a-z0-9_]+.
	Name string
	// Schedule is a cron expression: "min hour dom month dow" in UTC, or
	// a descriptor (@hourly, @daily, @every 5m: whole minutes, aligned to
	// multiples of the interval). Invalid ones fail Start.
	Schedule string
	// Disabled keeps the job from running on schedule (job_run/run_now
	// still runs it).
	Disabled bool
	// Func is a job of type 'job': Go code run with a JobContext. A
	// returned error (or a panic) is recorded as the run's outcome.
	Func func(ctx context.Context, jc *JobContext) error
	// Call is a job of type 'call': an internal call.
	Call *JobCall
	// Timeout bounds one run (its context ends); default 10 minutes. A
	// node's lease on a run lasts Timeout plus one minute.
	Timeout time.Duration
	// CatchUp is how many missed due times run after a pause; default 1
	// (the latest), negative none.
	CatchUp int
}

// JobCall is a job of type 'call' (spec §6.18): the endpoint is invoked
// with the system session (App.SystemSession) through the whole call
// pipeline.
type JobCall struct {
	// Endpoint is "module/method".
	Endpoint string
	Query    *Query
	Doc      M
	// Acceptance maps result paths ("status", "msg", "args.count") to
	// expected values, compared as JSON. On a mismatch the run's outcome
	// is "mismatch" and the job is disabled on every node (the run's
	// document gets disabled: true; clear it with job_run/update to
	// enable the job again), unless PreventDisable.
	Acceptance     M
	PreventDisable bool
}

// JobContext is what a Func job receives.
type JobContext struct {
	// App is the app running the job.
	App *App
	// Session is a system session (App.SystemSession), for App.Invoke.
	Session *Session
	// Job is the job's name; RunTime the due time being run (UTC).
	Job     string
	RunTime time.Time
	// Manual is set for a run started by job_run/run_now.
	Manual bool
}

// clock is the time source of jobs and the cache; tests inject a fake.
type clock interface {
	Now() time.Time
	// Until returns a channel that receives once the clock reaches t.
	Until(t time.Time) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                     { return time.Now() }
func (realClock) Until(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// now returns the App's current time, UTC.
func (a *App) now() time.Time {
	if a.clk == nil {
		return time.Now().UTC()
	}
	return a.clk.Now().UTC()
}

// jobState is the scheduler's state.
type jobState struct {
	node    string
	entries map[string]*jobEntry
	names   []string  // declaration order
	last    time.Time // due times up to last were looked at
	mu      sync.Mutex
	runs    sync.WaitGroup // runs in flight (also counted in bgWG)
	noLoop  bool           // tests drive jobsTick themselves
}

type jobEntry struct {
	job   *Job
	sched cron.Schedule
}

// coreJobRun is the stored shape of a job run (run history and lease).
type coreJobRun struct {
	Doc
	Job        string  `json:"job"`
	RunTime    string  `json:"run_time" limp:"type=DATETIME"`
	Manual     bool    `json:"manual"`
	Node       string  `json:"node"`
	StartTime  string  `json:"start_time" limp:"type=DATETIME"`
	EndTime    *string `json:"end_time" limp:"type=DATETIME"`
	Outcome    string  `json:"outcome" validate:"oneof=running ok error mismatch"`
	Error      *string `json:"error"`
	LeaseUntil string  `json:"lease_until" limp:"type=DATETIME"`
	Disabled   bool    `json:"disabled"`
}

// registerJobRun declares the job_run module when the app has jobs.
func (a *App) registerJobRun() {
	if len(a.cfg.Jobs) == 0 {
		return
	}
	m := NewModule[coreJobRun]("job_run", Methods{
		"read":   {Permissions: Perms("admin")},
		"create": {Permissions: Perms("__sys")},
		"update": {Permissions: Perms("admin"), QueryArgs: []Args{{"_id": {Type: TypeID}}}},
		"delete": {Permissions: Perms("admin")},
	})
	m.Methods["run_now"] = &Method{Permissions: Perms("admin"), Handler: a.runNow,
		DocArgs: []Args{{"job": {Type: TypeStr}}},
		Desc:    "Runs a job at once, off the call: returns the run's _id (its job_run document)."}
	m.Unique = [][]string{{"job", "run_time", "manual"}}
	m.Indexes = [][]string{{"outcome", "lease_until"}}
	m.Collection = "job_runs"
	m.Desc = "Run history and leases of Config.Jobs (read by admins)."
	if a.cfg.Realm {
		// Jobs are the app's, run with the system session: in realm mode
		// only __global callers (ADMIN) reach job_run. A realm's admin
		// holds every privilege in the realm, job_run's included, and
		// would otherwise run app jobs at will with run_now. Internal
		// calls (the scheduler, Invoke) pass no interceptor.
		m.Use(func(next Handler) Handler {
			return func(ctx context.Context, c *Call) (*Result, error) {
				r := c.Realm // as enterRealm sets it (realm.go)
				if r == "" {
					if x, ok := realmFrom(ctx); ok && x != "" {
						r = x
					} else {
						r = GlobalRealm
					}
				}
				if r != GlobalRealm {
					return nil, errForbidden
				}
				return next(ctx, c)
			}
		})
	}
	a.Register("core", m)
}

// checkJobs reports every invalid job declaration.
func (a *App) checkJobs() []error {
	var errs []error
	a.jobs.entries = map[string]*jobEntry{}
	a.jobs.names = nil
	if len(a.cfg.Jobs) > 0 && a.modules["job_run"] == nil {
		// job_run is declared by New from the Config it was given.
		return []error{errors.New("Config.Jobs is empty in the Config given to New but set later (an env override?): declare jobs in New's Config")}
	}
	for i := range a.cfg.Jobs {
		j := &a.cfg.Jobs[i]
		name := j.Name
		switch {
		case !moduleNameRE.MatchString(name):
			errs = append(errs, fmt.Errorf("job %d: name %q is not [a-z][a-z0-9_]*", i, name))
			name = fmt.Sprintf("#%d", i)
		case a.jobs.entries[name] != nil:
			errs = append(errs, fmt.Errorf("job %q: declared twice", name))
			continue
		}
		sched, err := cron.Parse(j.Schedule)
		if err != nil {
			errs = append(errs, fmt.Errorf("job %q: schedule %q: %w", name, j.Schedule, err))
		}
		switch {
		case (j.Func == nil) == (j.Call == nil):
			errs = append(errs, fmt.Errorf("job %q: set exactly one of Func and Call", name))
		case j.Call != nil:
			mod, meth, ok := strings.Cut(j.Call.Endpoint, "/")
			if m := a.modules[mod]; !ok || m == nil || m.Methods[meth] == nil {
				errs = append(errs, fmt.Errorf("job %q: endpoint %q is not a method of a loaded module", name, j.Call.Endpoint))
			}
		}
		if j.Timeout < 0 {
			errs = append(errs, fmt.Errorf("job %q: negative Timeout", name))
		}
		a.jobs.entries[name] = &jobEntry{job: j, sched: sched}
		a.jobs.names = append(a.jobs.names, name)
	}
	return errs
}

// startServices starts the scheduler and the gateway worker (Start).
func (a *App) startServices() {
	if a.clk == nil {
		a.clk = realClock{}
	}
	a.startCache()
	a.startGateways()
	if len(a.cfg.Jobs) == 0 {
		return
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	a.jobs.node = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	a.jobs.last = a.now()
	if a.jobs.noLoop {
		return
	}
	a.bgWG.Add(1)
	go a.jobsLoop()
}

// jobsLoop wakes at every minute and runs what is due, until Shutdown.
func (a *App) jobsLoop() {
	defer a.bgWG.Done()
	for {
		// The next minute after the last look, not after now: a minute
		// that began while the last pass ran is due at once.
		a.jobs.mu.Lock()
		next := a.jobs.last.Truncate(time.Minute).Add(time.Minute)
		a.jobs.mu.Unlock()
		select {
		case <-a.drain:
			return
		case <-a.clk.Until(next):
		}
		a.jobsTick(a.hardCtx, a.now())
	}
}

// jobsTick runs (in goroutines owned by the App) every due time in
// (last, now] of every job, at most CatchUp per job, and takes over runs
// whose lease expired. Only the scheduler goroutine (or a test) calls it.
func (a *App) jobsTick(ctx context.Context, now time.Time) {
	a.jobs.mu.Lock()
	last := a.jobs.last
	if now.After(last) {
		a.jobs.last = now
	}
	a.jobs.mu.Unlock()
	for _, name := range a.jobs.names {
		e := a.jobs.entries[name]
		if e.job.Disabled || e.sched == nil {
			continue
		}
		due := dueTimes(e.sched, last, now, e.job.CatchUp)
		if len(due.times) == 0 {
			continue
		}
		if due.skipped > 0 {
			a.log.Warn("job missed due times; running the latest only", "job", name, "skipped", due.skipped, "running", len(due.times))
		}
		if dis, err := a.jobDisabled(ctx, name); err != nil || dis {
			if err != nil {
				a.log.Error("job: read its state", "job", name, "err", err)
			}
			continue
		}
		for _, t := range due.times {
			if _, err := a.claimRun(ctx, e, t, false, now); err != nil && !errors.Is(err, errRunClaimed) {
				a.log.Error("job: claim a run", "job", name, "run_time", t, "err", err)
			}
		}
	}
	a.takeOverRuns(ctx, now)
}

type due struct {
	times   []time.Time
	skipped int
}

// dueTimes returns the due times of s in (last, now], the latest catchUp
// of them (default 1), and how many earlier ones it left out. Bounded: it
// counts at most 100 000 due times.
func dueTimes(s cron.Schedule, last, now time.Time, catchUp int) due {
	switch {
	case catchUp == 0:
		catchUp = 1
	case catchUp < 0:
		catchUp = 0
	}
	var d due
	t := last
	for n := 0; n < 100_000; n++ {
		t = s.Next(t)
		if t.IsZero() || t.After(now) {
			break
		}
		d.times = append(d.times, t)
		if len(d.times) > catchUp {
			d.times = d.times[1:]
			d.skipped++
		}
	}
	return d
}

var errRunClaimed = errors.New("run claimed by another node")

func (a *App) jobRunColl() *Module { return a.modules["job_run"] }

// jobDisabled reports whether a run of job disabled it (acceptance).
func (a *App) jobDisabled(ctx context.Context, job string) (bool, error) {
	m := a.jobRunColl()
	res, err := a.store.Read(ctx, m.coll, &query.Query{Filter: query.And{
		&query.Cond{Path: "job", Op: query.Eq, Value: job},
		&query.Cond{Path: "disabled", Op: query.Eq, Value: true},
	}, Limit: 1, Attrs: []string{"_id"}})
	if err != nil {
		return false, err
	}
	return len(res.Docs) > 0, nil
}

func (e *jobEntry) timeout() time.Duration {
	if e.job.Timeout > 0 {
		return e.job.Timeout
	}
	return 10 * time.Minute
}

// claimRun inserts the run's lease document and starts the run; it
// returns errRunClaimed when another node (or process) holds it.
func (a *App) claimRun(ctx context.Context, e *jobEntry, runTime time.Time, manual bool, now time.Time) (ID, error) {
	if a.stopping.Load() && !manual {
		return ID{}, nil
	}
	id := oid.NewAt(now)
	doc := map[string]any{
		"_id": id, "create_time": FormatDatetime(now), "job": e.job.Name, "run_time": FormatDatetime(runTime),
		"manual": manual, "node": a.jobs.node, "start_time": FormatDatetime(now), "end_time": nil,
		"outcome": "running", "error": nil, "lease_until": FormatDatetime(now.Add(e.timeout() + time.Minute)),
		"disabled": false,
	}
	if err := a.store.Insert(ctx, a.jobRunColl().coll, doc); err != nil {
		var dup *store.DuplicateError
		if errors.As(err, &dup) {
			return ID{}, errRunClaimed
		}
		return ID{}, err
	}
	a.startRun(e, id, runTime, manual)
	return id, nil
}

// takeOverRuns runs again the runs whose node's lease expired (the node
// died mid-run): a conditional update on the lease makes one node win.
func (a *App) takeOverRuns(ctx context.Context, now time.Time) {
	m := a.jobRunColl()
	res, err := a.store.Read(ctx, m.coll, &query.Query{Filter: query.And{
		&query.Cond{Path: "outcome", Op: query.Eq, Value: "running"},
		&query.Cond{Path: "lease_until", Op: query.Lt, Value: FormatDatetime(now)},
	}, Limit: 100})
	if err != nil {
		a.log.Error("job: read expired leases", "err", err)
		return
	}
	for _, d := range res.Docs {
		name, _ := d["job"].(string)
		e := a.jobs.entries[name]
		if e == nil {
			continue // a job this node does not declare
		}
		id, _ := d["_id"].(ID)
		lease, _ := d["lease_until"].(string)
		ur, err := a.store.Update(ctx, m.coll, &query.Query{Filter: query.And{
			&query.Cond{Path: "_id", Op: query.Eq, Value: id},
			&query.Cond{Path: "lease_until", Op: query.Eq, Value: lease},
			&query.Cond{Path: "outcome", Op: query.Eq, Value: "running"},
		}}, &store.Update{Set: map[string]any{
			"node": a.jobs.node, "start_time": FormatDatetime(now),
			"lease_until": FormatDatetime(now.Add(e.timeout() + time.Minute)),
		}})
		if err != nil || ur == nil || ur.Modified != 1 {
			continue
		}
		rts, _ := d["run_time"].(string)
		rt, _ := time.Parse("2006-01-02T15:04:05.999999", rts)
		manual, _ := d["manual"].(bool)
		a.log.Warn("job: took over a run whose node's lease expired", "job", name, "run_time", rt, "node", d["node"])
		a.startRun(e, id, rt, manual)
	}
}

// startRun runs the job in a goroutine owned by the App.
func (a *App) startRun(e *jobEntry, id ID, runTime time.Time, manual bool) {
	a.bgWG.Add(1)
	a.jobs.runs.Add(1)
	go func() {
		defer a.bgWG.Done()
		defer a.jobs.runs.Done()
		a.runJob(e, id, runTime, manual)
	}()
}

// runJob runs one claimed run and records its outcome.
func (a *App) runJob(e *jobEntry, id ID, runTime time.Time, manual bool) {
	ctx, cancel := context.WithTimeout(a.hardCtx, e.timeout())
	defer cancel()
	outcome, disable, err := a.execJob(ctx, e, runTime, manual)
	set := map[string]any{"outcome": outcome, "end_time": FormatDatetime(a.now()), "disabled": disable}
	if err != nil {
		set["error"] = err.Error()
		a.log.Error("job run failed", "job", e.job.Name, "run_time", runTime, "outcome", outcome, "err", err)
	}
	// Record it even when the run's context ended.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer wcancel()
	_, uerr := a.store.Update(wctx, a.jobRunColl().coll, &query.Query{Filter: query.And{
		&query.Cond{Path: "_id", Op: query.Eq, Value: id},
		&query.Cond{Path: "node", Op: query.Eq, Value: a.jobs.node},
	}}, &store.Update{Set: set})
	if uerr != nil {
		a.log.Error("job: record a run", "job", e.job.Name, "err", uerr)
	}
}

// execJob runs the job's Func or Call and returns its outcome.
func (a *App) execJob(ctx context.Context, e *jobEntry, runTime time.Time, manual bool) (outcome string, disable bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			outcome, disable, err = "error", false, fmt.Errorf("panic: %v", p)
		}
	}()
	j := e.job
	if j.Func != nil {
		if err := j.Func(ctx, &JobContext{App: a, Session: a.SystemSession(), Job: j.Name, RunTime: runTime, Manual: manual}); err != nil {
			return "error", false, err
		}
		return "ok", false, nil
	}
	res, err := a.Invoke(ctx, a.SystemSession(), j.Call.Endpoint, j.Call.Query, j.Call.Doc)
	var got M
	if err != nil {
		var le *Error
		if !errors.As(err, &le) {
			return "error", false, err
		}
		got = M{"status": le.Status, "msg": le.Msg, "args": M{"code": le.Code}}
	} else {
		got = M{"status": res.Status, "msg": res.Msg, "args": res.Args}
	}
	for path, want := range j.Call.Acceptance {
		v, _ := lookupPath(got, path)
		if !sameJSON(v, want) {
			return "mismatch", !j.Call.PreventDisable, fmt.Errorf("acceptance %s: got %s, want %s", path, jsonString(v), jsonString(want))
		}
	}
	if err != nil && len(j.Call.Acceptance) == 0 {
		return "error", false, err
	}
	return "ok", false, nil
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sameJSON(a, b any) bool { return jsonString(a) == jsonString(b) }

// runNow is job_run/run_now: it claims a manual run of doc.job now.
func (a *App) runNow(ctx context.Context, c *Call) (*Result, error) {
	name, _ := c.Doc["job"].(string)
	e := a.jobs.entries[name]
	if e == nil {
		return nil, c.Module.Error(400, "INVALID_JOB", "Job is invalid.")
	}
	now := a.now()
	id, err := a.claimRun(ctx, e, now, true, now)
	if errors.Is(err, errRunClaimed) {
		return nil, c.Module.Error(400, "RUN_CLAIMED", "A run of the job started at the same time.")
	}
	if err != nil {
		return nil, err
	}
	return OK("Job started.", M{"count": int64(1), "docs": []any{M{"_id": id}}}), nil
}

// refJobs lists Config.Jobs in the API reference.
func (a *App) refJobs(b *strings.Builder) {
	if len(a.cfg.Jobs) == 0 {
		return
	}
	b.WriteString("## Jobs\n\nScheduled jobs (spec §6.18), UTC; run history in `job_run`.\n\n| job | schedule | type | notes |\n|---|---|---|---|\n")
	for _, j := range a.cfg.Jobs {
		typ, notes := "job", ""
		if j.Call != nil {
			typ = "call `" + j.Call.Endpoint + "`"
			if len(j.Call.Acceptance) > 0 {
				notes = "acceptance " + refValue(j.Call.Acceptance)
				if j.Call.PreventDisable {
					notes += ", never disabled"
				}
			}
		}
		if j.Disabled {
			notes = strings.TrimPrefix(notes+", disabled", ", ")
		}
		fmt.Fprintf(b, "| `%s` | `%s` | %s | %s |\n", j.Name, j.Schedule, typ, notes)
	}
	b.WriteString("\n")
}
