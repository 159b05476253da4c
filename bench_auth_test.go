package limp_test

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limp-go/limp"
)

// BenchmarkAuth measures session/auth calls per second with the argon2id
// parameters in auth.go (each sign-in runs argon2 once), one connection
// per sign-in.
func BenchmarkAuth(b *testing.B) {
	s := testApp(b, limp.Config{})
	hash := authHash(b, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		c := dial(b, s.WS)
		must(b, c.call("session/auth", nil, map[string]any{"email": limp.DefaultAdminEmail, "hash": hash}))
		_ = c.ws.CloseNow()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "auths/s")
}

// BenchmarkAuthConcurrent runs 50 sign-ins at once and reports the peak
// heap in use while they run (argon2 holds 19 MiB per run; the server
// bounds concurrent runs to the number of CPUs).
func BenchmarkAuthConcurrent(b *testing.B) {
	s := testApp(b, limp.Config{})
	hash := authHash(b, limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	const n = 50
	var peak atomic.Uint64
	for range b.N {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					if m.HeapInuse > base && m.HeapInuse-base > peak.Load() {
						peak.Store(m.HeapInuse - base)
					}
				}
			}
		}()
		clients := make([]*wsClient, n)
		for i := range clients {
			clients[i] = dial(b, s.WS)
		}
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.send("session/auth", nil, map[string]any{"email": limp.DefaultAdminEmail, "hash": hash})
				if r := c.recv(); r.Status != 200 {
					b.Errorf("auth %+v", r)
				}
			}()
		}
		wg.Wait()
		close(stop)
		sampler.Wait()
		for _, c := range clients {
			_ = c.ws.CloseNow()
		}
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-MiB")
}

// BenchmarkWrongSignInFlood sends 1,000 wrong sign-ins from one IP as fast
// as one connection can and reports how many reached argon2 (the
// throttle should refuse almost all before hashing) and the time taken.
func BenchmarkWrongSignInFlood(b *testing.B) {
	for range b.N {
		s := testApp(b, limp.Config{})
		c := dial(b, s.WS)
		before := limp.ArgonRuns()
		start := time.Now()
		const n = 1000
		for i := range n {
			c.send("session/auth", nil, map[string]any{"email": "victim" + strconv.Itoa(i%3) + "@example.com", "hash": "wrong"})
		}
		for range n {
			if r := c.recv(); r.Status != 403 && r.Status != 429 {
				b.Fatalf("flood reply %+v", r)
			}
		}
		b.ReportMetric(float64(limp.ArgonRuns()-before), "argon2-runs/1000")
		b.ReportMetric(time.Since(start).Seconds()*1000, "ms/1000")
	}
}
