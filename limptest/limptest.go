// Package limptest runs a limp App for tests: on the embedded store in
// memory, served by an httptest.Server, shut down when the test ends.
package limptest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
)

// Server is a started App served over loopback.
type Server struct {
	App *limp.App
	// URL is the HTTP base URL ("http://127.0.0.1:PORT").
	URL string
	// WS is the websocket URL ("ws://127.0.0.1:PORT/ws").
	WS string

	srv *httptest.Server
}

// Start starts app (whose Config.Data, if empty, is set to ":memory:" by
// New) and serves it until the test ends.
func Start(t testing.TB, app *limp.App) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Serve(ctx, app)
	if err != nil {
		t.Fatalf("limptest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("limptest: %v", err)
		}
	})
	return s
}

// Serve starts app and serves it on a loopback port, for code without a
// testing.TB (Example functions, benchmarks' helpers, tools). Close it
// with [Server.Close]. Apps in examples set Config.Data to ":memory:"
// (or use [ExampleConfig]).
func Serve(ctx context.Context, app *limp.App) (*Server, error) {
	if err := app.Start(ctx); err != nil {
		return nil, fmt.Errorf("start app: %w", err)
	}
	srv := httptest.NewServer(app)
	return &Server{App: app, URL: srv.URL, WS: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", srv: srv}, nil
}

// Close shuts the app down (within 10 s) and stops serving.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.App.Shutdown(ctx)
	s.srv.Close()
	if err != nil && !errors.Is(err, limp.ErrShutdown) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Dial returns a client connected to the server; the caller closes it. o
// may be nil; its AnonToken defaults to the app's.
func (s *Server) Dial(ctx context.Context, o *client.Options) (*client.Client, error) {
	var opts client.Options
	if o != nil {
		opts = *o
	}
	if opts.AnonToken == "" {
		opts.AnonToken = s.App.Config().AnonToken
	}
	return client.Dial(ctx, s.WS, &opts)
}

// ExampleConfig returns cfg prepared for Example functions: the in-memory
// embedded store and a logger that drops records below error level (so
// that an example's output is only what it prints).
func ExampleConfig(cfg limp.Config) limp.Config {
	if cfg.Data == "" {
		cfg.Data = ":memory:"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	return cfg
}

// Config returns cfg prepared for tests: the in-memory embedded store and
// a logger writing to t.Log (at warning level and above, so that
// failures explain themselves without drowning the output).
func Config(t testing.TB, cfg limp.Config) limp.Config {
	if cfg.Data == "" {
		cfg.Data = ":memory:"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return cfg
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Client returns a client connected to the server (closed when the test
// ends). o may be nil; its AnonToken defaults to the app's.
func (s *Server) Client(t testing.TB, o *client.Options) *client.Client {
	t.Helper()
	var opts client.Options
	if o != nil {
		opts = *o
	}
	if opts.AnonToken == "" {
		opts.AnonToken = s.App.Config().AnonToken
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.WS, &opts)
	if err != nil {
		t.Fatalf("limptest: dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
