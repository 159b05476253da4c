// Command limpbench races limp-go's example blog against PocketBase on the
// same work (issue 13): it starts limpserver, pbserver and echoserver
// (each pinned to CPU 0 with taskset; run this program on CPU 1, as
// bench/run does), seeds both blogs with the same -n posts, drives each
// operation with -conns connections (one call in flight each) for
// -warmup, then -duration, and prints ops/s, p50, p99, errors and the
// limp-go/baseline ratio per operation, then a summary over -runs runs
// (fresh servers and data each run; the order of the two sides alternates
// between runs and operations).
//
// Operations (baseline PocketBase over HTTP keep-alive, limp-go over its
// websocket protocol with the repo's Go client):
//
//	read_id                 one published post by id, cat expanded
//	list_indexed            status = published, newest first, 20, total
//	list_unindexed          views = 3 (10% of posts), newest first, 20, total
//	list_unindexed_varying  views = random 0..9 per call, the same otherwise
//	create                  a post by a signed-in author
//	heartbeat               heart/beat frame; baseline: a bare coder/websocket echo of it
//
// A reply other than the expected one (status, count, total, expanded
// cat) counts as an error, not as an operation; any error makes the exit
// status 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

const (
	opReadID        = "read_id"
	opListIndexed   = "list_indexed"
	opListUnindexed = "list_unindexed"
	opListVarying   = "list_unindexed_varying"
	opCreate        = "create"
	opHeartbeat     = "heartbeat"
)

var allOps = []string{opReadID, opListIndexed, opListUnindexed, opListVarying, opCreate, opHeartbeat}

// opDesc describes an operation for the tables.
var opDesc = map[string]string{
	opReadID:        "read one by id (cat expanded)",
	opListIndexed:   "list 20 + total, indexed filter and sort",
	opListUnindexed: "list 20 + total, unindexed filter (views=3), indexed sort",
	opListVarying:   "the same, views = random 0..9 per call",
	opCreate:        "create (signed-in author)",
	opHeartbeat:     "heart/beat vs bare websocket echo",
}

type options struct {
	n                       int
	duration, warmup, callT time.Duration
	runs, conns             int
	bin, tmp                string
	pin                     bool
	limpAnalytics, pbLogs   bool
	ops                     []string
}

