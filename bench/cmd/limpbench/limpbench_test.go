package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestExpect(t *testing.T) {
	e := expect(10000)
	if e.published != 5000 {
		t.Errorf("published = %d, want 5000", e.published)
	}
	for v, n := range e.views {
		if n != 500 {
			t.Errorf("published with views = %d: %d, want 500 (10%% of the posts have each value, half of them published)", v, n)
		}
	}
}

func TestCheckList(t *testing.T) {
	all := func(int) bool { return true }
	tests := []struct {
		name               string
		items, total, want int
		expanded           func(int) bool
		ok                 bool
	}{
		{"full page", 20, 500, 500, all, true},
		{"short page", 7, 7, 7, all, true},
		{"wrong total", 20, 499, 500, all, false},
		{"short page of many", 19, 500, 500, all, false},
		{"cat not expanded", 20, 500, 500, func(i int) bool { return i != 3 }, false},
	}
	for _, tt := range tests {
		err := checkList(tt.items, tt.total, tt.want, tt.expanded)
		if (err == nil) != tt.ok {
			t.Errorf("%s: checkList = %v, want ok %t", tt.name, err, tt.ok)
		}
	}
}

func TestHeartbeatFrame(t *testing.T) {
	var f struct {
		Token  string `json:"token"`
		CallID string `json:"call_id"`
	}
	if err := json.Unmarshal(heartbeatFrame(), &f); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(f.Token, ".")
	if f.CallID != "hb" || len(parts) != 3 {
		t.Fatalf("frame = %+v", f)
	}
	mac := hmac.New(sha256.New, []byte(anonToken))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if got := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)); got != parts[2] {
		t.Errorf("signature %s, want %s", parts[2], got)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["endpoint"] != "heart/beat" || claims["call_id"] != "hb" {
		t.Errorf("claims = %v", claims)
	}
}

func TestReplyChecks(t *testing.T) {
	frame := heartbeatFrame()
	if err := echoOK(frame)(frame); err != nil {
		t.Errorf("echo of the frame: %v", err)
	}
	if err := echoOK(frame)([]byte(`{}`)); err == nil {
		t.Error("echo of something else accepted")
	}
	if err := heartbeatOK([]byte(`{"status":200,"msg":"","args":{"call_id":"hb"}}`)); err != nil {
		t.Errorf("heart/beat 200: %v", err)
	}
	if err := heartbeatOK([]byte(`{"status":403,"msg":"","args":{"call_id":"hb","code":"CORE_X"}}`)); err == nil {
		t.Error("heart/beat 403 accepted")
	}
}

// TestLoopCountsErrors checks that failing calls are errors, never
// operations, and that latencies are of the successful calls only.
func TestLoopCountsErrors(t *testing.T) {
	var n atomic.Int64
	w := func(ctx context.Context, rng *rand.Rand) error {
		if n.Add(1)%2 == 0 {
			return errors.New("bad reply")
		}
		time.Sleep(time.Millisecond)
		return nil
	}
	s := loop(context.Background(), side{workers: []call{w, w}, per: 1}, 100*time.Millisecond, time.Second)
	st := s.stats()
	if st.OK == 0 || st.Errs == 0 || st.FirstErr != "bad reply" {
		t.Fatalf("stats = %+v", st)
	}
	if d := st.OK - st.Errs; d < -2 || d > 2 {
		t.Errorf("%d OK and %d errors; want about as many of each", st.OK, st.Errs)
	}
	if st.P50 < time.Millisecond {
		t.Errorf("p50 %s below the successful calls' 1 ms", st.P50)
	}
	if st.OpsPerSec() <= 0 {
		t.Errorf("ops/s = %f", st.OpsPerSec())
	}
}

func TestSampleStats(t *testing.T) {
	var s sample
	for i := 1; i <= 100; i++ {
		s.lat = append(s.lat, time.Duration(i)*time.Millisecond)
	}
	s.ops, s.elapsed, s.cpu = 200, 2*time.Second, 400*time.Millisecond
	st := s.stats()
	if st.P50 != 51*time.Millisecond || st.P99 != 100*time.Millisecond {
		t.Errorf("p50 %s p99 %s", st.P50, st.P99)
	}
	if st.OpsPerSec() != 100 || st.CPUPerOp() != 2*time.Millisecond {
		t.Errorf("ops/s %f cpu/op %s", st.OpsPerSec(), st.CPUPerOp())
	}
}

// TestServerCPU checks /proc reading on a child that burns CPU.
func TestServerCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	s := &server{cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for s.cpu() < 20*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("cpu = %s after 10 s of a busy loop", s.cpu())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSmoke builds the programs and races both servers briefly on a
// small data set: every operation must complete without errors. It takes
// about a minute; -short skips it.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "../...")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := options{n: 200, duration: 200 * time.Millisecond, warmup: 50 * time.Millisecond, callT: 10 * time.Second,
		runs: 1, conns: 2, bin: bin, tmp: t.TempDir(), ops: allOps, pbLogs: true}
	res, err := runOnce(ctx, o, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range allOps {
		s, ok := res[op]
		if !ok {
			t.Errorf("%s not measured", op)
			continue
		}
		for i, name := range []string{"limp-go", "baseline"} {
			if s[i].Errs > 0 || s[i].OK == 0 {
				t.Errorf("%s %s: %d OK, %d errors (%s)", op, name, s[i].OK, s[i].Errs, s[i].FirstErr)
			}
		}
	}
	if left, _ := filepath.Glob(filepath.Join(o.tmp, "*")); len(left) > 0 {
		t.Errorf("run left %v behind", left)
	}
}

// TestErrorsVisible checks that an operation with errors is flagged in
// the run's table, explained with its first error, and counted in the
// summary, however fast its successful calls were.
func TestErrorsVisible(t *testing.T) {
	o := options{n: 100, duration: time.Second, runs: 1, conns: 1, ops: []string{opReadID, opCreate}}
	res := runResult{
		opReadID: {{OK: 5000, Errs: 3, FirstErr: "read x: 0 docs", Elapsed: time.Second}, {OK: 1000, Elapsed: time.Second}},
		opCreate: {{OK: 100, Elapsed: time.Second}, {OK: 100, Elapsed: time.Second}},
	}
	if !res.errors() {
		t.Fatal("errors() = false")
	}
	var b strings.Builder
	printRun(&b, o, 0, res)
	printSummary(&b, o, []runResult{res})
	out := b.String()
	for _, want := range []string{"5.00× ERRORS", "read_id limp-go: 3 errors; first: read x: 0 docs", "| **5.00×** | n/a | 3 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "1.00× ERRORS") {
		t.Errorf("create flagged without errors:\n%s", out)
	}
}
