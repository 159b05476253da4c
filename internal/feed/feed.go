// Package feed is the change feed of a node's store (issue 14 item 5):
// one feed per collection, fed by the store's write path after each
// commit, in commit order, and fanned out to its subscribers (live
// queries, spec §6.12; caches invalidated by writes).
//
// Publish never blocks a write: an event is queued (at most MaxPending
// per collection) and a goroutine per watched collection, owned by the
// Hub and waited for by Close, loads the changed documents' after-images
// in one batched read (only when a subscriber asked for documents) and
// calls every subscriber in turn. When the queue is full the event is
// dropped and the next event delivered carries Lost: subscribers must
// treat their view as stale (live queries end with a coded error).
// Subscribers' callbacks must not block: they run on the feed's goroutine.
package feed

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/limp-go/limp/internal/oid"
)

// Oper is the kind of a change.
type Oper uint8

// The changes a feed reports.
const (
	Create Oper = iota + 1
	Update
	Delete
)

// String returns LIMP's name of the operation ("create", "update",
// "delete"), as watch replies carry it in args.oper.
func (o Oper) String() string {
	switch o {
	case Create:
		return "create"
	case Update:
		return "update"
	case Delete:
		return "delete"
	}
	return "?"
}

// Event is one committed write to a collection.
type Event struct {
	// Collection is the collection's name.
	Collection string
	Oper       Oper
	// IDs are the documents the write changed.
	IDs []oid.ID
	// Docs are the after-images of IDs that still exist (create and
	// update), read back after the commit, keyed by _id; nil for
	// subscribers that did not ask for documents and for deletes. An id
	// missing from Docs was deleted since. Docs are shared by the
	// subscribers: copy before modifying.
	Docs map[oid.ID]map[string]any
	// Seq numbers the collection's events on this node from 1, without
	// gaps (a dropped event still takes its number).
	Seq uint64
	// Lost reports that events before this one were dropped (the queue
	// overflowed, or the Source failed): a subscriber's view of the
	// collection is stale. When no event follows the drop, the loss
	// comes as an event of its own, with Oper 0 and no IDs.
	Lost bool
}

// Loader reads the live documents ids of collection, in one read.
type Loader func(ctx context.Context, collection string, ids []oid.ID) ([]map[string]any, error)

// MaxPending bounds each collection's queue of undelivered events.
const MaxPending = 4096

// Hub holds the feeds of one node. The zero Hub is not usable: use New.
type Hub struct {
	load Loader
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	feeds  map[string]*collFeed
	closed bool
	source Source
}

// Source produces a collection's events from outside the node's write
// path (MongoDB change streams, seeing the writes of every node): it runs
// from the collection's first subscription until Close, calling emit for
// each committed write in commit order, and returns when ctx ends. An
// error return marks the feed's next event Lost.
type Source func(ctx context.Context, collection string, emit func(Oper, []oid.ID)) error

// SetSource makes src the origin of every collection's events: Publish
// then does nothing (the node's own writes come back through src). Call
// it before the first Subscribe.
func (h *Hub) SetSource(src Source) {
	h.mu.Lock()
	h.source = src
	h.mu.Unlock()
}

// HasSource reports whether a Source was set: the feed then carries the
// writes of every node, not only this node's (which Publish reports).
func (h *Hub) HasSource() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.source != nil
}

// New returns a Hub reading after-images with load. log may be nil.
func New(load Loader, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Hub{load: load, log: log, ctx: ctx, stop: stop, feeds: map[string]*collFeed{}}
}

type subscriber struct {
	fn   func(Event)
	docs bool
}

type collFeed struct {
	name    string
	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	queue   []Event
	seq     uint64
	lost    bool
	wake    chan struct{} // cap 1
	nsubs   int           // len(subs)
	closed  bool
	sourced bool // the Source runs
}

// Subscribe calls fn with every event of collection committed from now
// on, in order, without documents (Event.Docs nil): the small API for
// caches invalidated by writes. It returns the function that ends the
// subscription (safe to call more than once). fn must not block.
func (h *Hub) Subscribe(collection string, fn func(Event)) (cancel func()) {
	return h.subscribe(collection, fn, false)
}

// SubscribeDocs is Subscribe with the after-images of created and updated
// documents in Event.Docs.
func (h *Hub) SubscribeDocs(collection string, fn func(Event)) (cancel func()) {
	return h.subscribe(collection, fn, true)
}

