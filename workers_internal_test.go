package limp

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWorkerPool: every function handed to run runs exactly once, on
// at most maxParkedWorkers workers (the rest on goroutines of their own);
// a sequential caller reuses a worker; stop waits for the workers and
// run still works afterwards.
func TestWorkerPool(t *testing.T) {
	var p workerPool
	var ran atomic.Int64
	var wg sync.WaitGroup

	// Sequential: one worker serves every call.
	for range 100 {
		wg.Add(1)
		done := make(chan struct{})
		p.run(func() { defer wg.Done(); ran.Add(1); close(done) })
		<-done
		time.Sleep(time.Millisecond) // let the worker park again
	}
	p.mu.Lock()
	n := p.n
	p.mu.Unlock()
	if n > 4 { // 1, give or take a worker not yet parked on a busy machine
		t.Errorf("100 sequential calls used %d workers, want about 1", n)
	}

	// Concurrent and blocked: more calls than workers.
	release := make(chan struct{})
	const calls = 3 * maxParkedWorkers
	for range calls {
		wg.Add(1)
		p.run(func() { defer wg.Done(); <-release; ran.Add(1) })
	}
	p.mu.Lock()
	n = p.n
	p.mu.Unlock()
	if n > maxParkedWorkers {
		t.Errorf("%d workers, want at most %d", n, maxParkedWorkers)
	}
	close(release)
	wg.Wait()
	if got := ran.Load(); got != 100+calls {
		t.Fatalf("ran %d functions, want %d", got, 100+calls)
	}

	p.stop()
	p.mu.Lock()
	n = p.n
	p.mu.Unlock()
	if n != 0 {
		t.Errorf("%d workers alive after stop", n)
	}
	done := make(chan struct{})
	p.run(func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("run after stop did not run the function")
	}
	p.stop() // twice is harmless
}
