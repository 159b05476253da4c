package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// ErrWatchEnded is returned (wrapped) by [Watch.Next] once the watch has
// ended: stopped, overflowed, or the server did not open a stream.
var ErrWatchEnded = errors.New("client: watch ended")

// WatchBuffer is the number of undelivered events a [Watch] holds; when a
// slow consumer lets more pile up, the watch ends with an error wrapping
// [ErrWatchOverflow] and [ErrWatchEnded] (the reader goroutine never
// blocks on a consumer), and the Client asks the server to end it too
// (watch/delete), as the TypeScript client does.
const WatchBuffer = 1024

// ErrWatchOverflow is returned (wrapped, with [ErrWatchEnded]) by
// [Watch.Next], after the events the watch holds, when its consumer fell
// more than [WatchBuffer] events behind: the watch was ended here and on
// the server (watch/delete). Watch again for a fresh view.
var ErrWatchOverflow = errors.New("client: watch overflowed")

// Watch is a live query stream (spec §6.12): the responses the server
// sends, after "Created watch task.", for a call to a watch method. Every
// event carries args.watch and the call's call_id. Next and Stop are safe
// for concurrent use.
//
// Resume (with [Options.Reconnect]): a limp-go server numbers each event
// (args.seq) and gives the watch a resume token (args.resume of Created).
// After a reconnect the Client calls the watch method again with
// {"$resume": {"watch": token, "seq": last seq received}} added to the
// query: the events missed meanwhile arrive, then live ones, with no gap
// and no duplicate (events carry the new call's id in args.watch and
// call_id). When the server could not resume (past its retention window),
// Next returns its new "Created watch task." response instead, with
// args.resumed false, args.snapshot true and the documents matching now in
// args.docs: replace the view built from earlier events with them.
type Watch struct {
	// ID is the watch id (args.watch, equal to the call id) of the first
	// call; [Watch.CallID] is the current one.
	ID string
	// Created is the server's first response ("Created watch task.").
	Created *Response

	c        *Client
	endpoint string
	steps    []any // the query as JSON steps (nil: not a list)
	doc      any

	mu       sync.Mutex
	queue    []*Response
	err      error         // set when the watch ends
	notify   chan struct{} // signalled on push and end; cap 1
	callID   string        // the current call's id
	token    string        // args.resume
	seq      uint64        // the last args.seq delivered
	resuming string        // the call id of a resume not answered yet
	// serverEnded: the server ended the watch with an error reply.
	serverEnded bool
	// overflowed: the buffer overflowed; watch/delete was sent (or is
	// about to be).
	overflowed bool
	cancelSent bool // cancelOverflowed ran
}

// Watch calls a watch method (for example "blog/watch") and returns the
// stream once the server has acknowledged it. A non-200 first response is
// returned as an [*Error]. Stop the watch with [Watch.Stop]; it also ends
// when the connection closes.
func (c *Client) Watch(ctx context.Context, endpoint string, query, doc any) (*Watch, error) {
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("watch %s: %w", endpoint, err)
	}
	id := c.newCallIDLocked()
	key, sid := c.key, c.sid
	w := &Watch{ID: id, c: c, notify: make(chan struct{}, 1), callID: id, endpoint: endpoint, steps: listSteps(query), doc: doc}
	c.watches[id] = w
	c.mu.Unlock()

	frame, err := c.sign(id, endpoint, sid, key, query, doc)
	if err == nil {
		err = c.write(ctx, endpoint, frame)
	}
	if err == nil {
		var first *Response
		first, err = w.Next(ctx)
		if err == nil {
			w.Created = first
			if _, ok := first.Args["watch"]; ok {
				w.mu.Lock()
				w.token, _ = first.Args["resume"].(string)
				w.mu.Unlock()
				return w, nil
			}
			err = fmt.Errorf("watch %s: %w: response has no args.watch", endpoint, ErrWatchEnded)
		}
	}
	c.forgetWatch(w)
	w.end(fmt.Errorf("%w: not opened", ErrWatchEnded))
	return nil, err
}

