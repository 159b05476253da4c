package limp

import (
	"sync"
	"time"
)

// Call goroutines are taken from a pool of parked workers instead of
// started afresh: a method call runs deep (the SQLite engine, the query
// compiler), and a new goroutine's stack grows to that depth by copying
// itself several times on every call — 24% of the server's time for a
// read by _id in the 2026-11-29 profile (BENCHMARKS.md). A parked worker
// keeps its grown stack.
const (
	maxParkedWorkers = 64              // workers kept; calls beyond them get their own goroutine
	workerIdle       = 2 * time.Second // a worker idle this long ends
)

// workerPool runs functions on reused goroutines. The zero value is ready;
// stop ends the parked workers and waits for every worker it started.
// A function handed to run is always run, on a worker or on a goroutine
// of its own; its caller still owns waiting for it.
type workerPool struct {
	once    sync.Once
	jobs    chan func() // unbuffered: a send succeeds only when a worker waits
	quit    chan struct{}
	mu      sync.Mutex
	n       int // workers alive
	stopped bool
	wg      sync.WaitGroup
}

func (p *workerPool) init() {
	p.once.Do(func() {
		p.jobs = make(chan func())
		p.quit = make(chan struct{})
	})
}

// run runs f on a parked worker, a new worker, or (the pool full or
// stopped) a goroutine of its own.
func (p *workerPool) run(f func()) {
	p.init()
	select {
	case p.jobs <- f:
		return
	default:
	}
	p.mu.Lock()
	if p.stopped || p.n >= maxParkedWorkers {
		p.mu.Unlock()
		go f()
		return
	}
	p.n++
	p.wg.Add(1)
	p.mu.Unlock()
	go p.work(f)
}

func (p *workerPool) work(f func()) {
	defer p.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		f()
		f = nil
		idle.Reset(workerIdle)
		select {
		case f = <-p.jobs:
		case <-idle.C:
		case <-p.quit:
		}
		if f == nil {
			p.mu.Lock()
			p.n--
			p.mu.Unlock()
			return
		}
	}
}

// stop ends the parked workers and waits for all workers (a worker busy
// with a function finishes it first). run still works after stop, on
// goroutines of their own.
func (p *workerPool) stop() {
	p.init()
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	close(p.quit)
	p.wg.Wait()
}
