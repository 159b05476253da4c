package limp

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// recConn records each write to the socket.
type recConn struct {
	net.Conn
	writes [][]byte
	fail   bool
}

func (r *recConn) Write(b []byte) (int, error) {
	if r.fail {
		return 0, errors.New("broken pipe")
	}
	r.writes = append(r.writes, bytes.Clone(b))
	return len(b), nil
}
func (r *recConn) SetWriteDeadline(time.Time) error { return nil }

// TestCork: corked writes reach the socket as one write, in order, when
// uncorked; past corkMax they write through (still in order); uncorked,
// each write goes out at once; a failed flush reports its error.
func TestCork(t *testing.T) {
	rc := &recConn{}
	p := &progressConn{Conn: rc, timeout: time.Second}
	if _, err := p.Write([]byte("a")); err != nil || len(rc.writes) != 1 {
		t.Fatalf("uncorked write: %v, %d writes", err, len(rc.writes))
	}
	rc.writes = nil
	_ = p.setCork(true)
	for _, s := range []string{"b", "c", "d"} {
		if n, err := p.Write([]byte(s)); n != 1 || err != nil {
			t.Fatalf("corked write = %d, %v", n, err)
		}
	}
	if len(rc.writes) != 0 {
		t.Fatalf("%d writes while corked, want 0", len(rc.writes))
	}
	if err := p.setCork(false); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 1 || string(rc.writes[0]) != "bcd" {
		t.Fatalf("writes %q, want one \"bcd\"", rc.writes)
	}

	rc.writes = nil
	_ = p.setCork(true)
	_, _ = p.Write([]byte("x"))
	big := strings.Repeat("y", corkMax)
	_, _ = p.Write([]byte(big)) // does not fit: what is pending, then this
	_, _ = p.Write([]byte("z"))
	_ = p.setCork(false)
	var got strings.Builder
	for _, w := range rc.writes {
		got.Write(w)
	}
	if got.String() != "x"+big+"z" {
		t.Fatalf("bytes out of order or lost (%d writes, %d bytes)", len(rc.writes), got.Len())
	}

	_ = p.setCork(true)
	_, _ = p.Write([]byte("w"))
	rc.fail = true
	if err := p.setCork(false); err == nil {
		t.Fatal("a failed flush reported no error")
	}
}
