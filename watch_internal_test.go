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
	tk := &watchTask{in: make(chan watchEvent, WatchQueue), stop: make(chan struct{})}
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
