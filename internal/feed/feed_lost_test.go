package feed

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
)

// TestFeedSourceFailureReportsLost: a Source that fails is reported to
// the subscribers at once, as a Lost event of its own, without waiting
// for an event that may never come.
func TestFeedSourceFailureReportsLost(t *testing.T) {
	h := New(func(ctx context.Context, coll string, ids []oid.ID) ([]map[string]any, error) { return nil, nil }, nil)
	defer h.Close()
	fail := make(chan struct{})
	h.SetSource(func(ctx context.Context, coll string, emit func(Oper, []oid.ID)) error {
		emit(Create, []oid.ID{oid.New()})
		<-fail
		return errors.New("stream failed")
	})
	if !h.HasSource() {
		t.Fatal("HasSource = false after SetSource")
	}
	got := make(chan Event, 10)
	h.Subscribe("c", func(e Event) { got <- e })
	if e := <-got; e.Lost || e.Oper != Create {
		t.Fatalf("first event %+v", e)
	}
	close(fail)
	select {
	case e := <-got:
		if !e.Lost || e.Oper != 0 || len(e.IDs) != 0 {
			t.Fatalf("loss reported as %+v, want Lost with no oper or ids", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the source's failure was never reported")
	}
}
