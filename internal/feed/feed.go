// Package feed is the change feed of a node's store (issue 14 item 5):
// one feed per collection, fed by the store's write path after each
// commit, in commit order, and fanned out to its subscribers (live
// queries, spec §6.12; caches invalidated by writes).
//
// Publish never blocks a write: an event is queued (at most MaxPending
// per collection) and a goroutine per watched collection, owned by the
// Hub and waited for by Close, calls every subscriber in turn with the
// changed documents' after-images when one asked for them: those the
// write path gave (PublishDocs: a create's documents as stored, with no
// read), else loaded in one batched read. When the queue is full the event is
// dropped and the next event delivered carries Lost: subscribers must
// treat their view as stale (live queries end with a coded error).
// Subscribers' callbacks must not block: they run on the feed's goroutine.
package feed

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
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
	// update), keyed by _id: given by the write (PublishDocs) or read
	// back after the commit; nil for subscribers that did not ask for
	// documents and for deletes. An id missing from Docs was deleted
	// since (or, given by the write, is not readable). Docs are shared
	// by the subscribers: copy before modifying.
	Docs map[oid.ID]map[string]any
	// Seq numbers the collection's events on this node from 1, without
	// gaps (a dropped event still takes its number).
	Seq uint64
	// Lost reports that events before this one were dropped (the queue
	// overflowed, or the Source failed): a subscriber's view of the
	// collection is stale. When no event follows the drop, the loss
	// comes as an event of its own, with Oper 0 and no IDs.
	Lost bool

	skip []*subscriber // subscribers the event is of no use to (PublishCreated)
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

	queued, skipped, loads atomic.Uint64 // Stats
}

// Stats counts a Hub's work since New.
type Stats struct {
	// Queued counts the events queued for delivery.
	Queued uint64
	// Skipped counts the creates of use to no subscriber
	// (PublishCreated), numbered but not queued.
	Skipped uint64
	// Loads counts the batched read-backs of after-images.
	Loads uint64
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	return Stats{Queued: h.queued.Load(), Skipped: h.skipped.Load(), Loads: h.loads.Load()}
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
	// may, when set, tells whether a created document (as written, or
	// its after-image) can be of use to the subscriber (PublishCreated).
	may func(doc map[string]any) bool
}

