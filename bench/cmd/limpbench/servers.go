package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/limp-go/limp/bench/internal/data"
)

// server is one server process of a run: started in its own process
// group (pinned to one CPU with taskset when pin is set), killed with
// its group by stop, and by the kernel if this program dies first
// (Pdeathsig).
type server struct {
	name   string
	cmd    *exec.Cmd
	url    string // from the READY line
	errLog string // the server's stderr file
	exited chan struct{}
	err    error // set before exited closes
}

// startServer starts bin with args and waits (at most ready) for its
// READY line.
func startServer(ctx context.Context, name, bin string, args []string, pin string, dir string, ready time.Duration) (*server, error) {
	argv := append([]string{bin}, args...)
	if pin != "" {
		argv = append([]string{"taskset", "-c", pin}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	s := &server{name: name, cmd: cmd, errLog: filepath.Join(dir, name+".stderr"), exited: make(chan struct{})}
	ef, err := os.Create(s.errLog)
	if err != nil {
		return nil, err
	}
	defer ef.Close() // the child has its own descriptor
	cmd.Stderr = ef
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), data.ReadyPrefix); ok && !sent {
				urls <- strings.TrimSpace(u)
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, out)
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t := time.NewTimer(ready)
	defer t.Stop()
	select {
	case s.url = <-urls:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("%s exited before it was ready (%v): %s", name, s.err, s.tail())
	case <-t.C:
		s.stop()
		return nil, fmt.Errorf("%s not ready after %s: %s", name, ready, s.tail())
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// alive reports an error if the server has exited.
func (s *server) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("%s exited (%v): %s", s.name, s.err, s.tail())
	default:
		return nil
	}
}

// stop sends SIGTERM to the server's process group, then SIGKILL after
// 5 s, and waits for the process.
func (s *server) stop() {
	if s == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
	}
}

// cpu returns the server's CPU time so far (user + system, all threads,
// from /proc/PID/stat; 0 when it cannot be read).
func (s *server) cpu() time.Duration { return procCPU(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid)) }

// selfCPU is this program's CPU time so far (0 when unknown).
func selfCPU() time.Duration { return procCPU("/proc/self/stat") }

// procCPU reads utime + stime from a /proc/PID/stat file.
func procCPU(path string) time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on Linux
// on every architecture Go supports.
const clockTicks = 100

// tail returns the last lines of the server's stderr.
func (s *server) tail() string {
	b, err := os.ReadFile(s.errLog)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

// pinCPU returns the CPU to pin servers to, or "" (with a warning when
// pinning was wanted but taskset is missing).
func pinCPU(want bool) (cpu string, warn error) {
	if !want {
		return "", nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return "", errors.New("taskset not found: servers are not pinned")
	}
	return "0", nil
}
