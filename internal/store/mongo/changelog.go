package mongo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/limp-go/limp/internal/oid"
)

// The change log: a broker-free change feed for MongoDB servers without
// change streams (a standalone mongod, FerretDB), issue 14 item 5 and
// issue 16 item 4.
//
// Every write this store makes to a collection (Insert, Update with at
// least one document modified, soft and hard Delete) also inserts one
// small entry into the change log: the collection ChangeLogCollection +
// "_" + the Unix second starting its ChangeLogBucket-long time bucket
// ("__changes_1764458400"), by the entry _id's time:
//
//	{_id: ObjectId (the writing node's clock), at: Date, c: collection,
//	 o: "create"|"update"|"delete", ids: [ObjectId...], n: node id}
//
// (writes changing more than changeLogMaxIDs documents take several
// entries). Inside a transaction (a server with transactions, when the
// change log is enabled there) the entry is written in the same
// transaction. Without transactions it is written right after the write:
// a node that dies, or loses the server, between the two leaves the write
// unannounced, so other nodes' caches keep that collection's entries until
// their next write to it and their watchers miss it. A failed entry insert
// is logged, never reported as a failure of the write that succeeded.
//
// Each node following the log (FollowChangeLog: the App's change feed, for
// watches and the read cache) runs one poller for all collections: every
// ChangeLogOptions.Poll it reads the entries whose _id is at or after
// `since`, in _id order, at most Batch per query and 10 queries per poll
// (a node further behind carries on from where it stopped at the next
// poll). Entries of concurrent writers may become visible out of _id order
// (ObjectIds come from each writer's clock and commits take time), so
// `since` trails the start of the last poll by Overlap and the window is
// read again at every poll; entries already delivered are recognised by _id and
// skipped, and forgotten once `since` has passed them. An entry is missed
// only if it becomes visible more than Overlap after its _id's time: a
// write whose entry took longer than Overlap to commit, or a writer whose
// clock is behind the poller's by more than Overlap (keep node clocks in
// sync, e.g. NTP).
//
// A follower receives the writes whose entries have an _id time from the
// second before it started onwards (possibly a few made just before it
// started, never one made after).
//
// Every write reaches each follower exactly once, whichever node made it,
// in _id order within a poll. The node's own writes come back through the
// log too, without waiting for the next tick: each wakes the poller for a
// quick read of the entries after the greatest _id seen, Poll/5 later
// (the writes of that time coalesced into one read); the overlap is reread
// at the ticks only.
//
// Time buckets keep every read small on servers that scan a collection
// for an _id range instead of using the _id index (FerretDB v1: a read of
// a 10,000-entry collection takes 1 s there, see BENCHMARKS.md): a poll
// reads only the buckets from since's to the one after now's. Buckets
// older than Retention are dropped whole by the nodes themselves, at most
// once per prune interval (Retention/20) per node (from the poller, or the
// write path when the node polls nothing), each time at most pruneBuckets
// of them; Open drops the old buckets it finds.

// ChangeLogCollection prefixes the names of the change log's collections
// (one per ChangeLogBucket).
const ChangeLogCollection = "__changes"

// ChangeLogBucket is the time span of one change log collection.
const ChangeLogBucket = 10 * time.Second

// ChangeLogOptions configure the change log (Options.ChangeLog). The zero
// value of each field means its default.
type ChangeLogOptions struct {
	// Poll is the time between two reads of the log; default 250 ms.
	Poll time.Duration
	// Overlap is how far behind the newest entry seen each read starts
	// again; default 2 s (see the package's change log notes).
	Overlap time.Duration
	// Retention is how long entries are kept; default 2 minutes. A node
	// that cannot read the log for longer than Retention minus Overlap
	// reports its feed lost.
	Retention time.Duration
	// Batch bounds the entries one query returns; default 1000.
	Batch int
	// Node names this node in its entries; default a random hex string.
	Node string
}

const (
	defaultChangeLogPoll      = 250 * time.Millisecond
	defaultChangeLogOverlap   = 2 * time.Second
	defaultChangeLogRetention = 2 * time.Minute
	defaultChangeLogBatch     = 1000
	changeLogMaxIDs           = 10000 // ids per entry
	pollRounds                = 10    // queries per poll
	pruneBuckets              = 200   // drops per prune
)

func (o ChangeLogOptions) withDefaults() ChangeLogOptions {
	if o.Poll <= 0 {
		o.Poll = defaultChangeLogPoll
	}
	if o.Overlap <= 0 {
		o.Overlap = defaultChangeLogOverlap
	}
	if o.Retention <= 0 {
		o.Retention = defaultChangeLogRetention
	}
	if o.Retention < 2*o.Overlap {
		o.Retention = 2 * o.Overlap
	}
	if o.Batch <= 0 {
		o.Batch = defaultChangeLogBatch
	}
	if o.Node == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.Node = hex.EncodeToString(b[:])
	}
	return o
}

