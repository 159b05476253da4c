package limp

import (
	"context"
	"sync"
	"time"
)

// FakeClock is a clock tests move by hand with Set.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	t  time.Time
	ch chan time.Time
}

func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{now: t} }

func (f *FakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Set moves the clock to t and wakes the waiters it reached.
func (f *FakeClock) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if t.Before(w.t) {
			kept = append(kept, w)
		} else {
			w.ch <- t
		}
	}
	f.waiters = kept
}

func (f *FakeClock) Until(t time.Time) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !f.now.Before(t) {
		ch <- f.now
	} else {
		f.waiters = append(f.waiters, fakeWaiter{t, ch})
	}
	return ch
}

// SetClock sets a's clock; call before Start.
func SetClock(a *App, c *FakeClock) { a.clk = c }

// TickJobs runs one scheduler pass at now and waits for the runs it
// started.
func TickJobs(a *App, now time.Time) {
	a.jobsTick(context.Background(), now)
	a.jobs.runs.Wait()
}

// WaitJobRuns waits for the job runs in flight.
func WaitJobRuns(a *App) { a.jobs.runs.Wait() }

// CacheStats returns the cache's entries and bytes.
func CacheStats(a *App) (int, int64) {
	if a.cache.c == nil {
		return 0, 0
	}
	return a.cache.c.Len(), a.cache.c.Bytes()
}

// CacheInvalidate drops the entries read from colls, as a change feed
// would for a write on another node.
func CacheInvalidate(a *App, colls ...string) { a.cacheInvalidate(colls...) }

// SetGatewayBackoff sets the first retry delay of gateway sends; call
// before Start.
func SetGatewayBackoff(a *App, d time.Duration) { a.gw.backoff = d }

// SetManualJobs keeps a's scheduler goroutine from starting: the test
// calls TickJobs. Call before Start.
func SetManualJobs(a *App) { a.jobs.noLoop = true }

// CacheDeps returns the collections module name's cached reads depend on.
func CacheDeps(a *App, name string) []string { return a.cache.deps[a.modules[name]] }
