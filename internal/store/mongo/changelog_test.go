package mongo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// fakeLog is a change log whose entries become visible one by one, in any
// order (as entries of concurrent writers do).
type fakeLog struct {
	visible []changeEntry
	fail    error
	queries int
}

func (f *fakeLog) show(es ...changeEntry) { f.visible = append(f.visible, es...) }

func (f *fakeLog) fetch(_ context.Context, from bson.ObjectID, inclusive bool, limit int) ([]changeEntry, error) {
	f.queries++
	if f.fail != nil {
		return nil, f.fail
	}
	var out []changeEntry
	for _, e := range f.visible {
		if c := bytes.Compare(e.ID[:], from[:]); c > 0 || c == 0 && inclusive {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b changeEntry) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out[:min(limit, len(out))], nil
}

var t0 = time.Unix(1_800_000_000, 0)

// entryAt is an entry whose _id has time t0+sec and sorts by n within
// that second.
func entryAt(sec int, n uint32) changeEntry {
	var id bson.ObjectID
	binary.BigEndian.PutUint32(id[:4], uint32(t0.Unix()+int64(sec)))
	binary.BigEndian.PutUint32(id[8:], n)
	return changeEntry{ID: id, Coll: "c", Oper: "update"}
}

func ids(es []changeEntry) []bson.ObjectID {
	out := make([]bson.ObjectID, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func newTestTailer(f *fakeLog, overlap time.Duration, batch int, now *time.Time) *tailer {
	t := newTailer(f.fetch, overlap, batch, *now)
	t.now = func() time.Time { return *now }
	return t
}

// TestTailerOutOfOrder: entries that become visible after newer ones are
// delivered while within the overlap, each exactly once; one that shows
// up later than the overlap is the documented miss.
func TestTailerOutOfOrder(t *testing.T) {
	ctx := context.Background()
	now := t0
	f := &fakeLog{}
	tl := newTestTailer(f, 2*time.Second, 100, &now)

	// Written before the tailer started (second -5): never delivered.
	f.show(entryAt(-5, 1))
	a, b, c, d, late := entryAt(1, 1), entryAt(1, 2), entryAt(2, 1), entryAt(3, 1), entryAt(2, 3)
	now = t0.Add(3 * time.Second)
	f.show(a, c) // b (between a and c) is not committed yet
	tests := []struct {
		name string
		show []changeEntry
		now  int
		want []changeEntry
	}{
		{"first", nil, 3, []changeEntry{a, c}},
		{"nothing new", nil, 3, nil},
		{"b after c", []changeEntry{b}, 3, []changeEntry{b}},
		{"d, and a again", []changeEntry{d}, 4, []changeEntry{d}},
		// since = the last poll's start (4s) - 2s = second 2: an entry
		// of second 2 still counts.
		{"late within the overlap", []changeEntry{late}, 4, []changeEntry{late}},
		{"far ahead", []changeEntry{entryAt(9, 1)}, 9, []changeEntry{entryAt(9, 1)}},
		// since = 9s - 2s: an entry of second 4 showing up now (5 s
		// late) is beyond the overlap (the documented window).
		{"beyond the overlap", []changeEntry{entryAt(4, 7)}, 9, nil},
	}
	for _, tt := range tests {
		f.show(tt.show...)
		now = t0.Add(time.Duration(tt.now) * time.Second)
		got, err := tl.poll(ctx, true)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !slices.Equal(ids(got), ids(tt.want)) {
			t.Fatalf("%s: got %v, want %v", tt.name, ids(got), ids(tt.want))
		}
	}
	// Entries before since are forgotten: only second 7 onwards is
	// remembered.
	if len(tl.seen) != 1 {
		t.Fatalf("%d entries remembered, want 1", len(tl.seen))
	}
}

// TestTailerClockAhead: a writer whose clock runs ahead does not push
// since past the poller's present, so an on-time writer's entries are
// still read.
func TestTailerClockAhead(t *testing.T) {
	now := t0
	f := &fakeLog{}
	tl := newTestTailer(f, 2*time.Second, 100, &now)
	f.show(entryAt(60, 1)) // a minute ahead
	if got, _ := tl.poll(context.Background(), true); len(got) != 1 {
		t.Fatalf("got %d entries, want 1", len(got))
	}
	f.show(entryAt(0, 1))
	if got, _ := tl.poll(context.Background(), true); len(got) != 1 {
		t.Fatalf("on-time entry after a fast clock's: got %d, want 1", len(got))
	}
}

// TestTailerBehind: a poll reads at most pollRounds batches; the next one
// carries on where it stopped, and nothing is delivered twice (also when
// the overlap holds more entries than one poll reads).
func TestTailerBehind(t *testing.T) {
	now := t0.Add(time.Second)
	f := &fakeLog{}
	tl := newTestTailer(f, 2*time.Second, 3, &now)
	total := 3*pollRounds + 5
	for i := range total {
		f.show(entryAt(0, uint32(i)))
	}
	var all []changeEntry
	for poll := 0; poll < 3; poll++ {
		f.queries = 0
		got, err := tl.poll(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		if f.queries > pollRounds {
			t.Fatalf("poll %d: %d queries, at most %d", poll, f.queries, pollRounds)
		}
		all = append(all, got...)
		if want := poll == 0; poll < 2 && tl.behind() != want {
			t.Fatalf("poll %d: behind %v, want %v", poll, tl.behind(), want)
		}
		if poll == 2 && len(got) != 0 {
			t.Fatalf("poll 2 (rereading the overlap) delivered %d entries again", len(got))
		}
	}
	if len(all) != total {
		t.Fatalf("%d entries delivered, want %d", len(all), total)
	}
	seen := map[bson.ObjectID]bool{}
	for _, e := range all {
		if seen[e.ID] {
			t.Fatalf("%v delivered twice", e.ID)
		}
		seen[e.ID] = true
	}
}

// TestTailerLocalAndErrors: an entry already delivered is skipped by the
// poll; a failed read delivers nothing and loses nothing.
func TestTailerLocalAndErrors(t *testing.T) {
	now := t0.Add(time.Second)
	f := &fakeLog{}
	tl := newTestTailer(f, 2*time.Second, 100, &now)
	own, other := entryAt(0, 1), entryAt(0, 2)
	if !tl.markSeen(own.ID) {
		t.Fatal("first markSeen reported seen")
	}
	if tl.markSeen(own.ID) {
		t.Fatal("second markSeen reported new")
	}
	f.show(own, other)
	f.fail = errors.New("server gone")
	if got, err := tl.poll(context.Background(), true); err == nil || len(got) != 0 {
		t.Fatalf("failed read: %v, %v", got, err)
	}
	f.fail = nil
	got, err := tl.poll(context.Background(), true)
	if err != nil || !slices.Equal(ids(got), []bson.ObjectID{other.ID}) {
		t.Fatalf("after the failure: %v, %v; want only the other node's entry", ids(got), err)
	}
}

// TestTailerQuick: a quick poll reads only past the greatest _id seen; an
// entry showing up below it waits for the next full poll, and comes once.
func TestTailerQuick(t *testing.T) {
	now := t0
	f := &fakeLog{}
	tl := newTestTailer(f, 2*time.Second, 100, &now)
	now = t0.Add(3 * time.Second)
	a, b, c, d := entryAt(1, 1), entryAt(1, 2), entryAt(2, 1), entryAt(3, 1)
	f.show(a, c)
	if got, _ := tl.poll(context.Background(), true); !slices.Equal(ids(got), ids([]changeEntry{a, c})) {
		t.Fatalf("full poll: %v", ids(got))
	}
	f.show(b, d)
	f.queries = 0
	got, _ := tl.poll(context.Background(), false)
	if !slices.Equal(ids(got), ids([]changeEntry{d})) {
		t.Fatalf("quick poll: %v, want only d", ids(got))
	}
	if got, _ := tl.poll(context.Background(), true); !slices.Equal(ids(got), ids([]changeEntry{b})) {
		t.Fatalf("full poll after: %v, want b", ids(got))
	}
	if got, _ := tl.poll(context.Background(), true); len(got) != 0 {
		t.Fatalf("again: %v", ids(got))
	}
}
