package limp

import (
	"errors"
	"testing"

	"github.com/limp-go/limp/internal/feed"
	"github.com/limp-go/limp/internal/oid"
)

// A watcher whose queue is full ends with 503 CORE_WATCH_OVERFLOW; push
// never blocks the feed.
func TestWatchOverflow(t *testing.T) {
	tk := &watchTask{a: &App{}, stop: make(chan struct{})}
	tk.running.Store(true) // a step runs: push only queues
	for range WatchQueue {
		tk.push(watchEvent{oper: feed.Update, id: oid.New()})
	}
	if tk.stopped.Load() {
		t.Fatal("stopped before the queue was full")
	}
	tk.push(watchEvent{oper: feed.Update, id: oid.New()})
	if !tk.stopped.Load() || !errors.Is(tk.failed, errWatchOverflow) {
		t.Fatalf("after overflow: stopped %v, failed %v", tk.stopped.Load(), tk.failed)
	}
	select {
	case <-tk.stop:
	default:
		t.Fatal("stop not closed")
	}
	tk.push(watchEvent{oper: feed.Update, id: oid.New()}) // after the end: dropped, no panic
}

func TestProject(t *testing.T) {
	id := oid.New()
	d := map[string]any{"_id": id, "a": int64(1), "b": map[string]any{"c": "x", "d": "y"}, "e": true}
	got := project(d, []string{"a", "b.c", "zz"})
	want := map[string]any{"_id": id, "a": int64(1), "b": map[string]any{"c": "x"}}
	if len(got) != 3 || got["a"] != want["a"] || got["b"].(map[string]any)["c"] != "x" || len(got["b"].(map[string]any)) != 1 {
		t.Fatalf("project = %v, want %v", got, want)
	}
	if got := project(d, nil); len(got) != 4 {
		t.Fatalf("project(nil) = %v", got)
	}
}

// TestWatchOutbox: the events kept for a resume are bounded by count and
// bytes; a resume is accepted only for a seq whose following events are
// all kept; a retained watch that must drop an event never sent fails.
func TestWatchOutbox(t *testing.T) {
	small := map[string]any{"a": "x"}                     // ~12 bytes
	big := map[string]any{"a": string(make([]byte, 100))} // ~110 bytes
	tests := []struct {
		name         string
		events       int
		bytes        int
		docs         []map[string]any
		retainedFrom int // detach after this many events
		resumeOK     map[uint64]bool
		wantErr      bool
	}{
		{"by count", 3, 1 << 20, []map[string]any{small, small, small, small, small}, 5,
			map[uint64]bool{1: false, 2: true, 5: true, 6: false}, false},
		{"by bytes", 100, 250, []map[string]any{big, big, big, big}, 4,
			map[uint64]bool{1: false, 2: true, 4: true}, false},
		{"retained overflow", 2, 1 << 20, []map[string]any{small, small, small, small}, 1,
			nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &App{}
			a.cfg.WatchRetainEvents, a.cfg.WatchRetainBytes = tc.events, tc.bytes
			tk := &watchTask{a: a}
			tk.out.state = outboxRetained // nothing is sent (no connection)
			tk.out.sent = uint64(tc.retainedFrom)
			var err error
			for _, d := range tc.docs {
				if e := tk.out.emit(tk, "create", d); e != nil && err == nil {
					err = e
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("emit error %v, want error %v", err, tc.wantErr)
			}
			for seq, ok := range tc.resumeOK {
				o := &tk.out
				o.mu.Lock()
				saved := o.state
				o.mu.Unlock()
				if got := o.resuming(seq); got != ok {
					t.Errorf("resume from %d: %v, want %v (kept %d events from %d)", seq, got, ok, len(o.buf), o.dropped)
				}
				o.mu.Lock()
				o.state = saved
				o.mu.Unlock()
			}
		})
	}
}
