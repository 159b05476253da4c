package limp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/limp-go/limp"
)

// The call path on an example-like schema (issue 13 item 3): a blog post
// module like examples/blog's, with a category reference expanded on read
// and a compound index on (status, create_time). Frames are signed once
// before the timed loop, so the figures are the server's (and the
// websocket's), not the test client's JWT signing. Each benchmark also
// reports cpu-µs/op: the process's CPU time (user + system, client
// included) per call, which moves less than wall time on a shared machine.
//
//	go test -run '^$' -bench BenchmarkCallPath -benchtime 3s .

type callCat struct {
	limp.Doc
	Title limp.Locale `json:"title"`
}

type callPost struct {
	limp.OwnedDoc
	Status    string      `json:"status" limp:"default=draft" validate:"oneof=draft pending rejected published"`
	Title     limp.Locale `json:"title"`
	Content   limp.Locale `json:"content"`
	Permalink string      `json:"permalink" limp:"unique"`
	Cat       limp.ID     `json:"cat" limp:"ref=call_cat,index"`
	Tags      []string    `json:"tags" limp:"default=[]"`
	Views     int64       `json:"views" limp:"default=0,min=0"`
}

// callPathApp starts the example-like app with posts posts (every other
// one published) in cats categories; it returns the server and the ids of
// the published posts.
func callPathApp(b *testing.B, posts, cats int) (*callServer, []string) {
	b.Helper()
	catM := limp.NewModule[callCat]("call_cat", limp.Methods{
		"read":   {Permissions: limp.Perms("*")},
		"create": {Permissions: limp.Perms("*")},
	})
	postM := limp.NewModule[callPost]("call_post", limp.Methods{
		"read": {Permissions: []limp.Perm{
			{Privilege: "admin"},
			{Privilege: "*", QueryMod: limp.M{"status": "published"}},
		}},
		"create": {Permissions: limp.Perms("*")},
	})
	postM.Indexes = [][]string{{"status", "create_time"}}
	s := startApp(b, limp.Config{Name: "bench", QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1,
		AnonPrivileges: limp.Privileges{"call_cat": {"*"}, "call_post": {"*"}}}, catM, postM)
	c := dial(b, s.WS)
	var catIDs []string
	for i := range cats {
		r := must(b, c.call("call_cat/create", nil, map[string]any{"title": map[string]any{"en_AE": "Cat " + strconv.Itoa(i)}}))
		catIDs = append(catIDs, docs(b, r)[0]["_id"].(string))
	}
	var ids []string
	for i := range posts {
		status := "draft"
		if i%2 == 0 {
			status = "published"
		}
		r := must(b, c.call("call_post/create", nil, map[string]any{
			"title": map[string]any{"en_AE": "Post " + strconv.Itoa(i)}, "content": map[string]any{"en_AE": "Some text."},
			"permalink": "p-" + strconv.Itoa(i), "cat": catIDs[i%cats], "status": status, "tags": []any{"a", "b"}}))
		if status == "published" {
			ids = append(ids, docs(b, r)[0]["_id"].(string))
		}
	}
	return &callServer{ws: s.WS}, ids
}

type callServer struct{ ws string }

// signedFrame is a call frame signed with the ANON token.
func signedFrame(b *testing.B, endpoint string, query []any, callID string) []byte {
	now := time.Now().Unix()
	tok := sign(b, map[string]any{"call_id": callID, "endpoint": endpoint, "sid": "f00000000000000000000012",
		"query": query, "doc": map[string]any{}, "iat": now, "exp": now + 86400}, limp.DefaultAnonToken)
	return mustJSON(map[string]any{"token": tok, "call_id": callID})
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// closedLoop runs n calls on each of conns connections, one call at a
// time per connection, each call one of frames (round robin), and
// returns the elapsed time and CPU time. check sees every reply.
func closedLoop(b *testing.B, url string, conns, n int, frames [][]byte, check func([]byte) error) (time.Duration, time.Duration) {
	b.Helper()
	ctx := context.Background()
	wss := make([]*websocket.Conn, conns)
	for i := range wss {
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		ws.SetReadLimit(64 << 20)
		defer ws.CloseNow()
		if _, _, err := ws.Read(ctx); err != nil { // greeting
			b.Fatal(err)
		}
		wss[i] = ws
	}
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuTime()
	for i, ws := range wss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range n {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := ws.Write(cctx, websocket.MessageText, frames[(i+j)%len(frames)])
				var data []byte
				if err == nil {
					_, data, err = ws.Read(cctx)
				}
				cancel()
				if err == nil && check != nil {
					err = check(data)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	el, cpu := time.Since(start), cpuTime()-cpu0
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return el, cpu
}

// wantDocs checks a read reply: status 200, n docs (the first with its
// cat expanded to an object) and a total of at least total.
func wantDocs(n int, total float64) func([]byte) error {
	return func(data []byte) error {
		var r struct {
			Status int `json:"status"`
			Args   struct {
				Docs  []map[string]any `json:"docs"`
				Total float64          `json:"total"`
			} `json:"args"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return err
		}
		if r.Status != 200 || len(r.Args.Docs) != n || r.Args.Total < total {
			return fmt.Errorf("reply %s", data)
		}
		if _, ok := r.Args.Docs[0]["cat"].(map[string]any); !ok {
			return fmt.Errorf("cat not expanded: %s", data)
		}
		return nil
	}
}

// BenchmarkCallPath: 2,000 example-like posts (1,000 published) in 10
// categories, read as ANON (the permission adds status = published).
//   - read_by_id: one connection, a post by _id with its cat expanded.
//   - list20_total_8conns: 8 connections, each a closed loop of list 20
//     published newest first with the total (cat expanded); the ratio is
//     against heart/beat on the same 8 connections measured just before,
//     in the same benchmark (x-heartbeat).
func BenchmarkCallPath(b *testing.B) {
	s, ids := callPathApp(b, 2000, 10)
	b.Run("read_by_id", func(b *testing.B) {
		frames := make([][]byte, 0, 100)
		for i := range 100 {
			frames = append(frames, signedFrame(b, "call_post/read", []any{map[string]any{"_id": ids[i*7%len(ids)]}}, "r"))
		}
		b.ResetTimer()
		el, cpu := closedLoop(b, s.ws, 1, b.N, frames, wantDocs(1, 1))
		b.ReportMetric(float64(b.N)/el.Seconds(), "calls/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	})
	b.Run("list20_total_8conns", func(b *testing.B) {
		const conns = 8
		n := max(b.N/conns, 1)
		hb := [][]byte{signedFrame(b, "heart/beat", []any{}, "h")}
		hbEl, _ := closedLoop(b, s.ws, conns, n, hb, nil)
		list := [][]byte{signedFrame(b, "call_post/read", []any{map[string]any{"$limit": 20, "$sort": map[string]any{"create_time": -1}}}, "l")}
		b.ResetTimer()
		el, cpu := closedLoop(b, s.ws, conns, n, list, wantDocs(20, 1000))
		b.ReportMetric(float64(n*conns)/el.Seconds(), "calls/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n*conns), "cpu-µs/op")
		b.ReportMetric(hbEl.Seconds()/el.Seconds(), "x-heartbeat")
	})
}
