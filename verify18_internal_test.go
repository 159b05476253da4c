package limp

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// An upload whose client goes away mid-body leaves nothing stored nor
// spooled.
func TestVerify18AbortedUploadRemovesSpool(t *testing.T) {
	s := startSlowApp(t, Config{})
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	head := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
	body := head + strings.Repeat("z", 256<<10)
	fmt.Fprintf(nc, "POST /file/create HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: %d\r\n\r\n", len(body)+1<<20)
	_, _ = nc.Write([]byte(body))
	time.Sleep(300 * time.Millisecond)
	blobs, err := s.app.files.store(s.app)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := blobs.(interface{ TempFiles() int })
	if ok {
		t.Logf("spool files while uploading: %d", d.TempFiles())
	}
	_ = nc.Close()
	if n := walkCount(t, blobs); n != 0 {
		t.Errorf("%d blobs left", n)
	}
	if ok && !waitFor(3*time.Second, func() bool { return d.TempFiles() == 0 }) {
		t.Errorf("%d spool files left by an aborted upload", d.TempFiles())
	}
}

// Shutdown returns within its deadline with a websocket client stuck in
// the middle of a frame (header sent, payload trickling).
func TestVerify18ShutdownPartialFrame(t *testing.T) {
	s := startSlowApp(t, Config{WriteTimeout: time.Hour, ReadTimeout: time.Hour, MinDataRate: 1, ConnTimeout: time.Hour})
	c := dialRaw(t, s.addr)
	if !waitFor(5*time.Second, func() bool { return s.openConns() == 1 }) {
		t.Fatal("connection not registered")
	}
	// masked text frame announcing 1000 bytes, 1 sent
	_, _ = c.nc.Write([]byte{0x81, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4, 'x'})
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := s.app.Shutdown(ctx)
	d := time.Since(start)
	t.Logf("Shutdown = %v after %v", err, d)
	if d > 1500*time.Millisecond {
		t.Errorf("Shutdown took %v with a 1 s deadline", d)
	}
	if _, err := c.drain(5 * time.Second); err != nil {
		t.Errorf("websocket not closed: %v", err)
	}
	if !waitFor(3*time.Second, func() bool { return s.openConns() == 0 }) {
		t.Errorf("connection still held")
	}
}

// A client sending many calls of small replies and reading none is
// closed with 1008/1013 once its queue bound is reached.
func TestVerify18ManySmallReplies(t *testing.T) {
	s := startSlowApp(t, Config{MaxQueuedBytes: 64 << 10, WriteTimeout: 2 * time.Second, ConnTimeout: time.Hour})
	c := dialRaw(t, s.addr)
	sent := 0
	for range 3000 {
		if err := c.call("big/get", M{"size": 4 << 10}); err != nil {
			break
		}
		sent++
	}
	ok := waitFor(15*time.Second, func() bool { return s.openConns() == 0 })
	status, err := c.drain(10 * time.Second)
	t.Logf("sent %d; closed=%v status=%d err=%v logs=%v", sent, ok, status, err, s.log.msgs)
	if !ok || (status != 1008 && status != 1013) {
		t.Errorf("non-reading client with small replies: closed=%v status %d", ok, status)
	}
}
