package limp_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
	"github.com/limp-go/limp/limptest"
)

// TestJobsExactlyOnce runs a once-a-minute job on two Apps sharing one
// store over several minutes of fake time: each due minute runs once.
func TestJobsExactlyOnce(t *testing.T) {
	data := filepath.Join(t.TempDir(), "jobs.db")
	if os.Getenv(mongotest.Env) != "" {
		data = mongotest.URI(t) // a fresh database: earlier runs' leases must not count
	}
	base := time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)
	clk := limp.NewFakeClock(base)
	var mu sync.Mutex
	runs := map[time.Time]int{}
	job := limp.Job{Name: "tick", Schedule: "* * * * *", CatchUp: 5, Func: func(ctx context.Context, jc *limp.JobContext) error {
		if !jc.Session.System() {
			return errors.New("not the system session")
		}
		mu.Lock()
		runs[jc.RunTime]++
		mu.Unlock()
		return nil
	}}
	var apps []*limptest.Server
	for i := range 2 {
		app := limp.New(limptest.Config(t, limp.Config{Name: "jobs", Locale: "en_AE", Data: data, Jobs: []limp.Job{job}}))
		limp.SetClock(app, clk)
		limp.SetManualJobs(app)
		apps = append(apps, limptest.Start(t, app))
		_ = i
	}
	tick := func(now time.Time) {
		clk.Set(now)
		var wg sync.WaitGroup
		for _, s := range apps {
			wg.Go(func() { limp.TickJobs(s.App, now) })
		}
		wg.Wait()
	}
	// Minutes 1..4 one by one, then a pause of three minutes (caught up),
	// then a tick within the same minute (nothing due).
	for m := 1; m <= 4; m++ {
		tick(base.Add(time.Duration(m) * time.Minute))
	}
	tick(base.Add(7 * time.Minute))
	tick(base.Add(7*time.Minute + 10*time.Second))
	mu.Lock()
	defer mu.Unlock()
	if len(runs) != 7 {
		t.Errorf("ran %d due times, want 7: %v", len(runs), runs)
	}
	for m := 1; m <= 7; m++ {
		at := base.Truncate(time.Minute).Add(time.Duration(m) * time.Minute)
		if runs[at] != 1 {
			t.Errorf("due time %s ran %d times, want 1", at.Format(time.TimeOnly), runs[at])
		}
	}
	// The history, read by an admin through the Go client.
	admin := apps[1].Client(t, nil)
	if _, err := admin.Auth(context.Background(), "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	r := call(t, admin, "job_run/read", []any{limp.M{"job": "tick"}, limp.M{"$limit": 100}}, nil)
	docs := r.Args["docs"].([]any)
	if len(docs) != 7 {
		t.Fatalf("history holds %d runs, want 7", len(docs))
	}
	for _, d := range docs {
		d := d.(map[string]any)
		if d["outcome"] != "ok" || d["end_time"] == nil || d["node"] == "" {
			t.Errorf("run %v: want outcome ok with end_time and node", d)
		}
	}
	// Anonymous callers cannot read it.
	if _, err := apps[0].Client(t, nil).Call(context.Background(), "job_run/read", nil, nil); err == nil {
		t.Error("ANON read the run history")
	}
}

