package main

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// call is one operation of one worker, on the worker's own connection.
// It returns an error for anything but the expected reply (status, count,
// total, expanded reference): such calls are counted as errors, never as
// operations.
type call func(ctx context.Context, rng *rand.Rand) error

// stats is what one operation measured on one server.
type stats struct {
	OK       int           // operations that returned the expected reply
	Errs     int           // calls that did not (or timed out)
	FirstErr string        // the first error, for the report
	Elapsed  time.Duration // from the first call to the last reply
	P50, P99 time.Duration // latency of the OK calls (of a whole burst for bursts)
	CPU      time.Duration // the server's CPU time (user + system) meanwhile
	GenCPU   time.Duration // the load generator's CPU time meanwhile
}

// SrvBusy is the share of one CPU the server used while measured: near 1,
// the server's CPU bounds the rate; well below, something else did (the
// machine's other load, the round trips, the load generator).
func (s stats) SrvBusy() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return s.CPU.Seconds() / s.Elapsed.Seconds()
}

// GenBusy is the share of one CPU the load generator used while it
// measured: near 1, the generator, not the server, may bound the rate.
func (s stats) GenBusy() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return s.GenCPU.Seconds() / s.Elapsed.Seconds()
}

// CPUPerOp is the server's CPU time per OK operation, 0 when unknown.
func (s stats) CPUPerOp() time.Duration {
	if s.OK == 0 {
		return 0
	}
	return s.CPU / time.Duration(s.OK)
}

// OpsPerSec is OK operations per second.
func (s stats) OpsPerSec() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.OK) / s.Elapsed.Seconds()
}

// side is one side of a comparison: one call per connection, each call
// counting as per operations (a burst of pipelined frames counts as its
// frames).
type side struct {
	workers []call
	per     int
	cpu     func() time.Duration // the server's CPU time so far (nil: not known)
}

// race measures a and b on the same operation: a warm-up of each, then
// a, b, b, a for dur/2 each (or b, a, a, b when bFirst), so that a drift of
// the machine's load weighs on both sides alike. It returns a's figures
// and b's.
func race(ctx context.Context, a, b side, warmup, dur, timeout time.Duration, bFirst bool) [2]stats {
	sides := [2]side{a, b}
	order := []int{0, 1, 1, 0}
	if bFirst {
		order = []int{1, 0, 0, 1}
	}
	if warmup > 0 {
		_ = loop(ctx, sides[order[0]], warmup, timeout)
		_ = loop(ctx, sides[order[1]], warmup, timeout)
	}
	var got [2]sample
	for _, i := range order {
		var c0 time.Duration
		if sides[i].cpu != nil {
			c0 = sides[i].cpu()
		}
		g0 := selfCPU()
		sm := loop(ctx, sides[i], dur/2, timeout)
		if sides[i].cpu != nil {
			sm.cpu = sides[i].cpu() - c0
		}
		sm.genCPU = selfCPU() - g0
		got[i].add(sm)
	}
	return [2]stats{got[0].stats(), got[1].stats()}
}

// sample is what loop saw: the latency of every successful call.
type sample struct {
	lat      []time.Duration
	ops      int
	errs     int
	firstErr string
	elapsed  time.Duration
	cpu      time.Duration // server CPU time spent meanwhile
	genCPU   time.Duration // this program's CPU time meanwhile
}

func (s *sample) add(o sample) {
	s.lat = append(s.lat, o.lat...)
	s.ops += o.ops
	s.errs += o.errs
	if s.firstErr == "" {
		s.firstErr = o.firstErr
	}
	s.elapsed += o.elapsed
	s.cpu += o.cpu
	s.genCPU += o.genCPU
}

func (s sample) stats() stats {
	st := stats{OK: s.ops, Errs: s.errs, FirstErr: s.firstErr, Elapsed: s.elapsed, CPU: s.cpu, GenCPU: s.genCPU}
	if len(s.lat) > 0 {
		all := slices.Clone(s.lat)
		slices.Sort(all)
		st.P50 = all[len(all)/2]
		st.P99 = all[min(len(all)-1, len(all)*99/100)]
	}
	return st
}

type workerOut struct {
	lat      []time.Duration
	errs     int
	firstErr string
}

// loop runs the side's workers (one goroutine each, one call in flight
// each) for dur; each call is bounded by timeout.
func loop(ctx context.Context, sd side, dur, timeout time.Duration) sample {
	outs := make([]workerOut, len(sd.workers))
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for i, w := range sd.workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i)+1, uint64(start.UnixNano())))
			o := &outs[i]
			o.lat = make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				cctx, cancel := context.WithTimeout(ctx, timeout)
				err := w(cctx, rng)
				cancel()
				if err != nil {
					o.errs++
					if o.firstErr == "" {
						o.firstErr = err.Error()
					}
					// A failing server must not turn the loop into a
					// busy spin that starves the other side.
					time.Sleep(time.Millisecond)
					continue
				}
				o.lat = append(o.lat, time.Since(t0))
			}
		})
	}
	wg.Wait()
	s := sample{elapsed: time.Since(start)}
	for _, o := range outs {
		s.lat = append(s.lat, o.lat...)
		s.errs += o.errs
		if s.firstErr == "" {
			s.firstErr = o.firstErr
		}
	}
	per := max(sd.per, 1)
	s.ops = len(s.lat) * per
	if ctx.Err() != nil {
		s.errs++
		if s.firstErr == "" {
			s.firstErr = "interrupted: " + ctx.Err().Error()
		}
	}
	return s
}
