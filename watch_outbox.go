package limp

import (
	"encoding/json"
	"sync"

	"github.com/limp-go/limp/internal/oid"
)

// watchOutbox numbers a watch's events (args.seq), sends them while the
// watch is attached to a connection and keeps the last ones for a resume
// (watch_resume.go): at most Config.WatchRetainEvents events and about
// Config.WatchRetainBytes bytes of documents.
type watchOutbox struct {
	mu       sync.Mutex
	state    outboxState
	seq      uint64 // the last event's seq
	sent     uint64 // the last seq handed to a connection
	from     uint64 // attaching: replay the events after it
	buf      []retainedEvent
	bufBytes int
	dropped  uint64 // every event up to it left the buffer
}

type outboxState uint8

const (
	outboxLive      outboxState = iota // events are sent as they come
	outboxRetained                     // no connection: events are kept only
	outboxAttaching                    // resumed, waiting for the created reply
)

type retainedEvent struct {
	seq  uint64
	oper string
	doc  any // a document, or its encoding (json.RawMessage)
	size int
}

// emit numbers one event, keeps it and sends it when the watch is live.
// It fails (ending the watch) when a retained watch must drop an event
// its client never got, and with errSessionMoved (the event is neither
// numbered nor kept) when the connection's session is no longer the one
// the event was shaped for (watch_session.go).
func (o *watchOutbox) emit(t *watchTask, oper string, doc any) error {
	a := t.a
	o.mu.Lock()
	defer o.mu.Unlock()
	e := retainedEvent{seq: o.seq + 1, oper: oper, doc: doc, size: approxSize(doc)}
	if o.state == outboxLive && !o.send(t, e, true) {
		return errSessionMoved
	}
	o.seq++
	o.buf = append(o.buf, e)
	o.bufBytes += e.size
	for len(o.buf) > 1 && (len(o.buf) > a.cfg.WatchRetainEvents || o.bufBytes > a.cfg.WatchRetainBytes) {
		old := o.buf[0]
		o.buf[0] = retainedEvent{}
		o.buf = o.buf[1:]
		o.bufBytes -= old.size
		o.dropped = old.seq
		if o.state != outboxLive && old.seq > o.sent {
			return errWatchOverflow
		}
	}
	return nil
}

// send hands e to the watch's connection; with check, only while the
// connection's session is the one the watch last checked (false
// otherwise); o.mu is held.
func (o *watchOutbox) send(t *watchTask, e retainedEvent, check bool) bool {
	t.mu.Lock()
	c, callID, sess := t.c, t.callID, t.sess
	t.mu.Unlock()
	var ok func() bool
	if check {
		ok = func() bool { return t.a.sessionHolds(c, sess) }
	}
	if !c.replyIf(200, "Detected 1 docs.", M{"count": int64(1), "oper": e.oper, "docs": []any{e.doc}, "watch": callID, "seq": int64(e.seq)}, callID, ok) {
		return false
	}
	o.sent = e.seq
	return true
}

// detach stops sending: the connection is gone.
func (o *watchOutbox) detach() {
	o.mu.Lock()
	o.state = outboxRetained
	o.mu.Unlock()
}

// live reports whether events are sent.
func (o *watchOutbox) live() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state == outboxLive
}

// resuming checks that the events after seq are all kept and holds them
// until attach; false when seq is not one of the watch's or is gone.
func (o *watchOutbox) resuming(seq uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != outboxRetained || seq > o.seq || seq < o.dropped {
		return false
	}
	o.state, o.from = outboxAttaching, seq
	return true
}

// attach sends the kept events after the resume's seq, then goes live;
// it reports false when the watch was not resuming.
func (o *watchOutbox) attach(t *watchTask) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != outboxAttaching {
		return false
	}
	for _, e := range o.buf {
		if e.seq > o.from {
			// Resumed by the same session (watch_resume.go): the
			// kept events were shaped for it.
			o.send(t, e, false)
		}
	}
	o.state = outboxLive
	return true
}

// approxSize estimates the bytes a document takes (its JSON size, about).
func approxSize(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := 2
		for k, e := range x {
			n += len(k) + 4 + approxSize(e)
		}
		return n
	case []any:
		n := 2
		for _, e := range x {
			n += 1 + approxSize(e)
		}
		return n
	case string:
		return len(x) + 2
	case json.RawMessage:
		return len(x)
	case oid.ID:
		return 26
	}
	return 8
}
