package limp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/limp-go/limp"
)

// Issue 14's figures (BENCHMARKS.md, "Live queries at 10,000 watchers"):
// 10,000 anonymous watchers on one node, 200 connections × 50 watches with
// mixed queries (per connection: 10 on every published note, 10 on one
// tag of ten, 10 on rank ≥ 90, 10 on a permalink never written, 10 on
// drafts, which the anonymous query_mod never lets match), over a
// collection of 200 published notes.
//
//   - BenchmarkWatch10k/fanout: server memory per watcher (heap and
//     goroutine stacks in use after the watches, minus the same with the
//     same connections and no watch, over 10,000) and, for writes made one at a time, the time from the
//     create's reply to the last watcher's event (p50, p99).
//   - BenchmarkWatch10k/writes: creates from 8 connections in parallel
//     with no watcher, then with the 10,000 watchers: of drafts (no
//     anonymous watcher sees them: matching only), then of published
//     notes (each one delivered to 2,200 watchers, whose events the
//     readers drain meanwhile); ns/op is per create.
//
// The readers find each event's permalink with bytes.Index (no JSON
// decoding) so that the test clients cost little next to the server.

const (
	w10kConns   = 200
	w10kPerConn = 50
	w10kDocs    = 200
)

// watchReader reads a raw websocket and records, per permalink, when its
// events arrived (the last one) and how many.
type watchReader struct {
	mu    sync.Mutex
	last  map[string]time.Time
	count map[string]int
	total atomic.Int64
	other atomic.Int64 // frames without a permalink (errors, replies)
	errs  atomic.Int64 // frames with status other than 200
}

var permalinkKey = []byte(`"permalink":"`)

func (r *watchReader) run(ctx context.Context, ws *websocket.Conn, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		if !bytes.HasPrefix(data, []byte(`{"status":200`)) {
			r.errs.Add(1)
		}
		i := bytes.Index(data, permalinkKey)
		if i < 0 {
			r.other.Add(1)
			continue
		}
		rest := data[i+len(permalinkKey):]
		p := string(rest[:bytes.IndexByte(rest, '"')])
		r.mu.Lock()
		r.last[p] = now
		r.count[p]++
		r.mu.Unlock()
		r.total.Add(1)
	}
}

// memInuse returns the heap and goroutine stack bytes in use.
func memInuse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

type w10kEnv struct {
	url     string
	writer  *wsClient
	conns   []*wsClient
	readers []*watchReader
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// setupW10k starts the app with w10kDocs notes and w10kConns connections,
// opens watchers watches over them (0 or 10,000) and starts the readers.
// It returns the heap before and after the watches.
func setupW10k(b *testing.B, watchers int) (*w10kEnv, uint64, uint64) {
	s := watchAppCfg(b, limp.Config{WatchesPerConn: w10kPerConn}, limp.Hooks{})
	e := &w10kEnv{url: s.WS, writer: dial(b, s.WS)}
	for i := range w10kDocs {
		must(b, e.writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "seed"},
			"permalink": fmt.Sprint("seed", i), "status": "published", "tags": []any{fmt.Sprint("t", i%10)}, "rank": i % 100}))
	}
	for range w10kConns {
		e.conns = append(e.conns, dial(b, s.WS))
	}
	before := memInuse()
	for ci, c := range e.conns {
		if ci*w10kPerConn >= watchers {
			break
		}
		for j := range w10kPerConn {
			var q []any
			switch j % 5 {
			case 1:
				q = []any{map[string]any{"tags": fmt.Sprint("t", ci%10)}}
			case 2:
				q = []any{map[string]any{"rank": map[string]any{"$gte": 90}}}
			case 3:
				q = []any{map[string]any{"permalink": "never"}}
			case 4:
				q = []any{map[string]any{"status": "draft"}}
			}
			if j%2 == 0 {
				q = append(q, map[string]any{"$attrs": []any{"permalink", "rank"}})
			}
			c.send("note/watch", q, nil)
		}
		for range w10kPerConn {
			if r := c.recv(); r.Status != 200 {
				b.Fatalf("watch: %+v", r)
			}
		}
	}
	after := memInuse()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	for _, c := range e.conns {
		r := &watchReader{last: map[string]time.Time{}, count: map[string]int{}}
		e.readers = append(e.readers, r)
		e.wg.Add(1)
		go r.run(ctx, c.ws, &e.wg)
	}
	b.Cleanup(func() {
		cancel()
		for _, c := range e.conns {
			_ = c.ws.CloseNow()
		}
		e.wg.Wait()
	})
	return e, before, after
}