// Next returns the next event. An event with a status other than 200 is
// returned with an [*Error]: the server ended the watch with it (overflow,
// revoked permissions, an on-watch hook's error), so the following Next
// returns an error wrapping [ErrWatchEnded]. After the watch ends,
// Next returns the queued events and then an error wrapping [ErrWatchEnded]
// or [ErrClosed].
func (w *Watch) Next(ctx context.Context) (*Response, error) {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			r := w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			w.mu.Unlock()
			if r.Status != 200 {
				return r, r.asError()
			}
			return r, nil
		}
		err := w.err
		w.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.notify:
		}
	}
}

// Stop ends the watch locally and asks the server to cancel it with
// watch/delete (query [{"watch": ID}]), unless the server ended it
// already (an error reply). Events arriving afterwards go to
// [Options.OnMessage].
func (w *Watch) Stop(ctx context.Context) error {
	w.c.forgetWatch(w)
	w.end(fmt.Errorf("%w: stopped", ErrWatchEnded))
	w.mu.Lock()
	gone := w.serverEnded || w.overflowed
	w.mu.Unlock()
	if gone {
		return nil // the server ended it, or was asked to: nothing to cancel
	}
	if _, err := w.c.Call(ctx, "watch/delete", []any{map[string]any{"watch": w.CallID()}}, nil); err != nil {
		return fmt.Errorf("stop watch: %w", err)
	}
	return nil
}

// CallID returns the id of the watch's current call: [Watch.ID] until a
// reconnect resumed the watch with a new call.
func (w *Watch) CallID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.callID
}

// Seq returns args.seq of the last event delivered (0 before any, and
// after a snapshot).
func (w *Watch) Seq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

func (c *Client) forgetWatch(w *Watch) {
	c.mu.Lock()
	for id, x := range c.watches {
		if x == w {
			delete(c.watches, id)
		}
	}
	c.mu.Unlock()
}

// push queues an event; it reports false when the watch is over (ended
// before, or overflowing now) and should be forgotten. It swallows the
// created reply of a successful resume and events already delivered.
func (w *Watch) push(r *Response) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return false
	}
	if w.resuming != "" && r.CallID() == w.resuming {
		w.resuming = ""
		if r.Status != 200 {
			w.queue = append(w.queue, r)
			w.err = fmt.Errorf("%w: resume refused: %w", ErrWatchEnded, r.asError())
			w.signal()
			return false
		}
		if tok, ok := r.Args["resume"].(string); ok {
			w.token = tok
		}
		if resumed, _ := r.Args["resumed"].(bool); resumed {
			return true
		}
		w.seq = 0 // a fresh watch: its snapshot is delivered
	} else if n, ok := argSeq(r); ok {
		if n <= w.seq {
			return true // delivered before the reconnect
		}
		w.seq = n
	}
	if r.Status != 200 {
		// A limp-go server ends a watch with its error reply (overflow,
		// lost changes, permissions, an on-watch hook's error) and sends
		// nothing more on it: Next returns the error, then ErrWatchEnded.
		w.queue = append(w.queue, r)
		w.err = fmt.Errorf("%w: ended by the server: %w", ErrWatchEnded, r.asError())
		w.serverEnded = true
		w.signal()
		return false
	}
	if len(w.queue) >= WatchBuffer {
		w.err = fmt.Errorf("%w: %w: more than %d undelivered events", ErrWatchEnded, ErrWatchOverflow, WatchBuffer)
		w.overflowed = true
		w.signal()
		return false
	}
	w.queue = append(w.queue, r)
	w.signal()
	return true
}

func (w *Watch) end(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.signal()
	w.mu.Unlock()
}

func (w *Watch) signal() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// argSeq reads args.seq.
func argSeq(r *Response) (uint64, bool) {
	n, ok := r.Args["seq"].(json.Number)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	return v, err == nil
}

// cancelOverflowed asks the server to end w, whose buffer overflowed
// (watch/delete), on a goroutine of the Client's (called by the reader,
// which must not wait for the reply).
func (c *Client) cancelOverflowed(w *Watch) {
	w.mu.Lock()
	over, id := w.overflowed && !w.cancelSent, w.callID
	w.cancelSent = w.cancelSent || over
	w.mu.Unlock()
	if !over {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.bgCtx, 30*time.Second)
		defer cancel()
		if _, err := c.Call(ctx, "watch/delete", []any{map[string]any{"watch": id}}, nil); err != nil && c.bgCtx.Err() == nil {
			c.log.Warn("limp client: ending an overflowed watch on the server", "watch", id, "err", err)
		}
	}()
}
