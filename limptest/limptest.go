// Package limptest runs a limp App for tests: on the embedded store in
// memory, served by an httptest.Server, shut down when the test ends.
package limptest

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
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
	if err := app.Start(ctx); err != nil {
		t.Fatalf("limptest: start app: %v", err)
	}
	srv := httptest.NewServer(app)
	s := &Server{App: app, URL: srv.URL, WS: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", srv: srv}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil && !errors.Is(err, limp.ErrShutdown) {
			t.Errorf("limptest: shutdown: %v", err)
		}
		srv.Close()
	})
	return s
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