// expected returns the events a create of (tag t, rank r) sends.
func w10kExpected(watchers, tag, rank int) int {
	n := 0
	for ci := 0; ci*w10kPerConn < watchers && ci < w10kConns; ci++ {
		n += w10kPerConn / 5 // every published note
		if ci%10 == tag {
			n += w10kPerConn / 5
		}
		if rank >= 90 {
			n += w10kPerConn / 5
		}
	}
	return n
}

func (e *w10kEnv) total() int64 {
	var n int64
	for _, r := range e.readers {
		n += r.total.Load()
	}
	return n
}

func (e *w10kEnv) errs() int64 {
	var n int64
	for _, r := range e.readers {
		n += r.errs.Load()
	}
	return n
}

func BenchmarkWatch10k(b *testing.B) {
	const watchers = w10kConns * w10kPerConn
	b.Run("fanout", func(b *testing.B) {
		e, before, after := setupW10k(b, watchers)
		var lat []time.Duration
		b.ResetTimer()
		for i := range b.N {
			p := fmt.Sprint("f", i)
			tag, rank := i%10, (i*7)%100
			want := e.total() + int64(w10kExpected(watchers, tag, rank))
			r := e.writer.call("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "x"},
				"permalink": p, "status": "published", "tags": []any{fmt.Sprint("t", tag)}, "rank": rank})
			replied := time.Now()
			if r.Status != 200 {
				b.Fatalf("create: %+v", r)
			}
			deadline := time.Now().Add(60 * time.Second)
			for e.total() < want {
				if time.Now().After(deadline) {
					b.Fatalf("write %d: %d of %d events after 60 s (errors %d)", i, e.total(), want, e.errs())
				}
				time.Sleep(200 * time.Microsecond)
			}
			var last time.Time
			for _, rd := range e.readers {
				rd.mu.Lock()
				if t := rd.last[p]; t.After(last) {
					last = t
				}
				rd.mu.Unlock()
			}
			lat = append(lat, last.Sub(replied))
		}
		b.StopTimer()
		if e.total() != func() int64 {
			var n int64
			for i := range b.N {
				n += int64(w10kExpected(watchers, i%10, (i*7)%100))
			}
			return n
		}() || e.errs() != 0 {
			b.Fatalf("events %d, errors %d", e.total(), e.errs())
		}
		b.ReportMetric(float64(after-before)/watchers, "memB/watcher")
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})
	for _, tc := range []struct {
		watchers int
		status   string
	}{{0, "published"}, {watchers, "draft"}, {watchers, "published"}} {
		n := tc.watchers
		b.Run(fmt.Sprintf("writes/watchers=%d/%s", n, tc.status), func(b *testing.B) {
			e, _, _ := setupW10k(b, n)
			const writers = 8
			wcs := make([]*wsClient, writers)
			for i := range wcs {
				wcs[i] = dial(b, e.url)
			}
			b.ResetTimer()
			var next atomic.Int64
			var wg sync.WaitGroup
			var failed atomic.Value
			for w := range writers {
				wg.Add(1)
				go func(c *wsClient) {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						c.send("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "x"},
							"permalink": fmt.Sprint("w", w, "-", i), "status": tc.status, "tags": []any{"t0"}, "rank": 1})
						_, data, err := c.ws.Read(context.Background())
						var r reply
						if err == nil {
							err = json.Unmarshal(data, &r)
						}
						if err != nil || r.Status != 200 {
							failed.Store(fmt.Sprint(err, r))
							return
						}
					}
				}(wcs[w])
			}
			wg.Wait()
			b.StopTimer()
			if f := failed.Load(); f != nil {
				b.Fatalf("create: %v", f)
			}
			b.ReportMetric(float64(e.errs()), "watch-errors")
		})
	}
}