func (h *Hub) subscribe(collection string, fn func(Event), docs bool) func() {
	s := &subscriber{fn: fn, docs: docs}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return func() {}
	}
	f := h.feeds[collection]
	if f == nil {
		f = &collFeed{name: collection, subs: map[*subscriber]struct{}{}, wake: make(chan struct{}, 1)}
		h.feeds[collection] = f
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.run(f)
		}()
	}
	f.mu.Lock()
	f.subs[s] = struct{}{}
	f.nsubs = len(f.subs)
	first := !f.sourced
	f.sourced = true
	f.mu.Unlock()
	if src := h.source; src != nil && first {
		// Started once the first subscriber is in: its first events
		// are delivered.
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			if err := src(h.ctx, collection, func(o Oper, ids []oid.ID) { h.emit(f, o, ids) }); err != nil && h.ctx.Err() == nil {
				h.log.Error("change feed: source ended", "collection", collection, "err", err)
				f.mu.Lock()
				f.lost = true
				f.mu.Unlock()
				// Wake the feed: the loss is reported now, not only
				// with an event that may never come.
				select {
				case f.wake <- struct{}{}:
				default:
				}
			}
		}()
	}
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, s)
			f.nsubs = len(f.subs)
			f.mu.Unlock()
		})
	}
}

// Watched reports whether collection has subscribers (a write path may
// skip collecting ids otherwise).
func (h *Hub) Watched(collection string) bool {
	h.mu.Lock()
	f := h.feeds[collection]
	h.mu.Unlock()
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nsubs > 0
}

// Publish queues a committed write; it never blocks. A collection without
// subscribers costs one map lookup.
func (h *Hub) Publish(collection string, oper Oper, ids []oid.ID) {
	if len(ids) == 0 {
		return
	}
	h.mu.Lock()
	f := h.feeds[collection]
	src := h.source
	h.mu.Unlock()
	if f == nil || src != nil {
		return
	}
	h.emit(f, oper, ids)
}

func (h *Hub) emit(f *collFeed, oper Oper, ids []oid.ID) {
	collection := f.name
	f.mu.Lock()
	if f.nsubs == 0 || f.closed {
		f.mu.Unlock()
		return
	}
	f.seq++
	if len(f.queue) >= MaxPending {
		f.lost = true
		f.mu.Unlock()
		return
	}
	f.queue = append(f.queue, Event{Collection: collection, Oper: oper, IDs: ids, Seq: f.seq, Lost: f.lost})
	f.lost = false
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (h *Hub) run(f *collFeed) {
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-f.wake:
		}
		for {
			f.mu.Lock()
			batch := f.queue
			f.queue = nil
			if len(batch) == 0 && f.lost {
				// Dropped events with none after them: report the loss
				// on its own (an event with no IDs).
				batch = []Event{{Collection: f.name, Seq: f.seq, Lost: true}}
				f.lost = false
			}
			subs := make([]*subscriber, 0, len(f.subs))
			for s := range f.subs {
				subs = append(subs, s)
			}
			f.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, ev := range batch {
				h.deliver(ev, subs)
			}
		}
	}
}

func (h *Hub) deliver(ev Event, subs []*subscriber) {
	wantDocs := false
	for _, s := range subs {
		wantDocs = wantDocs || s.docs
	}
	var docs map[oid.ID]map[string]any
	if wantDocs && ev.Oper != Delete {
		ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
		got, err := h.load(ctx, ev.Collection, ev.IDs)
		cancel()
		if err != nil {
			h.log.Error("change feed: read back changed documents", "collection", ev.Collection, "err", err)
			ev.Lost = true
		}
		docs = make(map[oid.ID]map[string]any, len(got))
		for _, d := range got {
			if id, ok := d["_id"].(oid.ID); ok {
				docs[id] = d
			}
		}
	}
	for _, s := range subs {
		e := ev
		if s.docs {
			e.Docs = docs
		}
		s.fn(e)
	}
}

// Close stops every feed and waits for their goroutines; events not yet
// delivered are dropped. Publish and Subscribe after Close do nothing.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	for _, f := range h.feeds {
		f.mu.Lock()
		f.closed = true
		f.mu.Unlock()
	}
	h.mu.Unlock()
	h.stop()
	h.wg.Wait()
}
