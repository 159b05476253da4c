package limp

import (
	"runtime"
	"testing"
	"time"
)

// TestLiveSessionsBounded: the registry forgets a session once nothing
// holds it, so it is bounded by the live sessions.
func TestLiveSessionsBounded(t *testing.T) {
	var r liveSessions
	uid := NewID()
	func() {
		for range 1000 {
			snap := r.snap(NewID())
			r.bind(snap.e, uid)
		}
	}()
	kept := r.snap(NewID())
	r.bind(kept.e, uid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		r.mu.Lock()
		n, users := len(r.bySession), len(r.byUser[uid])
		r.mu.Unlock()
		if n == 1 && users == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry holds %d sessions (%d of the user), want 1", n, users)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The one still held is still reached by a write to its user.
	r.usersWritten([]ID{uid})
	if kept.e.gen.Load() == kept.gen {
		t.Fatal("a write to the user did not reach its live session")
	}
	runtime.KeepAlive(kept.e)
}

// BenchmarkStale is the per-call revocation check of a signed-in
// connection (two atomic loads).
func BenchmarkStale(b *testing.B) {
	a := &App{}
	snap := a.live.snap(NewID())
	s := &Session{live: snap.e, liveGen: snap.gen, groupGen: snap.groupGen}
	for b.Loop() {
		if a.stale(s) {
			b.Fatal("stale")
		}
	}
}