// BenchmarkWatch10kWriteRatio interleaves blocks of creates (8 writers in
// parallel) on an app without watchers and on one with the 10,000
// watchers, in the same process and run, so that the machine's load
// drifts alike for both: drafts (matched by no watcher) and published
// notes (delivered to 2,200 watchers each). Each round starts from a
// collected heap (the garbage of the previous round's fan-out is not
// collected during the next blocks) and alternates which of the two
// draft-sized blocks goes first (A-B, B-A). Run it with -benchtime 1x;
// the figures are per create, and the ratios against the app without
// watchers: of the elapsed time (ns/write, ratio) and of the process's
// CPU time (cpu-ns/write, cpu-ratio: the writers', the server's and the
// readers'; after each block, its late work is waited for — 20 ms, and
// for published notes every event read — before the CPU time is taken),
// which moves less than the elapsed time when other jobs load the
// machine.
func BenchmarkWatch10kWriteRatio(b *testing.B) {
	const watchers = w10kConns * w10kPerConn
	base, _, _ := setupW10k(b, 0)
	loaded, _, _ := setupW10k(b, watchers)
	const writers = 8
	dialAll := func(e *w10kEnv) []*wsClient {
		out := make([]*wsClient, writers)
		for i := range out {
			out[i] = dial(b, e.url)
		}
		return out
	}
	bw, lw := dialAll(base), dialAll(loaded)
	var seq atomic.Int64
	block := func(wcs []*wsClient, n int, status string) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for _, c := range wcs {
			wg.Add(1)
			go func(c *wsClient) {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					c.send("note/create", nil, map[string]any{"title": map[string]any{"en_AE": "x"},
						"permalink": fmt.Sprint("r", seq.Add(1)), "status": status, "tags": []any{"t0"}, "rank": 1})
					_, data, err := c.ws.Read(context.Background())
					if err != nil || !bytes.HasPrefix(data, []byte(`{"status":200`)) {
						b.Errorf("create: %v %s", err, data)
						return
					}
				}
			}(c)
		}
		wg.Wait()
		return time.Since(start)
	}
	b.ResetTimer()
	var tBase, tDraft, tPub time.Duration
	var cBase, cDraft, cPub time.Duration
	// timed runs a block and returns its elapsed time, adding its CPU
	// time to cpu once its late work is done.
	timed := func(cpu *time.Duration, wcs []*wsClient, n int, status string) time.Duration {
		c0 := cpuTime()
		d := block(wcs, n, status)
		time.Sleep(20 * time.Millisecond)
		*cpu += cpuTime() - c0
		return d
	}
	const rounds, draftN, pubN = 16, 200, 10
	var nBase int
	var want int64
	for r := range rounds {
		runtime.GC()
		if r%2 == 0 {
			tBase += timed(&cBase, bw, draftN, "published")
			tDraft += timed(&cDraft, lw, draftN, "draft")
		} else {
			tDraft += timed(&cDraft, lw, draftN, "draft")
			tBase += timed(&cBase, bw, draftN, "published")
		}
		nBase += draftN
		c0 := cpuTime()
		tPub += block(lw, pubN, "published")
		// Let the published notes' events drain before the next block.
		want += int64(pubN * w10kExpected(watchers, 0, 1))
		deadline := time.Now().Add(60 * time.Second)
		for loaded.total() < want {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d events after 60 s", loaded.total(), want)
			}
			time.Sleep(time.Millisecond)
		}
		cPub += cpuTime() - c0
	}
	b.StopTimer()
	perBase := float64(tBase.Nanoseconds()) / float64(nBase)
	perDraft := float64(tDraft.Nanoseconds()) / float64(rounds*draftN)
	perPub := float64(tPub.Nanoseconds()) / float64(rounds*pubN)
	b.ReportMetric(perBase, "base-ns/write")
	b.ReportMetric(perDraft, "unmatched-ns/write")
	b.ReportMetric(perPub, "delivered-ns/write")
	b.ReportMetric(perDraft/perBase, "unmatched-ratio")
	b.ReportMetric(perPub/perBase, "delivered-ratio")
	cpuBase := float64(cBase.Nanoseconds()) / float64(nBase)
	cpuDraft := float64(cDraft.Nanoseconds()) / float64(rounds*draftN)
	cpuPub := float64(cPub.Nanoseconds()) / float64(rounds*pubN)
	b.ReportMetric(cpuBase, "base-cpu-ns/write")
	b.ReportMetric(cpuDraft, "unmatched-cpu-ns/write")
	b.ReportMetric(cpuPub, "delivered-cpu-ns/write")
	b.ReportMetric(cpuDraft/cpuBase, "unmatched-cpu-ratio")
	b.ReportMetric(cpuPub/cpuBase, "delivered-cpu-ratio")
	b.ReportMetric(float64(loaded.errs()), "watch-errors")
}