func main() {
	var o options
	var ops string
	flag.IntVar(&o.n, "n", 10000, "posts seeded in each blog")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per operation and side")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time before each measurement")
	flag.DurationVar(&o.callT, "call-timeout", 10*time.Second, "timeout of one call (a timed-out call is an error)")
	flag.IntVar(&o.runs, "runs", 1, "runs, each with fresh servers and data")
	flag.IntVar(&o.conns, "conns", 8, "connections per side, one call in flight each")
	flag.StringVar(&o.bin, "bin", "", "directory of limpserver, pbserver and echoserver (default: this program's)")
	flag.StringVar(&o.tmp, "tmp", "", "parent of the runs' data directories (default: $TMPDIR)")
	flag.BoolVar(&o.pin, "pin", true, "pin the servers to CPU 0 with taskset")
	flag.BoolVar(&o.limpAnalytics, "limp-analytics", false, "keep the example's per-read analytics in limp-go (limpserver -analytics)")
	flag.BoolVar(&o.pbLogs, "pb-logs", false, "keep PocketBase's request logs, its default (pbserver -logs); off by default, as limp-go's per-read analytics are (-limp-analytics)")
	flag.StringVar(&ops, "ops", strings.Join(allOps, ","), "comma-separated operations")
	flag.Parse()
	for op := range strings.SplitSeq(ops, ",") {
		if !slices.Contains(allOps, op) {
			fmt.Fprintf(os.Stderr, "limpbench: unknown operation %q (have %s)\n", op, strings.Join(allOps, ", "))
			os.Exit(2)
		}
		o.ops = append(o.ops, op)
	}
	if o.bin == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "limpbench:", err)
			os.Exit(2)
		}
		o.bin = filepath.Dir(exe)
	}
	if o.n < 20 || o.runs < 1 || o.conns < 1 || o.duration <= 0 {
		fmt.Fprintln(os.Stderr, "limpbench: need -n >= 20, -runs >= 1, -conns >= 1, -duration > 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	code := 0
	var all []runResult
	for r := range o.runs {
		res, err := runOnce(ctx, o, r)
		if err != nil {
			if len(res) > 0 {
				printRun(os.Stdout, o, r, res) // what was measured before the failure
			}
			fmt.Fprintf(os.Stderr, "limpbench: run %d: %v\n", r+1, err)
			code = 1
			break
		}
		printRun(os.Stdout, o, r, res)
		all = append(all, res)
		if res.errors() {
			code = 1
		}
	}
	if len(all) > 0 {
		printSummary(os.Stdout, o, all)
	}
	os.Exit(code)
}

// runResult maps an operation to its limp-go figures and its baseline's.
type runResult map[string][2]stats

func (r runResult) errors() bool {
	for _, s := range r {
		if s[0].Errs > 0 || s[1].Errs > 0 {
			return true
		}
	}
	return false
}

// runOnce starts fresh servers, measures every operation and stops them.
func runOnce(ctx context.Context, o options, run int) (runResult, error) {
	dir, err := os.MkdirTemp(o.tmp, "limpbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	pin, warn := pinCPU(o.pin)
	if warn != nil {
		fmt.Fprintln(os.Stderr, "limpbench:", warn)
	}
	ready := time.Minute + time.Duration(o.n)*5*time.Millisecond
	type started struct {
		s   *server
		err error
	}
	specs := []struct{ name, sub string }{{"pbserver", "pb"}, {"limpserver", "limp"}, {"echoserver", ""}}
	ch := make([]chan started, len(specs))
	for i, sp := range specs {
		ch[i] = make(chan started, 1)
		var args []string
		if sp.sub != "" {
			d := filepath.Join(dir, sp.sub)
			if err := os.Mkdir(d, 0o755); err != nil {
				return nil, err
			}
			args = []string{"-dir", d, "-n", fmt.Sprint(o.n)}
		}
		switch sp.sub {
		case "pb":
			args = append(args, fmt.Sprintf("-logs=%t", o.pbLogs))
		case "limp":
			args = append(args, fmt.Sprintf("-analytics=%t", o.limpAnalytics))
		}
		go func() {
			s, err := startServer(ctx, sp.name, filepath.Join(o.bin, sp.name), args, pin, dir, ready)
			ch[i] <- started{s, err}
		}()
	}
	var srv []*server
	var errs []error
	for i := range specs {
		st := <-ch[i]
		srv = append(srv, st.s)
		errs = append(errs, st.err)
	}
	defer func() {
		for _, s := range srv {
			s.stop()
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	pbS, limpS, echoS := srv[0], srv[1], srv[2]
	fmt.Fprintf(os.Stderr, "limpbench: run %d: servers ready (%s, %s, %s)\n", run+1, pbS.url, limpS.url, echoS.url)

	exp := expect(o.n)
	pb, err := newPocketBase(ctx, pbS.url, o.conns, exp)
	if err != nil {
		return nil, err
	}
	defer pb.close()
	lg, err := newLimpGo(ctx, limpS.url, o.conns, exp)
	if err != nil {
		return nil, err
	}
	defer lg.close()
	res := runResult{}
	for i, op := range o.ops {
		var limpSide, baseSide side
		var baseSrv *server
		if op == opHeartbeat {
			// Dialled now: an idle LIMP connection is closed after
			// Config.IdleTimeout (120 s), and raw frames send no heartbeats.
			frame := heartbeatFrame()
			hbConns, err := frameConns(ctx, limpS.url, o.conns, true)
			if err != nil {
				return res, err
			}
			defer closeFrameConns(hbConns)
			echoConns, err := frameConns(ctx, echoS.url, o.conns, false)
			if err != nil {
				return res, err
			}
			defer closeFrameConns(echoConns)
			limpSide, baseSide, baseSrv = frameWorkers(hbConns, frame, heartbeatOK), frameWorkers(echoConns, frame, echoOK(frame)), echoS
		} else {
			limpSide, baseSide, baseSrv = side{workers: lg.workers(op), per: 1}, side{workers: pb.workers(op), per: 1}, pbS
		}
		limpSide.cpu, baseSide.cpu = limpS.cpu, baseSrv.cpu
		st := race(ctx, limpSide, baseSide, o.warmup, o.duration, o.callT, (run+i)%2 == 1)
		res[op] = st
		fmt.Fprintf(os.Stderr, "limpbench: run %d: %s: limp-go %.0f ops/s (%d errors), baseline %.0f ops/s (%d errors)\n",
			run+1, op, st[0].OpsPerSec(), st[0].Errs, st[1].OpsPerSec(), st[1].Errs)
		if err := errors.Join(limpS.alive(), baseSrv.alive()); err != nil {
			return res, err
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	return res, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// rate formats ops/s: whole numbers, one decimal below 10.
func rate(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }

// ratio is limp-go's ops/s over the baseline's.
func ratio(s [2]stats) float64 {
	if s[1].OpsPerSec() == 0 {
		return 0
	}
	return s[0].OpsPerSec() / s[1].OpsPerSec()
}

// cpuRatio is the baseline server's CPU time per operation over
// limp-go's: how many times less CPU limp-go spends on the same
// operation (0 when unknown).
func cpuRatio(s [2]stats) float64 {
	if s[0].CPUPerOp() == 0 || s[1].CPUPerOp() == 0 {
		return 0
	}
	return float64(s[1].CPUPerOp()) / float64(s[0].CPUPerOp())
}

func printRun(w io.Writer, o options, run int, res runResult) {
	fmt.Fprintf(w, "\nrun %d of %d: %d posts, %d connections, %s per side after %s warm-up, limp-go analytics %t, PocketBase logs %t\n",
		run+1, o.runs, o.n, o.conns, o.duration, o.warmup, o.limpAnalytics, o.pbLogs)
	fmt.Fprintln(w, "(latencies in ms; cpu = server CPU µs per operation; srv, gen = CPU use of the server and of the load generator; heartbeat latencies are of a burst of 16 frames)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tlimp-go ops/s\tp50\tp99\tcpu\tsrv\tgen\terrors\tbaseline ops/s\tp50\tp99\tcpu\tsrv\tgen\terrors\tratio\tcpu ratio\t")
	for _, op := range o.ops {
		s, ok := res[op]
		if !ok {
			continue
		}
		flag := ""
		if s[0].Errs > 0 || s[1].Errs > 0 {
			flag = " ERRORS"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f%%\t%.0f%%\t%d\t%s\t%s\t%s\t%s\t%.0f%%\t%.0f%%\t%d\t%.2f×%s\t%.2f×\t\n", op,
			rate(s[0].OpsPerSec()), ms(s[0].P50), ms(s[0].P99), us(s[0].CPUPerOp()), 100*s[0].SrvBusy(), 100*s[0].GenBusy(), s[0].Errs,
			rate(s[1].OpsPerSec()), ms(s[1].P50), ms(s[1].P99), us(s[1].CPUPerOp()), 100*s[1].SrvBusy(), 100*s[1].GenBusy(), s[1].Errs, ratio(s), flag, cpuRatio(s))
	}
	_ = tw.Flush()
	for _, op := range o.ops {
		for side, name := range []string{"limp-go", "baseline"} {
			s := res[op][side]
			if s.Errs > 0 {
				fmt.Fprintf(w, "  %s %s: %d errors; first: %s\n", op, name, s.Errs, s.FirstErr)
			}
			if _, ok := res[op]; ok && s.OK < minSample {
				fmt.Fprintf(w, "  %s %s: only %d operations completed: a rough figure (lengthen -duration)\n", op, name, s.OK)
			}
		}
	}
}

// printSummary prints a Markdown table over the runs: medians, and the
// ranges of ops/s and ratios.
func printSummary(w io.Writer, o options, all []runResult) {
	fmt.Fprintf(w, "\nsummary over %d run(s): %d posts, %d connections, %s per side; baseline is PocketBase, or the bare echo for heart/beat\n",
		len(all), o.n, o.conns, o.duration)
	fmt.Fprintln(w, "(ops/s: median (min–max); p50 / p99 in ms, medians; cpu: server CPU µs per operation, median; ratio: limp-go ops/s ÷ baseline; cpu ratio: baseline cpu ÷ limp-go cpu)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| operation | limp-go ops/s | p50 / p99 | cpu | baseline ops/s | p50 / p99 | cpu | ratio | cpu ratio | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, op := range o.ops {
		var lo, bo, rat, crat []float64
		var lp50, lp99, bp50, bp99, lc, bc []time.Duration
		errs := 0
		for _, r := range all {
			s, ok := r[op]
			if !ok {
				continue
			}
			lo, bo = append(lo, s[0].OpsPerSec()), append(bo, s[1].OpsPerSec())
			lp50, lp99, bp50, bp99 = append(lp50, s[0].P50), append(lp99, s[0].P99), append(bp50, s[1].P50), append(bp99, s[1].P99)
			lc, bc = append(lc, s[0].CPUPerOp()), append(bc, s[1].CPUPerOp())
			if r := ratio(s); r > 0 {
				rat = append(rat, r)
			}
			if r := cpuRatio(s); r > 0 {
				crat = append(crat, r)
			}
			errs += s[0].Errs + s[1].Errs
		}
		if len(lo) == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s / %s | %s | %s | %s / %s | %s | %s | %s | %d |\n", opDesc[op],
			spread(lo), ms(median(lp50)), ms(median(lp99)), us(median(lc)),
			spread(bo), ms(median(bp50)), ms(median(bp99)), us(median(bc)),
			ratios(rat), ratios(crat), errs)
	}
}

// ratios is "**median×** (min–max)".
func ratios(v []float64) string {
	switch len(v) {
	case 0:
		return "n/a"
	case 1:
		return fmt.Sprintf("**%.2f×**", v[0])
	}
	return fmt.Sprintf("**%.2f×** (%.2f–%.2f)", medianF(v), slices.Min(v), slices.Max(v))
}

// minSample is the number of operations below which a figure is flagged.
const minSample = 50

func spread(v []float64) string {
	if len(v) == 1 {
		return rate(v[0])
	}
	return fmt.Sprintf("%s (%s–%s)", rate(medianF(v)), rate(slices.Min(v)), rate(slices.Max(v)))
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func median(v []time.Duration) time.Duration {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	return time.Duration(medianF(f))
}
