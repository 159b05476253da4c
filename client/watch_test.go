package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestWatch(t *testing.T) {
	f := newFakeServer(t)
	c := dial(t, f, nil)
	ctx := testCtx(t)
	w, err := c.Watch(ctx, "blog/watch", nil, map[string]any{"n": 3})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if w.Created.Code() != "CORE_WATCH_OK" || w.Created.Args["watch"] != w.ID {
		t.Errorf("created = %s", w.Created.Raw)
	}
	for i := range 3 {
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("Next %d: %v", i, err)
		}
		docs := ev.Args["docs"].([]any)
		if ev.Args["oper"] != "create" || docs[0].(map[string]any)["i"] != json.Number(fmt.Sprint(i)) {
			t.Errorf("event %d = %s", i, ev.Raw)
		}
	}
	// Other calls are unaffected while the watch is open.
	if err := c.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := w.Next(ctx); !errors.Is(err, ErrWatchEnded) {
		t.Errorf("Next after Stop = %v; want ErrWatchEnded", err)
	}
	if f.count("watch/delete") != 1 {
		t.Errorf("server saw %d watch/delete; want 1", f.count("watch/delete"))
	}

	if _, err := c.Watch(ctx, "nope/watch", nil, nil); CodeOf(err) != "CORE_REQ_INVALID_MODULE" {
		t.Errorf("Watch of unknown module = %v", err)
	}
	if _, err := c.Watch(ctx, "heart/beat", nil, nil); !errors.Is(err, ErrWatchEnded) {
		t.Errorf("Watch of a non-watch method = %v; want ErrWatchEnded", err)
	}
}

func TestWatchEndsWithConnection(t *testing.T) {
	f := newFakeServer(t)
	c := dial(t, f, nil)
	ctx := testCtx(t)
	w, err := c.Watch(ctx, "blog/watch", nil, map[string]any{"n": 0})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with cancelled ctx = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close = %v; want ErrClosed", err)
	}
	if _, err := c.Watch(ctx, "blog/watch", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Watch after Close = %v; want ErrClosed", err)
	}
}

// TestWatchOverflowCancels: a consumer more than WatchBuffer events
// behind ends the watch: the Client sends watch/delete for it (the server
// stops sending), Next returns the events held, then an error wrapping
// ErrWatchOverflow and ErrWatchEnded; Stop sends nothing more.
func TestWatchOverflowCancels(t *testing.T) {
	f := newFakeServer(t)
	c := dial(t, f, nil)
	ctx := testCtx(t)
	w, err := c.Watch(ctx, "blog/watch", nil, map[string]any{"n": WatchBuffer + 50})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.count("watch/delete") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no watch/delete reached the server after the overflow")
		}
		time.Sleep(5 * time.Millisecond)
	}
	n := 0
	for {
		_, err := w.Next(ctx)
		if err != nil {
			if !errors.Is(err, ErrWatchOverflow) || !errors.Is(err, ErrWatchEnded) {
				t.Fatalf("after %d events: %v; want ErrWatchOverflow and ErrWatchEnded", n, err)
			}
			break
		}
		n++
	}
	if n != WatchBuffer {
		t.Fatalf("%d events delivered before the error, want %d", n, WatchBuffer)
	}
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.count("watch/delete"); got != 1 {
		t.Fatalf("server saw %d watch/delete; want 1", got)
	}
}
