package limp

import "sync"

// Corking: when the outbox holds several replies, the writer writes them
// into one buffer and sends it with one write to the socket, instead of
// one write (and one system call) per reply: coder/websocket flushes
// every message. Nothing waits to fill a batch — only replies already
// queued join it — so a lone reply goes out as before. In the
// 2026-11-29 profile of pipelined heart/beat calls the per-reply write
// system call was the largest single cost (BENCHMARKS.md).

// corkMax is the most a cork buffers before it writes through.
const corkMax = 64 << 10

// cork holds what progressConn is asked to write while corked. Every
// write to the connection goes through it (coder/websocket serializes
// its frames; the writer's flush may come from another goroutine than a
// control frame's write, hence the mutex).
type cork struct {
	mu     sync.Mutex
	corked bool
	pend   []byte
}

// setCork corks (on) or uncorks the connection; uncorking writes what is
// pending.
func (p *progressConn) setCork(on bool) error {
	p.cork.mu.Lock()
	defer p.cork.mu.Unlock()
	p.cork.corked = on
	if on {
		return nil
	}
	return p.flushLocked()
}

// flushLocked writes what is pending (under cork.mu).
func (p *progressConn) flushLocked() error {
	if len(p.cork.pend) == 0 {
		return nil
	}
	_, err := p.writeTimed(p.cork.pend)
	if cap(p.cork.pend) > corkMax {
		p.cork.pend = nil
	} else {
		p.cork.pend = p.cork.pend[:0]
	}
	return err
}