type collFeed struct {
	name    string
	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	list    []*subscriber // subs as a slice, rebuilt when nil; not modified once built
	queue   []Event
	seq     uint64
	lost    bool
	wake    chan struct{} // cap 1
	nsubs   int           // len(subs)
	ndocs   int           // subscribers that asked for documents
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

// SubscribeDocsFilter is SubscribeDocs for a subscriber that has no use
// of most created documents (live queries whose filters a create cannot
// pass): may(doc) reports whether a created document can be of use to it,
// looking at the document as written or at its after-image (so it must
// answer true when unsure). When the write gives its documents
// (PublishCreated), a create none of whose documents may be of use is not
// delivered to fn, and a document of use to no subscriber has no
// after-image made (it is missing from Event.Docs). may runs on the
// writer's goroutine, after the commit, and must be fast and safe for
// concurrent use.
func (h *Hub) SubscribeDocsFilter(collection string, fn func(Event), may func(doc map[string]any) bool) (cancel func()) {
	return h.subscribeWith(collection, &subscriber{fn: fn, docs: true, may: may})
}

func (h *Hub) subscribe(collection string, fn func(Event), docs bool) func() {
	return h.subscribeWith(collection, &subscriber{fn: fn, docs: docs})
}

func (h *Hub) subscribeWith(collection string, s *subscriber) func() {
	docs := s.docs
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
	f.list = nil
	f.nsubs = len(f.subs)
	if docs {
		f.ndocs++
	}
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
			f.list = nil
			f.nsubs = len(f.subs)
			if docs {
				f.ndocs--
			}
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

// WantsDocs reports whether the write path should hand collection's
// after-images to PublishDocs: a subscriber asked for documents and the
// events come from Publish (no Source).
func (h *Hub) WantsDocs(collection string) bool {
	f := h.localFeed(collection)
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ndocs > 0
}

// Publish queues a committed write; it never blocks. A collection without
// subscribers costs one map lookup.
func (h *Hub) Publish(collection string, oper Oper, ids []oid.ID) {
	h.PublishDocs(collection, oper, ids, nil)
}

// localFeed returns collection's feed when this Hub's own writes feed it
// (no cross-node Source), else nil: the Publish calls then do nothing.
func (h *Hub) localFeed(collection string) *collFeed {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.source != nil {
		return nil
	}
	return h.feeds[collection]
}

// PublishDocs is Publish with the write's after-images, keyed by _id
// (create and update; an id missing from docs is not readable): the
// subscribers that asked for documents get them as Event.Docs, and the
// feed reads nothing back. docs must not be modified afterwards. With
// docs nil it is Publish.
func (h *Hub) PublishDocs(collection string, oper Oper, ids []oid.ID, docs map[oid.ID]map[string]any) {
	if len(ids) == 0 {
		return
	}
	f := h.localFeed(collection)
	if f == nil {
		return
	}
	h.emitDocs(f, oper, ids, docs)
}

// PublishCreated reports a committed create of docs (each with its _id),
// as written: image returns what Read returns for one of them (nil when
// Read does not return it), or is nil when docs are already that. It
// never blocks. The after-images are made here, for the documents of use
// to a subscriber that wants documents (SubscribeDocsFilter), and go to
// the subscribers as Event.Docs: the feed reads nothing back. A
// subscriber none of docs is of use to does not get the event, and a
// create of use to nobody is not queued (it still takes its Seq). When
// image fails, the event goes to everyone and the documents are read
// back.
func (h *Hub) PublishCreated(collection string, docs []map[string]any, image func(map[string]any) (map[string]any, error)) {
	if len(docs) == 0 {
		return
	}
	f := h.localFeed(collection)
	if f == nil {
		return
	}
	f.mu.Lock()
	if f.nsubs == 0 || f.closed {
		f.mu.Unlock()
		return
	}
	subs := f.members()
	f.mu.Unlock()
	ids := make([]oid.ID, 0, len(docs))
	for _, d := range docs {
		if id, ok := d["_id"].(oid.ID); ok {
			ids = append(ids, id)
		}
	}
	// Which documents need an after-image, and which subscribers have no
	// use of the event.
	var need []bool
	var skip []*subscriber
	anyDocs := false
	for _, s := range subs {
		switch {
		case !s.docs:
			continue
		case s.may == nil:
			anyDocs = true
			if need == nil {
				need = make([]bool, len(docs))
			}
			for i := range need {
				need[i] = true
			}
			continue
		}
		anyDocs = true
		used := false
		for i, d := range docs {
			if need != nil && need[i] && used {
				continue
			}
			if s.may(d) {
				used = true
				if need == nil {
					need = make([]bool, len(docs))
				}
				need[i] = true
			}
		}
		if !used {
			skip = append(skip, s)
		}
	}
	var images map[oid.ID]map[string]any
	if anyDocs {
		images = make(map[oid.ID]map[string]any, len(docs))
		for i, d := range docs {
			if need == nil || !need[i] {
				continue
			}
			img := d
			if image != nil {
				var err error
				if img, err = image(d); err != nil {
					// Read them back, for everyone.
					images, skip = nil, nil
					break
				}
			}
			if img == nil {
				continue // not readable
			}
			if id, ok := img["_id"].(oid.ID); ok {
				images[id] = img
			}
		}
	}
	f.mu.Lock()
	if len(skip) == len(subs) && f.nsubs == len(subs) && !f.closed {
		// Of use to nobody: not queued, but numbered (a subscriber
		// that came since gets the next events, as any new one).
		f.seq++
		f.mu.Unlock()
		h.skipped.Add(1)
		return
	}
	f.mu.Unlock()
	h.queue(f, Event{Collection: collection, Oper: Create, IDs: ids, Docs: images, skip: skip})
}

// members returns the feed's subscribers; f.mu is held. The slice is not
// modified afterwards.
func (f *collFeed) members() []*subscriber {
	if f.list == nil {
		f.list = make([]*subscriber, 0, len(f.subs))
		for s := range f.subs {
			f.list = append(f.list, s)
		}
	}
	return f.list
}

func (h *Hub) emit(f *collFeed, oper Oper, ids []oid.ID) { h.emitDocs(f, oper, ids, nil) }

func (h *Hub) emitDocs(f *collFeed, oper Oper, ids []oid.ID, docs map[oid.ID]map[string]any) {
	if oper == Delete {
		docs = nil
	}
	h.queue(f, Event{Collection: f.name, Oper: oper, IDs: ids, Docs: docs})
}

// queue numbers ev and queues it for delivery.
func (h *Hub) queue(f *collFeed, ev Event) {
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
	ev.Seq, ev.Lost = f.seq, f.lost
	f.queue = append(f.queue, ev)
	h.queued.Add(1)
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
			subs := f.members()
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
	docs := ev.Docs // given by the write (PublishDocs)
	if wantDocs && ev.Oper != Delete && docs == nil {
		ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
		h.loads.Add(1)
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
		if ev.skip != nil && !ev.Lost && slices.Contains(ev.skip, s) {
			continue // none of the created documents is of use to it
		}
		e := ev
		e.Docs, e.skip = nil, nil
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
