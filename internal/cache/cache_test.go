package cache

import (
	"fmt"
	"sync"
	"testing"
)

func TestLRUBound(t *testing.T) {
	c := New(100)
	for i := range 10 {
		key := fmt.Sprint(i)
		if !c.Put(&Entry{Key: key, Size: 30, Deps: []string{"a"}}, c.Snapshot([]string{"a"})) {
			t.Fatalf("put %d refused", i)
		}
		if c.Bytes() > 100 {
			t.Fatalf("bytes %d over the bound", c.Bytes())
		}
	}
	if c.Len() != 3 {
		t.Fatalf("len %d, want 3", c.Len())
	}
	// Get refreshes: 7 survives the next put, 8 goes.
	if _, ok := c.Get("7"); !ok {
		t.Fatal("7 missing")
	}
	c.Put(&Entry{Key: "x", Size: 30}, nil)
	if _, ok := c.Get("7"); !ok {
		t.Error("recently used entry evicted")
	}
	if _, ok := c.Get("8"); ok {
		t.Error("least recently used entry kept")
	}
	if c.Put(&Entry{Key: "big", Size: 101}, nil) {
		t.Error("entry larger than the bound stored")
	}
}

func TestInvalidate(t *testing.T) {
	c := New(1 << 20)
	c.Put(&Entry{Key: "ab", Size: 1, Deps: []string{"a", "b"}}, c.Snapshot([]string{"a", "b"}))
	c.Put(&Entry{Key: "c", Size: 1, Deps: []string{"c"}}, c.Snapshot([]string{"c"}))
	c.Invalidate("b")
	if _, ok := c.Get("ab"); ok {
		t.Error("entry depending on b survived b's invalidation")
	}
	if _, ok := c.Get("c"); !ok {
		t.Error("unrelated entry dropped")
	}
	// A read that started before a write does not store what it read.
	gens := c.Snapshot([]string{"a"})
	c.Invalidate("a")
	if c.Put(&Entry{Key: "stale", Size: 1, Deps: []string{"a"}}, gens) {
		t.Error("stale entry stored after a racing write")
	}
	if c.Bytes() != 1 || c.Len() != 1 {
		t.Errorf("bytes %d len %d, want 1 1", c.Bytes(), c.Len())
	}
}

// TestConcurrent: writers and readers race; no entry read before a write
// survives it (run with -race).
func TestConcurrent(t *testing.T) {
	c := New(1 << 16)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				deps := []string{fmt.Sprint(i % 3)}
				g := c.Snapshot(deps)
				c.Put(&Entry{Key: fmt.Sprint(w, i%50), Size: 64, Deps: deps}, g)
				c.Get(fmt.Sprint(w, (i+7)%50))
				if i%10 == 0 {
					c.Invalidate(deps...)
				}
			}
		})
	}
	wg.Wait()
	if c.Bytes() > 1<<16 {
		t.Fatalf("bytes %d over the bound", c.Bytes())
	}
	c.Invalidate("0", "1", "2")
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Fatalf("after invalidating every collection: len %d bytes %d", c.Len(), c.Bytes())
	}
}