// changeEntry is one entry of the change log.
type changeEntry struct {
	ID   bson.ObjectID   `bson:"_id"`
	At   time.Time       `bson:"at"`
	Coll string          `bson:"c"`
	Oper string          `bson:"o"`
	IDs  []bson.ObjectID `bson:"ids"`
	Node string          `bson:"n"`
}

// changeLog is a store's change log (nil when off).
type changeLog struct {
	s *Store
	o ChangeLogOptions

	lastPrune atomic.Int64 // unix nanoseconds

	mu       sync.Mutex
	handlers map[string][]*changeHandler // by collection
	poller   *changePoller
}

type changeHandler struct{ fn func(Change) }

// ChangeLog reports whether the change log is on: Open was given
// Options.ChangeLog and the server lacks change streams.
func (s *Store) ChangeLog() bool { return s.clog != nil }

// openChangeLog turns the change log on (Open), drops the old buckets
// it finds, and logs it.
func (s *Store) openChangeLog(ctx context.Context, o ChangeLogOptions) {
	o = o.withDefaults()
	l := &changeLog{s: s, o: o, handlers: map[string][]*changeHandler{}}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if _, err := l.prune(pctx, time.Now().Add(-o.Retention), pruneBuckets); err != nil {
		s.log.Warn("mongodb change log: drop old buckets", "err", err)
	}
	cancel()
	l.lastPrune.Store(time.Now().UnixNano())
	s.clog = l
	s.log.Info("mongodb change log on: the server has no change streams, so writes are also logged in "+ChangeLogCollection+"_* and polled by every node",
		"database", s.db.Name(), "node", o.Node, "poll", o.Poll, "overlap", o.Overlap, "retention", o.Retention)
}

// bucketOf returns the Unix second starting t's bucket.
func bucketOf(t time.Time) int64 {
	w := int64(ChangeLogBucket / time.Second)
	u := t.Unix()
	return u - ((u%w)+w)%w
}

// bucket returns the collection of the bucket starting at Unix second b.
func (l *changeLog) bucket(b int64) *mongo.Collection {
	return l.s.db.Collection(ChangeLogCollection + "_" + strconv.FormatInt(b, 10))
}

// realTx reports whether ctx carries a server transaction of s.
func (s *Store) realTx(ctx context.Context) bool {
	return s.caps.Transactions && ctx.Value(txKey{}) == s
}

