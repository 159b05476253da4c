package limp

// Benchmarks of issue 18: server memory with clients that never read
// their replies, and the cost of Config.Durable.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/jsonv"
)

// heapInuse returns the heap and stacks in use after a GC.
func heapInuse() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse + ms.StackInuse)
}

// BenchmarkNonReadingClients opens 100 websockets that each send 40
// calls of a 512 KiB reply (20 MiB asked per client, 2 GiB in all) and
// read nothing. It reports the server's peak memory growth (sampled every
// 20 ms, over the sending and 5 s after; the raw clients hold no replies),
// with the defaults ("bounded") and, as the baseline of the same run,
// with the queue unbounded and no write deadline ("unbounded", what the
// server did before). With the defaults it also reports how long until
// the server gave up on every client and what memory is left then. The
// bound per connection is twice MaxQueuedBytes (4 MiB default) plus the
// replies being encoded; TCP buffers absorb the first MiBs of each.
func BenchmarkNonReadingClients(b *testing.B) {
	const clients, calls, size = 100, 40, 512 << 10
	for _, bounded := range []bool{true, false} {
		name := "bounded"
		cfg := Config{ConnTimeout: time.Hour}
		if !bounded {
			name = "unbounded"
			cfg.MaxQueuedBytes, cfg.WriteTimeout = 1<<40, time.Hour
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				s := startSlowApp(b, cfg)
				before := heapInuse()
				var peak float64
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
						}
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						peak = max(peak, float64(ms.HeapInuse+ms.StackInuse))
					}
				}()
				var cs []*rawWS
				for range clients {
					cs = append(cs, dialRaw(b, s.addr))
				}
				start := time.Now()
				for _, c := range cs {
					for range calls {
						if err := c.call("big/get", M{"size": size}); err != nil {
							break
						}
					}
				}
				time.Sleep(5 * time.Second)
				if bounded {
					if !waitFor(60*time.Second, func() bool { return s.openConns() == 0 }) {
						b.Fatalf("%d non-reading connections still open", s.openConns())
					}
					b.ReportMetric(time.Since(start).Seconds(), "s-to-release")
					b.ReportMetric((heapInuse()-before)/(1<<20), "left-MiB")
				}
				close(stop)
				wg.Wait()
				b.ReportMetric((peak-before)/(1<<20), "peak-MiB")
				for _, c := range cs {
					_ = c.nc.Close()
				}
			}
		})
	}
}

// BenchmarkCreateDurable measures creates per second on the embedded
// store in a file, one at a time over the websocket (each create its own
// commit), with synchronous=NORMAL (the default) and with Config.Durable
// (synchronous=FULL) in the same run.
func BenchmarkCreateDurable(b *testing.B) {
	if !realStore() {
		b.Skip("the embedded store is not available")
	}
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("durable=%v", durable), func(b *testing.B) {
			s := startSlowApp(b, Config{Data: filepath.Join(b.TempDir(), "bench.db"), Durable: durable})
			c := dialRaw(b, s.addr)
			if _, err := c.next(10 * time.Second); err != nil { // the greeting
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if err := c.call("note/create", M{"title": fmt.Sprint("t", i)}); err != nil {
					b.Fatal(err)
				}
				r, err := c.next(10 * time.Second)
				if err != nil || r.Status != 200 {
					b.Fatalf("create: %+v %v", r, err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
		})
	}
}

// hostileFrames returns a frame of n keys at the outer level, and a
// frame whose signed payload's doc holds n keys (anon token).
func hostileFrames(n int) (outer, signed []byte) {
	var o bytes.Buffer
	o.WriteString(`{"token":"x"`)
	for i := range n {
		fmt.Fprintf(&o, `,"k%d":0`, i)
	}
	o.WriteString(`}`)
	var d bytes.Buffer
	d.WriteString(`{"endpoint":"big/get","doc":{`)
	for i := range n {
		if i > 0 {
			d.WriteByte(',')
		}
		fmt.Fprintf(&d, `"k%d":0`, i)
	}
	d.WriteString(`}}`)
	enc := base64.RawURLEncoding
	s := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(d.Bytes())
	mac := hmac.New(sha256.New, []byte(DefaultAnonToken))
	mac.Write([]byte(s))
	tok := s + "." + enc.EncodeToString(mac.Sum(nil))
	return o.Bytes(), mustMarshal(M{"token": tok, "call_id": "x"})
}

// BenchmarkHostileFrame is the CPU one invalid or hostile frame of ~3 MiB
// costs the server: ~330,000 keys at the outer level, or inside a signed
// payload (the anon token is public), with the decode limits and, as the
// baseline of the same run, decoded whole (as before the limits).
func BenchmarkHostileFrame(b *testing.B) {
	outer, signed := hostileFrames(330_000)
	now := time.Now()
	b.Run("outer/limited", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeFrame(outer); err == nil {
				b.Fatal("accepted")
			}
		}
	})
	b.Run("outer/whole", func(b *testing.B) {
		for b.Loop() {
			_, _ = jsonv.Parse(outer)
		}
	})
	f, err := decodeFrame(signed)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("payload/limited", func(b *testing.B) {
		for b.Loop() {
			if _, err := verifyTokenLimits(f.token, []byte(DefaultAnonToken), now, nil, defaultPayloadLimits); err == nil {
				b.Fatal("accepted")
			}
		}
	})
	b.Run("payload/whole", func(b *testing.B) {
		for b.Loop() {
			cl, err := verifyTokenLimits(f.token, []byte(DefaultAnonToken), now, nil, jsonv.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			_ = cl.doc()
		}
	})
}
