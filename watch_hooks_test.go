package limp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
)

// TestWatchHook: Hooks.OnWatch (issue 14 item 7) reshapes each event for
// its caller (the anonymous watcher and ADMIN's get different docs from
// the same change), drops events per caller (a dropped event takes no
// args.seq: the sequence stays gapless), and an error ends the watch with
// that error as its last reply.
func TestWatchHook(t *testing.T) {
	hook := func(ctx context.Context, c *limp.Call, oper string, doc limp.M) (limp.M, error) {
		p, _ := doc["permalink"].(string)
		switch {
		case strings.HasPrefix(p, "boom"):
			return nil, limp.NewError(400, "APP_BOOM", "Boom.")
		case strings.HasPrefix(p, "hide") && c.Session.Anon():
			return nil, nil
		}
		if oper != "delete" {
			doc["seen_by"] = c.Session.UserID.Hex()
			doc["oper_seen"] = oper
		}
		return doc, nil
	}
	s := watchAppCfg(t, limp.Config{}, limp.Hooks{OnWatch: hook})
	anon := dial(t, s.WS)
	aid := anon.send("note/watch", []any{map[string]any{"$attrs": []any{"permalink"}}}, nil)
	must(t, anon.recv())
	writer := dial(t, s.WS)
	for _, p := range []string{"one", "hide1", "two"} {
		must(t, writer.call("note/create", nil, note(p, "published")))
	}
	for i, want := range []string{"one", "two"} {
		ev := must(t, anon.recv())
		d := ev.Args["docs"].([]any)[0].(map[string]any)
		if ev.Args["seq"] != float64(i+1) || d["permalink"] != want || d["seen_by"] != limp.AnonUserID.Hex() || d["oper_seen"] != "create" {
			t.Fatalf("event %d: %v", i, ev.Args)
		}
	}
	// ADMIN (through the Go client) sees the hidden one, reshaped for it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := s.Client(t, nil)
	sess, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	aw, err := admin.Watch(ctx, "note/watch", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	must(t, writer.call("note/create", nil, note("hide2", "published")))
	e, err := aw.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := e.Args["docs"].([]any)[0].(map[string]any); d["permalink"] != "hide2" || d["seen_by"] != sess.User["_id"] {
		t.Fatalf("admin's event: %v", d)
	}
	// An error ends the watch: the anonymous watcher gets it, then nothing.
	must(t, writer.call("note/create", nil, note("boom", "published")))
	ev := anon.recv()
	if ev.Status != 400 || ev.code() != "APP_BOOM" || ev.Args["call_id"] != aid {
		t.Fatalf("hook error: %+v", ev)
	}
	must(t, writer.call("note/create", nil, note("after", "published")))
	if r := anon.call("heart/beat", nil, nil); r.code() != "CORE_HEARTBEAT_OK" {
		t.Fatalf("after the hook's error the watch went on: %+v", r)
	}
	if _, err := aw.Next(ctx); client.CodeOf(err) != "APP_BOOM" {
		t.Fatalf("admin's watch after boom: %v, want APP_BOOM", err)
	}
}

// TestWatchLimits: Config.WatchesPerConn and Config.WatchesPerNode bound
// the watches (issue 14 item 7) with coded errors; a slot frees when a
// watch ends (watch/delete); retained watches count on the node until
// they end.
func TestWatchLimits(t *testing.T) {
	s := watchAppCfg(t, limp.Config{WatchesPerConn: 2, WatchesPerNode: 3, WatchRetention: -1}, limp.Hooks{})
	a := dial(t, s.WS)
	must(t, a.call("note/watch", nil, nil))
	id := fmt.Sprint(must(t, a.call("note/watch", nil, nil)).Args["watch"])
	wantErr(t, a.call("note/watch", nil, nil), 429, limp.CodeWatchLimit)
	b := dial(t, s.WS)
	must(t, b.call("note/watch", nil, nil))
	wantErr(t, b.call("note/watch", nil, nil), 503, limp.CodeWatchNodeLimit)
	must(t, a.call("watch/delete", []any{map[string]any{"watch": id}}, nil))
	must(t, b.call("note/watch", nil, nil))
	// Without retention a closed connection frees its watches.
	_ = a.ws.CloseNow()
	c := dial(t, s.WS)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.call("note/watch", nil, nil)
		if r.Status == 200 {
			break
		}
		wantErr(t, r, 503, limp.CodeWatchNodeLimit)
		if time.Now().After(deadline) {
			t.Fatal("the closed connection's watch kept its slot")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// With retention, a retained watch keeps its slot.
	s2 := watchAppCfg(t, limp.Config{WatchesPerNode: 1}, limp.Hooks{})
	d := dial(t, s2.WS)
	must(t, d.call("note/watch", nil, nil))
	_ = d.ws.CloseNow()
	time.Sleep(100 * time.Millisecond)
	wantErr(t, dial(t, s2.WS).call("note/watch", nil, nil), 503, limp.CodeWatchNodeLimit)
}

// TestWatchNoopUpdate: an update that writes the values a document
// already holds changes nothing (the store's Modified is 0) and sends no
// event; one that changes a value sends "update".
func TestWatchNoopUpdate(t *testing.T) {
	s := watchAppCfg(t, limp.Config{}, limp.Hooks{})
	w := dial(t, s.WS)
	must(t, w.call("note/watch", nil, nil))
	writer := dial(t, s.WS)
	id := docs(t, must(t, writer.call("note/create", nil, note("n", "published"))))[0]["_id"]
	if ev := must(t, w.recv()); ev.Args["oper"] != "create" {
		t.Fatalf("create: %v", ev.Args)
	}
	must(t, writer.call("note/update", []any{map[string]any{"_id": id}}, map[string]any{"rank": 0, "permalink": "n"}))
	must(t, writer.call("note/update", []any{map[string]any{"_id": id}}, map[string]any{"rank": 3}))
	ev := must(t, w.recv())
	if ev.Args["oper"] != "update" || ev.Args["seq"] != float64(2) || ev.Args["docs"].([]any)[0].(map[string]any)["rank"] != float64(3) {
		t.Fatalf("after a no-op update and a real one: %v", ev.Args)
	}
}