// logChange records a write of oper ("create", "update", "delete") to the
// documents ids of coll, when the change log is on. In a transaction its
// error aborts the transaction; otherwise it is logged and nil returned
// (the write stands; see the window in the change log notes).
func (s *Store) logChange(ctx context.Context, coll, oper string, ids []bson.ObjectID) error {
	l := s.clog
	if l == nil || len(ids) == 0 {
		return nil
	}
	tx := s.realTx(ctx)
	now := time.Now()
	var entries []changeEntry
	for len(ids) > 0 {
		n := min(len(ids), changeLogMaxIDs)
		entries = append(entries, changeEntry{ID: bson.NewObjectIDFromTimestamp(now), At: now, Coll: coll, Oper: oper, IDs: ids[:n:n], Node: l.o.Node})
		ids = ids[n:]
	}
	docs := make([]any, len(entries))
	for i := range entries {
		docs[i] = entries[i]
	}
	wctx := ctx
	if !tx {
		// The write is done: log it even if the caller gives up now.
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	bc := l.bucket(bucketOf(now))
	var err error
	if len(docs) == 1 {
		_, err = bc.InsertOne(wctx, docs[0])
	} else {
		_, err = bc.InsertMany(wctx, docs)
	}
	if err != nil {
		if tx {
			return fmt.Errorf("log change: %w", err)
		}
		s.log.Warn("mongodb change log: write not logged; other nodes will not see it", "collection", coll, "oper", oper, "err", err)
		return nil
	}
	l.mu.Lock()
	p := l.poller
	l.mu.Unlock()
	if p == nil {
		if !tx {
			l.maybePrune(wctx)
		}
	} else if !tx {
		// This node's own write: read the log now, not at the next tick
		// (a quick read of the entries after the newest seen).
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// FollowChangeLog calls fn with every write to the collection coll
// recorded in the change log from now on (by any node, this one
// included), until ctx ends; it then returns nil. fn runs on the node's
// poller goroutine and must not block. It returns an error when the log is off, or when the log
// could not be read for longer than Retention minus Overlap (entries may
// have been pruned unseen).
func (s *Store) FollowChangeLog(ctx context.Context, coll string, fn func(Change)) error {
	l := s.clog
	if l == nil {
		return fmt.Errorf("follow %s: %w", coll, ErrNoChangeStreams)
	}
	h := &changeHandler{fn: fn}
	l.mu.Lock()
	l.handlers[coll] = append(l.handlers[coll], h)
	p := l.poller
	if p == nil {
		p = l.startPoller()
	}
	l.mu.Unlock()
	var err error
	select {
	case <-ctx.Done():
	case <-p.done:
		err = p.err
	}
	l.mu.Lock()
	hs := l.handlers[coll]
	for i, x := range hs {
		if x == h {
			hs = append(hs[:i:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(l.handlers, coll)
	} else {
		l.handlers[coll] = hs
	}
	last := len(l.handlers) == 0 && l.poller == p
	if l.poller == p && (last || err != nil) {
		l.poller = nil
	}
	l.mu.Unlock()
	if last {
		p.stop()
		<-p.done
	}
	return err
}

// dispatch calls the handlers of e's collection.
func (l *changeLog) dispatch(e changeEntry) {
	l.mu.Lock()
	hs := append([]*changeHandler(nil), l.handlers[e.Coll]...)
	l.mu.Unlock()
	if len(hs) == 0 {
		return
	}
	for _, id := range e.IDs {
		ch := Change{Oper: e.Oper, ID: oid.ID(id)}
		for _, h := range hs {
			h.fn(ch)
		}
	}
}

// maybePrune drops the buckets older than the retention, at most
// pruneBuckets of them, at most once per prune interval per node.
func (l *changeLog) maybePrune(ctx context.Context) {
	every := l.o.Retention / 20
	now := time.Now()
	last := l.lastPrune.Load()
	if now.UnixNano()-last < int64(every) || !l.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, err := l.prune(ctx, now.Add(-l.o.Retention), pruneBuckets); err != nil && ctx.Err() == nil {
		l.s.log.Warn("mongodb change log: prune", "err", err)
	}
}

// prune drops the buckets wholly before cut, oldest first, at most max
// of them (one listCollections, then one drop per bucket); it returns how
// many it dropped.
func (l *changeLog) prune(ctx context.Context, cut time.Time, max int) (int, error) {
	names, err := l.s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return 0, err
	}
	end := bucketOf(cut) // the bucket holding cut is kept
	var old []int64
	for _, n := range names {
		b, ok := strings.CutPrefix(n, ChangeLogCollection+"_")
		if !ok {
			continue
		}
		if sec, err := strconv.ParseInt(b, 10, 64); err == nil && sec < end {
			old = append(old, sec)
		}
	}
	slices.Sort(old)
	n := 0
	for _, b := range old[:min(len(old), max)] {
		if err := l.bucket(b).Drop(ctx); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// minObjectID is the smallest ObjectId of time t's second.
func minObjectID(t time.Time) bson.ObjectID {
	var id bson.ObjectID
	binary.BigEndian.PutUint32(id[:4], uint32(t.Unix()))
	return id
}

// fetchEntries reads at most limit entries with _id >= from (> from when
// !inclusive), in _id order, from the buckets of from's time to the one
// after now's (an entry of a writer whose clock is further ahead is read
// once this node's clock catches up).
func (l *changeLog) fetchEntries(ctx context.Context, from bson.ObjectID, inclusive bool, limit int) ([]changeEntry, error) {
	op := "$gt"
	if inclusive {
		op = "$gte"
	}
	w := int64(ChangeLogBucket / time.Second)
	last := bucketOf(time.Now()) + w
	var out []changeEntry
	for b := bucketOf(from.Timestamp()); b <= last && len(out) < limit; b += w {
		cur, err := l.bucket(b).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: op, Value: from}}}},
			options.Find().SetSort(bson.D{{Key: "_id", Value: int32(1)}}).SetLimit(int64(limit-len(out))))
		if err != nil {
			return nil, err
		}
		var es []changeEntry
		if err := cur.All(ctx, &es); err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}

// changePoller reads the log for one node.
type changePoller struct {
	l    *changeLog
	t    *tailer
	wake chan struct{} // cap 1: this node wrote an entry
	stop context.CancelFunc
	done chan struct{}
	err  error // why it ended (nil: stopped)
}

// startPoller starts the node's poller (l.mu held).
func (l *changeLog) startPoller() *changePoller {
	ctx, stop := context.WithCancel(context.Background())
	p := &changePoller{l: l, stop: stop, done: make(chan struct{}), wake: make(chan struct{}, 1),
		t: newTailer(l.fetchEntries, l.o.Overlap, l.o.Batch, time.Now())}
	l.poller = p
	go func() {
		defer close(p.done)
		p.err = p.run(ctx)
	}()
	return p
}

func (p *changePoller) run(ctx context.Context) error {
	l := p.l
	var failingSince time.Time
	tick := time.NewTicker(l.o.Poll)
	defer tick.Stop()
	full := true
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second+l.o.Poll)
		got, err := p.t.poll(pctx, full)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if failingSince.IsZero() {
				failingSince = time.Now()
				l.s.log.Warn("mongodb change log: read failed; retrying", "err", err)
			} else if time.Since(failingSince) > l.o.Retention-l.o.Overlap {
				return fmt.Errorf("change log unreadable since %s: %w", failingSince.Format(time.RFC3339), err)
			}
		} else if !failingSince.IsZero() {
			l.s.log.Info("mongodb change log: read again", "after", time.Since(failingSince).Round(time.Millisecond))
			failingSince = time.Time{}
		}
		for _, e := range got {
			l.dispatch(e)
		}
		l.maybePrune(ctx)
		if err == nil && p.t.behind() {
			full = false
			continue // carry on at once; every poll reads newer entries
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			full = true
		case <-p.wake:
			// Coalesce this node's writes of the next Poll/5 into one
			// read: at most 5 quick reads per tick.
			full = false
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(l.o.Poll / 5):
			}
		}
	}
}

