package client

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/coder/websocket"
)

// Reconnect configures the automatic reconnect of [Options.Reconnect].
//
// When the connection is lost (not closed by [Client.Close]), calls
// pending on it fail with an error wrapping [ErrClosed], and so do calls
// made while the Client reconnects; open [Watch]es stay open. The Client
// redials the same URL with exponential backoff (with jitter) and, once
// greeted: verifies the connection (Options.AppID), signs in again with
// session/reauth when the connection had a session (its token cached by
// the Client); then calls go out again, and every open Watch resumes with
// a $resume step (the server's issue 14 resume; see [Watch]).
type Reconnect struct {
	// MinDelay is the wait before the first redial; it doubles after each
	// failed one, up to MaxDelay. Defaults 100 ms and 10 s.
	MinDelay, MaxDelay time.Duration
	// MaxAttempts is the number of redials in a row that may fail before
	// the Client gives up and closes (Done, Err). 0 means no limit: until
	// Close.
	MaxAttempts int
	// DialTimeout bounds one redial with its greeting. Default 10 s.
	DialTimeout time.Duration
}

// reconnect redials after a lost connection; it returns nil when the
// Client must close instead (no Reconnect, Close called, attempts spent).
func (c *Client) reconnect(cause error) *websocket.Conn {
	r := c.opts.Reconnect
	if r == nil {
		return nil
	}
	c.mu.Lock()
	if c.closing || c.closed {
		c.mu.Unlock()
		return nil
	}
	c.down = cause
	pending := c.pending
	c.pending = make(map[string]chan result)
	c.mu.Unlock()
	for _, ch := range pending {
		ch <- result{err: cause}
	}
	minD, maxD, dialT := r.MinDelay, r.MaxDelay, r.DialTimeout
	if minD <= 0 {
		minD = 100 * time.Millisecond
	}
	if maxD < minD {
		maxD = max(10*time.Second, minD)
	}
	if dialT <= 0 {
		dialT = 10 * time.Second
	}
	c.mu.Lock()
	delay := minD << min(c.failures, 16)
	c.mu.Unlock()
	for attempt := 1; r.MaxAttempts <= 0 || attempt <= r.MaxAttempts; attempt++ {
		delay = min(delay, maxD)
		wait := delay/2 + rand.N(delay/2+1) // jitter: [delay/2, delay]
		t := time.NewTimer(wait)
		select {
		case <-c.bgCtx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.bgCtx, dialT)
		ws, resp, err := websocket.Dial(ctx, c.url, &c.dopts)
		cancel()
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err == nil {
			ws.SetReadLimit(c.opts.ReadLimit)
			c.mu.Lock()
			if c.closing {
				c.mu.Unlock()
				_ = ws.CloseNow()
				return nil
			}
			c.ws = ws
			c.failures++ // reset once restored
			c.mu.Unlock()
			c.log.Debug("limp client: reconnected", "attempt", attempt)
			return ws
		}
		c.log.Debug("limp client: redial failed", "attempt", attempt, "err", err)
		delay *= 2
	}
	return nil
}

// restore runs, on its own goroutine, what a reconnected websocket needs
// before the app's calls go out again: conn/verify, session/reauth, the
// watches' resume. A failure closes the websocket (another reconnect).
func (c *Client) restore(ws *websocket.Conn) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.bgCtx, 30*time.Second)
		defer cancel()
		if err := c.restoreConn(ctx, ws); err != nil {
			if c.bgCtx.Err() == nil {
				c.log.Warn("limp client: restoring the connection failed; reconnecting", "err", err)
			}
			_ = ws.CloseNow()
			return
		}
		c.mu.Lock()
		if c.ws == ws {
			c.failures = 0
		}
		c.mu.Unlock()
	}()
}

// restoreConn verifies and reauthenticates ws, opens it to the app's
// calls, then resumes the watches: the calls need only the session, and
// an event a resumed watch delivers must never find the Client still
// refusing calls (a caller reacting to it would fail with "reconnecting").
// A write the app makes before a watch's resume frame is no loss: the
// resume returns every event after the watch's last seq.
func (c *Client) restoreConn(ctx context.Context, ws *websocket.Conn) error {
	c.mu.Lock()
	sess := c.session
	// The new connection is anonymous until reauth.
	c.key, c.sid, c.session = c.anonToken, AnonSessionID, nil
	watches := make([]*Watch, 0, len(c.watches))
	seen := map[*Watch]bool{}
	for _, w := range c.watches {
		if !seen[w] {
			seen[w] = true
			watches = append(watches, w)
		}
	}
	c.mu.Unlock()
	if c.opts.AppID != "" {
		if _, err := c.call(ctx, "conn/verify", nil, map[string]any{"app": c.opts.AppID}, true); err != nil {
			return err
		}
	}
	if sess != nil {
		q := []any{map[string]any{"_id": sess.ID, "hash": ReauthHash(sess.Token)}}
		if len(sess.Groups) > 0 {
			q = append(q, map[string]any{"groups": sess.Groups})
		}
		if _, err := c.call(ctx, "session/reauth", q, nil, true); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				return err
			}
			// Refused (expired, revoked): the connection stays anonymous;
			// watches resume as what it may read.
			c.log.Warn("limp client: session/reauth after reconnect refused", "err", err)
		}
	}
	c.mu.Lock()
	if c.ws == ws {
		c.down = nil
	}
	c.mu.Unlock()
	for _, w := range watches {
		if err := c.resumeWatch(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// resumeWatch calls w's watch method again with a $resume step; its
// replies reach w through push.
func (c *Client) resumeWatch(ctx context.Context, w *Watch) error {
	w.mu.Lock()
	token, seq, old, steps, ended := w.token, w.seq, w.callID, w.steps, w.err != nil
	w.mu.Unlock()
	if ended {
		return nil
	}
	if token == "" || steps == nil {
		// The server gave no resume token (or the query is not a list):
		// the watch cannot be resumed.
		c.forgetWatch(w)
		w.end(errors.Join(ErrWatchEnded, errors.New("not resumable after a reconnect")))
		return nil
	}
	q := append(append([]any{}, steps...), map[string]any{"$resume": map[string]any{"watch": token, "seq": seq}})
	c.mu.Lock()
	id := c.newCallIDLocked()
	key, sid := c.key, c.sid
	if c.watches[old] == w {
		delete(c.watches, old)
	}
	c.watches[id] = w
	c.mu.Unlock()
	w.mu.Lock()
	w.callID, w.resuming = id, id
	w.mu.Unlock()
	frame, err := c.sign(id, w.endpoint, sid, key, q, w.doc)
	if err == nil {
		err = c.write(ctx, w.endpoint, frame)
	}
	return err
}

// listSteps returns query as a list of JSON steps, or nil when it is not
// a list (a legacy object query cannot take a $resume step).
func listSteps(query any) []any {
	if isNil(query) {
		return []any{}
	}
	b, err := json.Marshal(query)
	if err != nil {
		return nil
	}
	var l []any
	if json.Unmarshal(b, &l) != nil {
		return nil
	}
	if l == nil {
		l = []any{}
	}
	return l
}
