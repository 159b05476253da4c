package limp

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// outbox is a connection's outbound queue: replies are encoded by the
// calls and written, in order, by one writer goroutine, each write under
// a deadline (Config.WriteTimeout plus its length at Config.MinDataRate).
// The bytes queued (the one being written included) are bounded by
// Config.MaxQueuedBytes: a reply that would go past the bound means the
// client is not reading its replies, and the connection is closed with
// status 1008 and its queue dropped. One reply larger than the bound is
// accepted when nothing else is queued.
type outbox struct {
	mu      sync.Mutex
	queue   []*[]byte
	bytes   int64 // queued bytes, the message being written included
	stopped bool  // no more replies: overflow, write failure or closed
	closing bool  // the writer exits once the queue is written

	wake chan struct{} // cap 1: the queue or closing changed
	done chan struct{} // closed when the writer has exited
}

// reasonOutboxFull and reasonWriteTimeout are the close reasons of a client that
// does not read its replies.
const (
	reasonOutboxFull   = "replies are not read: outbound queue full"
	reasonWriteTimeout = "replies are not read: write timed out"
)

// startWriter starts the connection's writer goroutine; serve waits for
// it with stopWriter.
func (c *conn) startWriter() {
	c.out.wake = make(chan struct{}, 1)
	c.out.done = make(chan struct{})
	go c.writeLoop()
}

// send queues one encoded reply (owned by the outbox from now on). It
// never blocks: a full queue closes the connection.
func (c *conn) send(bp *[]byte) {
	o := &c.out
	n := int64(len(*bp))
	o.mu.Lock()
	if o.stopped {
		o.mu.Unlock()
		putReplyBuf(bp)
		return
	}
	if o.bytes > 0 && o.bytes+n > c.app.cfg.MaxQueuedBytes {
		queued := o.bytes
		o.dropLocked()
		o.mu.Unlock()
		putReplyBuf(bp)
		c.app.Logger().Warn("closing a websocket that does not read its replies",
			"ip", c.ip, "queued_bytes", queued, "reply_bytes", n, "limit", c.app.cfg.MaxQueuedBytes)
		c.overflow(reasonOutboxFull)
		return
	}
	o.queue = append(o.queue, bp)
	o.bytes += n
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// dropLocked stops the outbox and releases its queue; o.mu is held.
func (o *outbox) dropLocked() {
	o.stopped = true
	for i, bp := range o.queue {
		putReplyBuf(bp)
		o.queue[i] = nil
	}
	o.queue = nil
}

// overflow closes a connection whose client does not read: its calls are
// canceled and it is closed with 1008 (policy violation).
func (c *conn) overflow(reason string) {
	c.closeWith(websocket.StatusPolicyViolation, reason)
	c.callCancel()
}

// stopWriter makes the writer write what is queued and exit, and waits
// for it. Each write has its deadline, and a forced shutdown (hard)
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

// writeLoop writes queued replies in order until stopWriter, an overflow
// or a failed write.
func (c *conn) writeLoop() {
	o := &c.out
	defer close(o.done)
	cfg := &c.app.cfg
	for {
		o.mu.Lock()
		if o.stopped || len(o.queue) == 0 {
			exit := o.stopped || o.closing
			o.mu.Unlock()
			if exit {
				return
			}
			<-o.wake
			continue
		}
		bp := o.queue[0]
		o.queue[0] = nil
		o.queue = o.queue[1:]
		o.mu.Unlock()

		n := int64(len(*bp))
		timeout := cfg.WriteTimeout + time.Duration(n)*time.Second/time.Duration(cfg.MinDataRate)
		ctx, cancel := context.WithTimeout(c.hard, timeout)
		err := c.ws.Write(ctx, websocket.MessageText, *bp)
		timedOut := ctx.Err() == context.DeadlineExceeded
		cancel()
		putReplyBuf(bp)

		o.mu.Lock()
		o.bytes -= n
		if err != nil {
			o.dropLocked()
		}
		o.mu.Unlock()
		if err != nil {
			if timedOut {
				c.app.Logger().Warn("closing a websocket that does not read its replies",
					"ip", c.ip, "reply_bytes", n, "timeout", timeout)
				c.overflow(reasonWriteTimeout)
			} else {
				// Closed under us (client gone, forced shutdown): the
				// serve loop notices through the reader.
				c.callCancel()
				c.cancel()
			}
			return
		}
	}
}

// putReplyBuf recycles a reply buffer that is not too large.
func putReplyBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		*bp = (*bp)[:0]
		bufPool.Put(bp)
	}
}