// TestJobsLeaseTakeOver: a run left "running" by a node that died is run
// again once its lease expired, by one node only.
func TestJobsLeaseTakeOver(t *testing.T) {
	data := filepath.Join(t.TempDir(), "lease.db")
	base := time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)
	clk := limp.NewFakeClock(base)
	var mu sync.Mutex
	n := 0
	job := limp.Job{Name: "hourly", Schedule: "@hourly", Func: func(ctx context.Context, jc *limp.JobContext) error {
		mu.Lock()
		n++
		mu.Unlock()
		return nil
	}}
	var apps []*limp.App
	for range 2 {
		app := limp.New(limptest.Config(t, limp.Config{Name: "lease", Locale: "en_AE", Data: data, Jobs: []limp.Job{job}}))
		limp.SetClock(app, clk)
		limp.SetManualJobs(app)
		limptest.Start(t, app)
		apps = append(apps, app)
	}
	ctx := context.Background()
	// The dead node's lease.
	_, err := apps[0].Invoke(ctx, apps[0].SystemSession(), "job_run/create", nil, limp.M{
		"job": "hourly", "run_time": "2026-03-01T10:00:00", "manual": false, "node": "dead",
		"start_time": "2026-03-01T10:00:00", "outcome": "running", "lease_until": "2026-03-01T10:11:00", "disabled": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	tickAll := func(now time.Time) {
		var wg sync.WaitGroup
		for _, a := range apps {
			wg.Go(func() { limp.TickJobs(a, now) })
		}
		wg.Wait()
	}
	tickAll(base.Add(5 * time.Minute)) // lease still valid
	mu.Lock()
	if n != 0 {
		t.Fatalf("ran %d times under a valid lease", n)
	}
	mu.Unlock()
	tickAll(base.Add(15 * time.Minute))
	tickAll(base.Add(16 * time.Minute))
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Fatalf("expired run ran %d times, want 1", n)
	}
}

// TestJobsCallAcceptance: a call job whose result misses its acceptance
// is disabled on every node; run_now runs a job at once.
func TestJobsCallAcceptance(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)
	clk := limp.NewFakeClock(base)
	jobs := []limp.Job{
		{Name: "count_users", Schedule: "* * * * *", Call: &limp.JobCall{Endpoint: "user/read",
			Acceptance: limp.M{"status": 200, "args.count": 99}}},
		{Name: "keep", Schedule: "* * * * *", Call: &limp.JobCall{Endpoint: "user/read",
			Acceptance: limp.M{"args.count": 99}, PreventDisable: true}},
	}
	app := limp.New(limptest.Config(t, limp.Config{Name: "calljobs", Locale: "en_AE", Jobs: jobs}))
	limp.SetClock(app, clk)
	limp.SetManualJobs(app)
	s := limptest.Start(t, app)
	limp.TickJobs(app, base.Add(time.Minute))
	limp.TickJobs(app, base.Add(2*time.Minute))
	admin := s.Client(t, nil)
	if _, err := admin.Auth(context.Background(), "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	count := func(job string) (int, bool) {
		r := call(t, admin, "job_run/read", []any{limp.M{"job": job}}, nil)
		docs := r.Args["docs"].([]any)
		disabled := false
		for _, d := range docs {
			d := d.(map[string]any)
			if d["outcome"] != "mismatch" || !strings.Contains(d["error"].(string), "args.count") {
				t.Errorf("run %v: want outcome mismatch naming args.count", d)
			}
			disabled = disabled || d["disabled"] == true
		}
		return len(docs), disabled
	}
	if n, dis := count("count_users"); n != 1 || !dis {
		t.Errorf("count_users: %d runs, disabled %v; want 1 run, disabled", n, dis)
	}
	if n, dis := count("keep"); n != 2 || dis {
		t.Errorf("keep: %d runs, disabled %v; want 2 runs, not disabled", n, dis)
	}
	clk.Set(base.Add(3 * time.Minute))
	r := call(t, admin, "job_run/run_now", nil, limp.M{"job": "keep"})
	if r.Args["count"] == nil {
		t.Fatalf("run_now: %v", r.Args)
	}
	limp.WaitJobRuns(app)
	if n, _ := count("keep"); n != 3 {
		t.Errorf("keep after run_now: %d runs, want 3", n)
	}
	if _, err := admin.Call(context.Background(), "job_run/run_now", nil, limp.M{"job": "nope"}); err == nil {
		t.Error("run_now of an unknown job succeeded")
	}
}

// TestJobsInvalid: Start lists every invalid job.
func TestJobsInvalid(t *testing.T) {
	f := func(context.Context, *limp.JobContext) error { return nil }
	app := limp.New(limptest.Config(t, limp.Config{Name: "badjobs", Locale: "en_AE", Jobs: []limp.Job{
		{Name: "a", Schedule: "61 * * * *", Func: f},
		{Name: "b", Schedule: "* * * *", Func: f},
		{Name: "c", Schedule: "* * * * *"},
		{Name: "d", Schedule: "* * * * *", Call: &limp.JobCall{Endpoint: "nope/read"}},
	}}))
	err := app.Start(context.Background())
	if err == nil {
		_ = app.Shutdown(context.Background())
		t.Fatal("Start accepted invalid jobs")
	}
	for _, want := range []string{`job "a": schedule`, `job "b": schedule`, `job "c": set exactly one`, `job "d": endpoint`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error lacks %q:\n%v", want, err)
		}
	}
}

