package limp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// outbox is a connection's outbound queue: replies are encoded by the
// calls and written, in order, by one writer goroutine. The bytes queued
// (the message being written included) are bounded by
// Config.MaxQueuedBytes: a reply that does not fit waits for room, so the
// call that produced it holds its slot (CallsInFlight) and the reader
// starts no more once all are held (back-pressure). Replies waiting for
// room may add up to MaxQueuedBytes more; one past that closes the
// connection (status 1008), so a connection holds at most twice
// MaxQueuedBytes of replies (or one larger reply alone). Every write to
// the socket has a deadline (progressConn): a client that takes no bytes
// for Config.WriteTimeout is not reading; its connection is closed with
// status 1008 and its queue, waiting replies and calls are dropped.
type outbox struct {
	mu      sync.Mutex
	queue   []*[]byte
	bytes   int64         // queued bytes, the message being written included
	waiting int64         // bytes of the replies waiting for room
	room    chan struct{} // closed (and replaced) when bytes shrink or stopped is set
	stopped bool          // no more replies: write failure or closed
	closing bool          // the writer exits once the queue is written

	wake chan struct{} // cap 1: the queue or closing changed
	done chan struct{} // closed when the writer has exited
}

// reasonNotReading and reasonQueueFull are the close reasons of a client
// that does not read its replies.
const (
	reasonNotReading = "replies are not read: write timed out"
	reasonQueueFull  = "replies are not read: outbound queue full"
)

// startWriter starts the connection's writer goroutine; serve waits for
// it with stopWriter.
func (c *conn) startWriter() {
	c.out.wake = make(chan struct{}, 1)
	c.out.done = make(chan struct{})
	c.out.room = make(chan struct{})
	go c.writeLoop()
}

// send queues one encoded reply (owned by the outbox from now on). While
// the queue is full it waits for room; it returns at once once the
// connection is closing for good (the reply is dropped).
func (c *conn) send(bp *[]byte) { c.sendIf(bp, nil) }

// sendIf is send, but the reply is queued only when ok (nil: always)
// holds once it has room, checked under the queue's lock: replies queued
// after it are ordered after that check. It reports whether the reply
// was queued (or dropped with the closing connection) rather than refused.
func (c *conn) sendIf(bp *[]byte, ok func() bool) bool {
	o := &c.out
	n := int64(len(*bp))
	limit := c.app.cfg.MaxQueuedBytes
	o.mu.Lock()
	if !o.stopped && o.bytes > 0 && o.bytes+o.waiting+n > 2*limit {
		// Far behind: the queue is full and the replies waiting for
		// room would pass the bound again.
		held := o.bytes + o.waiting
		o.dropLocked()
		o.mu.Unlock()
		putReplyBuf(bp)
		c.app.Logger().Warn("closing a websocket that does not read its replies",
			"ip", c.ip, "held_bytes", held, "reply_bytes", n, "max_queued_bytes", limit)
		c.closeWith(websocket.StatusPolicyViolation, reasonQueueFull)
		c.callCancel()
		return true
	}
	o.waiting += n
	for !o.stopped && o.bytes > 0 && o.bytes+n > limit {
		room := o.room
		o.mu.Unlock()
		select {
		case <-room:
		case <-c.hard.Done():
		}
		o.mu.Lock()
		if c.hard.Err() != nil {
			o.dropLocked()
		}
	}
	o.waiting -= n
	if o.stopped {
		o.mu.Unlock()
		putReplyBuf(bp)
		return true
	}
	if ok != nil && !ok() {
		o.mu.Unlock()
		putReplyBuf(bp)
		return false
	}
	o.queue = append(o.queue, bp)
	o.bytes += n
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return true
}

// dropLocked stops the outbox, releases its queue and wakes the replies
// waiting for room; o.mu is held.
func (o *outbox) dropLocked() {
	if !o.stopped {
		o.stopped = true
		close(o.room)
	}
	for i, bp := range o.queue {
		putReplyBuf(bp)
		o.queue[i] = nil
	}
	o.queue = nil
}

// stopWriter makes the writer write what is queued and exit, and waits
// for it. Every write has its deadline, and a forced shutdown (hard)
// aborts the write in progress, so this wait is bounded.
func (c *conn) stopWriter() {
	o := &c.out
	o.mu.Lock()
	o.closing = true
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	<-o.done
	o.mu.Lock()
	o.dropLocked()
	o.mu.Unlock()
}

