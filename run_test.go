package limp_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
)

// runAndAddr runs app with args until it logs the address it serves on,
// returns that address and the logs so far, and stops it.
func runAndAddr(t *testing.T, cfg limp.Config, args ...string) (string, string) {
	t.Helper()
	var logs syncBuf
	cfg.Name, cfg.Data = "run", ":memory:"
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	app := limp.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunArgs(ctx, args, io.Discard) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunArgs: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("RunArgs did not return")
		}
	}()
	re := regexp.MustCompile(`msg=serving .*addr=(\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1], logs.String()
		}
		select {
		case err := <-done:
			t.Fatalf("RunArgs ended: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("app did not serve:\n%s", logs.String())
	return "", ""
}

// TestRunLoopbackWithDefaults: with the default credentials, Run listens
// on loopback only (and says so) unless an address is named.
func TestRunLoopbackWithDefaults(t *testing.T) {
	addr, logs := runAndAddr(t, limp.Config{}, "-p", "0")
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		t.Fatalf("served on %q with the default credentials, want loopback", addr)
	}
	if !strings.Contains(logs, "loopback only") {
		t.Fatalf("the loopback choice was not logged:\n%s", logs)
	}
	// $LISTEN names the address.
	t.Setenv("LISTEN", "127.0.0.2:0")
	if addr, _ := runAndAddr(t, limp.Config{}); !strings.HasPrefix(addr, "127.0.0.2:") {
		t.Fatalf("LISTEN=127.0.0.2:0 served on %q", addr)
	}
	// --listen wins over $LISTEN.
	if addr, _ := runAndAddr(t, limp.Config{}, "--listen", "127.0.0.3:0"); !strings.HasPrefix(addr, "127.0.0.3:") {
		t.Fatalf("--listen 127.0.0.3:0 served on %q", addr)
	}
}

// TestRunUndeclaredEnv: --env naming an env the app does not declare is a
// warning, as in LIMP, not a failure.
func TestRunUndeclaredEnv(t *testing.T) {
	_, logs := runAndAddr(t, limp.Config{Envs: map[string]func(*limp.Config){"prod": func(c *limp.Config) { c.Production = true }}},
		"--env", "staging", "--listen", "127.0.0.1:0")
	if !strings.Contains(logs, "env is not declared") || !strings.Contains(logs, "staging") {
		t.Fatalf("undeclared env not logged:\n%s", logs)
	}
}