// tailer is the overlap-and-dedupe reading of the log (pure logic over
// fetch, so that it can be tested with out-of-order entries).
type tailer struct {
	fetch   func(ctx context.Context, from bson.ObjectID, inclusive bool, limit int) ([]changeEntry, error)
	now     func() time.Time
	overlap time.Duration
	batch   int

	mu     sync.Mutex // guards seen (deliverLocal runs on writers)
	seen   map[bson.ObjectID]struct{}
	floor  bson.ObjectID  // entries below were written before the start
	since  time.Time      // each poll rereads from here
	maxID  bson.ObjectID  // greatest entry _id seen
	cursor *bson.ObjectID // where a poll cut short carries on
}

// newTailer returns a tailer starting at now: entries whose _id time is
// before the second preceding now's are skipped (remembered, never
// delivered), so a follower may receive writes made up to 2 s before it
// started but none made after is missed.
func newTailer(fetch func(context.Context, bson.ObjectID, bool, int) ([]changeEntry, error), overlap time.Duration, batch int, now time.Time) *tailer {
	return &tailer{fetch: fetch, now: time.Now, overlap: overlap, batch: batch, seen: map[bson.ObjectID]struct{}{},
		since: now.Add(-overlap), floor: minObjectID(now.Add(-time.Second))}
}

// markSeen records id as delivered; it reports whether it was new.
func (t *tailer) markSeen(id bson.ObjectID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.seen[id]; ok {
		return false
	}
	t.seen[id] = struct{}{}
	return true
}

// behind reports whether the last poll stopped before the newest entry.
func (t *tailer) behind() bool { return t.cursor != nil }

// poll returns the entries not delivered yet, in _id order, reading at
// most pollRounds batches: a full poll rereads the overlap (from since),
// a quick one only the entries after the greatest _id seen. Only the
// poller's goroutine calls it.
func (t *tailer) poll(ctx context.Context, full bool) ([]changeEntry, error) {
	start := t.now()
	from, inclusive := minObjectID(t.since), true
	switch {
	case t.cursor != nil:
		from, inclusive = *t.cursor, false
	case !full && !t.maxID.IsZero():
		from, inclusive = t.maxID, false
	}
	var out []changeEntry
	for range pollRounds {
		es, err := t.fetch(ctx, from, inclusive, t.batch)
		if err != nil {
			return out, err
		}
		for _, e := range es {
			if bytes.Compare(e.ID[:], t.maxID[:]) > 0 {
				t.maxID = e.ID
			}
			if t.markSeen(e.ID) && bytes.Compare(e.ID[:], t.floor[:]) >= 0 {
				out = append(out, e)
			}
		}
		if len(es) < t.batch {
			t.cursor = nil
			break
		}
		last := es[len(es)-1].ID
		from, inclusive, t.cursor = last, false, &last
	}
	// Trail the poll's start by the overlap: an entry visible by then
	// and with an _id time within the overlap is read again next time.
	if s := start.Add(-t.overlap); s.After(t.since) {
		t.since = s
	}
	// Forget the entries no poll reads again.
	cut := t.since.Unix()
	t.mu.Lock()
	for id := range t.seen {
		if id.Timestamp().Unix() < cut {
			delete(t.seen, id)
		}
	}
	t.mu.Unlock()
	return out, nil
}
