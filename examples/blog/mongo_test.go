package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/internal/store/mongo/mongotest"
)

// TestBlogOnMongo starts the example as its users do, with
// `--data mongodb://...` (the server named by LIMP_TEST_MONGO_URI, a
// database of its own), and walks it as TestBlog does.
func TestBlogOnMongo(t *testing.T) {
	uri := mongotest.URI(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- NewApp(limp.Config{}).RunArgs(ctx, []string{"--data", uri, "--listen", addr}, &out)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, limp.ErrShutdown) {
				t.Errorf("app: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("app did not stop within 30 s")
		}
	})

	ws := fmt.Sprintf("ws://%s/ws", addr)
	dial := func() *client.Client {
		t.Helper()
		var c *client.Client
		deadline := time.Now().Add(60 * time.Second)
		for {
			dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, err = client.Dial(dctx, ws, &client.Options{AnonToken: limp.DefaultAnonToken})
			dcancel()
			if err == nil {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("app stopped: %v\n%s", err, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("dial %s: %v", ws, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	walkBlog(t, dial)
}