func TestRefListsJobsAndCache(t *testing.T) {
	notes := limp.NewModule[CachedNote]("note", limp.Methods{"read": {Permissions: limp.Perms("*")}})
	notes.Cache = []limp.CacheSet{{Period: time.Minute}}
	app := limp.New(limp.Config{Name: "ref", Locale: "en_AE", Jobs: []limp.Job{{Name: "nightly", Schedule: "0 3 * * *",
		Func: func(context.Context, *limp.JobContext) error { return nil }}}})
	app.Register("test", notes)
	var b strings.Builder
	if err := app.GenerateRef(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| `nightly` | `0 3 * * *` | job |", "Read cache sets", "served 1m0s", "## job_run"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("reference lacks %q", want)
		}
	}
}

// TestJobsSchedulerLoop: the Apps' own scheduler goroutines, driven by
// fake time, run a once-a-minute job once per minute across two Apps.
func TestJobsSchedulerLoop(t *testing.T) {
	data := filepath.Join(t.TempDir(), "loop.db")
	if os.Getenv(mongotest.Env) != "" {
		data = mongotest.URI(t) // a fresh database: earlier runs' leases must not count
	}
	base := time.Date(2026, 4, 1, 8, 0, 10, 0, time.UTC)
	clk := limp.NewFakeClock(base)
	var mu sync.Mutex
	runs := map[time.Time]int{}
	job := limp.Job{Name: "loop", Schedule: "* * * * *", Func: func(ctx context.Context, jc *limp.JobContext) error {
		mu.Lock()
		runs[jc.RunTime]++
		mu.Unlock()
		return nil
	}}
	var apps []*limp.App
	for range 2 {
		app := limp.New(limptest.Config(t, limp.Config{Name: "loop", Locale: "en_AE", Data: data, Jobs: []limp.Job{job}}))
		limp.SetClock(app, clk)
		limptest.Start(t, app)
		apps = append(apps, app)
	}
	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range runs {
			n += c
		}
		return n
	}
	const minutes = 4
	for m := 1; m <= minutes; m++ {
		clk.Set(base.Add(time.Duration(m) * time.Minute))
		deadline := time.Now().Add(10 * time.Second)
		for total() < m && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if total() < m {
			t.Fatalf("minute %d: %d runs", m, total())
		}
	}
	// Both nodes had every chance to double a run.
	time.Sleep(100 * time.Millisecond)
	for _, a := range apps {
		limp.WaitJobRuns(a)
	}
	mu.Lock()
	defer mu.Unlock()
	for m := 1; m <= minutes; m++ {
		at := base.Truncate(time.Minute).Add(time.Duration(m) * time.Minute)
		if runs[at] != 1 {
			t.Errorf("%s ran %d times, want 1", at.Format(time.TimeOnly), runs[at])
		}
	}
	if len(runs) != minutes {
		t.Errorf("runs %v, want %d due times", runs, minutes)
	}
}

// TestJobsFromEnvOverride: jobs added by an env override, which New did
// not see, are refused clearly instead of failing at run time.
func TestJobsFromEnvOverride(t *testing.T) {
	app := limp.New(limptest.Config(t, limp.Config{Name: "envjobs", Locale: "en_AE", Env: "prod",
		Envs: map[string]func(*limp.Config){"prod": func(c *limp.Config) {
			c.Jobs = []limp.Job{{Name: "x", Schedule: "* * * * *", Func: func(context.Context, *limp.JobContext) error { return nil }}}
		}}}))
	err := app.Start(context.Background())
	if err == nil {
		_ = app.Shutdown(context.Background())
		t.Fatal("Start accepted jobs New did not see")
	}
	if !strings.Contains(err.Error(), "Config.Jobs") {
		t.Errorf("error = %v", err)
	}
}
