package limp_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/limp-go/limp"
)

// TestPipelinedRepliesInOrder: 500 heart/beat calls sent without waiting
// get 500 replies, each once and in order (the writer batches queued
// replies into one socket write: wscork.go).
func TestPipelinedRepliesInOrder(t *testing.T) {
	s := testApp(t, limp.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.WS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 500
	now := time.Now().Unix()
	frames := make([][]byte, n)
	for i := range frames {
		id := "hb" + strconv.Itoa(i)
		tok := sign(t, map[string]any{"call_id": id, "endpoint": "heart/beat", "sid": "f00000000000000000000012",
			"query": []any{}, "doc": map[string]any{}, "iat": now, "exp": now + 86400}, limp.DefaultAnonToken)
		frames[i] = mustJSON(map[string]any{"token": tok, "call_id": id})
	}
	go func() {
		for _, f := range frames {
			if ws.Write(ctx, websocket.MessageText, f) != nil {
				return
			}
		}
	}()
	for i := range n {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		var r reply
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		if want := "hb" + strconv.Itoa(i); r.Status != 200 || r.Args["call_id"] != want {
			t.Fatalf("reply %d: %d %v, want 200 for %s", i, r.Status, r.Args["call_id"], want)
		}
	}
}