// writeLoop writes queued replies in order until stopWriter or a failed
// write.
func (c *conn) writeLoop() {
	o := &c.out
	defer close(o.done)
	pc, _ := c.nc.(*progressConn)
	corked := false
	for {
		o.mu.Lock()
		if o.stopped || len(o.queue) == 0 {
			exit := o.stopped || o.closing
			o.mu.Unlock()
			if pc != nil && corked {
				corked = false
				if err := pc.setCork(false); err != nil {
					o.mu.Lock()
					o.dropLocked()
					o.mu.Unlock()
					c.writeFailed(0)
					return
				}
			}
			if exit {
				return
			}
			<-o.wake
			continue
		}
		bp := o.queue[0]
		o.queue[0] = nil
		o.queue = o.queue[1:]
		more := len(o.queue) > 0
		o.mu.Unlock()

		n := int64(len(*bp))
		if pc != nil && more != corked {
			// Several replies queued: one write for all (wscork.go).
			corked = more
			_ = pc.setCork(more)
		}
		// A forced shutdown closes the socket (abort), which ends a
		// write in progress: no cancelable context (its watch costs
		// allocations on every write).
		err := c.ws.Write(context.Background(), websocket.MessageText, *bp)
		if err == nil && corked && !more {
			corked = false
			err = pc.setCork(false)
		}
		putReplyBuf(bp)

		o.mu.Lock()
		o.bytes -= n
		if err != nil {
			o.dropLocked()
		} else if !o.stopped { // a stopped outbox's room is closed for good
			close(o.room)
			o.room = make(chan struct{})
		}
		o.mu.Unlock()
		if err != nil {
			c.writeFailed(n)
			return
		}
	}
}

// writeFailed ends the connection's replies after a failed write of n
// bytes.
func (c *conn) writeFailed(n int64) {
	if pc, ok := c.nc.(*progressConn); ok && pc.timedOut.Load() {
		c.app.Logger().Warn("closing a websocket that does not read its replies",
			"ip", c.ip, "reply_bytes", n, "write_timeout", c.app.cfg.WriteTimeout)
		c.closeWith(websocket.StatusPolicyViolation, reasonNotReading)
	}
	// Closed or stuck: the calls' replies can no longer be
	// sent, so the calls are canceled; the serve loop notices
	// the closed connection through the reader.
	c.callCancel()
	c.cancel()
}

// putReplyBuf recycles a reply buffer that is not too large.
func putReplyBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		*bp = (*bp)[:0]
		bufPool.Put(bp)
	}
}

// progressChunk is the most written to a websocket's socket under one
// deadline.
const progressChunk = 64 << 10

// progressConn is the socket under a websocket. Every write to it has a
// deadline relative to progress: each chunk of at most progressChunk
// bytes must be taken within WriteTimeout, so a client reading slowly but
// steadily keeps its connection and one that stopped reading loses it.
type progressConn struct {
	net.Conn
	timeout  time.Duration
	timedOut atomic.Bool
	cork     cork // wscork.go
}

func (p *progressConn) Write(b []byte) (int, error) {
	p.cork.mu.Lock()
	defer p.cork.mu.Unlock()
	if p.cork.corked && len(p.cork.pend)+len(b) <= corkMax {
		p.cork.pend = append(p.cork.pend, b...)
		return len(b), nil
	}
	if err := p.flushLocked(); err != nil {
		return 0, err
	}
	return p.writeTimed(b)
}

// writeTimed writes b in chunks, each under its deadline.
func (p *progressConn) writeTimed(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		end := min(len(b), n+progressChunk)
		_ = p.Conn.SetWriteDeadline(time.Now().Add(p.timeout))
		m, err := p.Conn.Write(b[n:end])
		n += m
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				p.timedOut.Store(true)
			}
			return n, err
		}
	}
	return n, nil
}

// hijackConn hands coder/websocket the hijacked connection wrapped in a
// progressConn, and keeps it so that the App can close it at once:
// coder/websocket's Close waits seconds for a close handshake, and
// CloseNow does nothing once a Close is under way.
type hijackConn struct {
	http.ResponseWriter
	timeout time.Duration
	nc      net.Conn
}

func (h *hijackConn) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Nothing set on the request (a server ReadTimeout) carries over.
	_ = nc.SetDeadline(time.Time{})
	pc := &progressConn{Conn: nc, timeout: h.timeout}
	// coder/websocket writes through brw.Writer: make it write to pc.
	if err := brw.Writer.Flush(); err != nil {
		_ = nc.Close()
		return nil, nil, err
	}
	brw.Writer.Reset(pc)
	h.nc = pc
	return pc, brw, nil
}

// closeBounded closes the websocket with status and reason, giving the
// close handshake at most WriteTimeout before the connection is dropped.
func (c *conn) closeBounded(status websocket.StatusCode, reason string) {
	if c.nc != nil {
		t := time.AfterFunc(c.app.cfg.WriteTimeout, func() { _ = c.nc.Close() })
		defer t.Stop()
	}
	_ = c.ws.Close(status, reason)
}
