package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// BenchmarkBlogRead is bench/'s limp-go side in one process (issue 13
// item 3): the example app as bench/cmd/limpserver runs it (quotas off,
// analytics off, an index on (status, create_time desc)) with
// $BLOG_BENCH_POSTS posts (default 10,000; seeded as the system user,
// half published, ten categories), read anonymously over the websocket
// by 8 connections with one call in flight each, frames signed before
// the timed loop:
//
//   - list_indexed: 20 published posts newest first with the total, cat
//     expanded (bench's list_indexed).
//   - read_id: one published post by _id, cat expanded (bench's read_id).
//
// cpu-µs/op is the process's CPU time (server and test client) per call.
// Profile the server with
//
//	go test -run '^$' -bench BlogRead -benchtime 3s -cpuprofile cpu.out ./examples/blog
func BenchmarkBlogRead(b *testing.B) {
	n := 10000
	if s := os.Getenv("BLOG_BENCH_POSTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	app := NewApp(limptest.Config(b, limp.Config{
		Data:       filepath.Join(b.TempDir(), "blog.db"),
		QuotaIPMin: -1, QuotaAnonMin: -1, QuotaAuthMin: -1,
		DataIndexes: []limp.DataIndex{{Collection: "blog", Keys: []limp.IndexKey{
			{Path: "status"}, {Path: "create_time", Desc: true}}}},
	}))
	s := limptest.Start(b, app)
	app.Module("blog").Analytics = nil
	ids := seedBlog(b, app, n)
	b.Run("list_indexed", func(b *testing.B) {
		frame := anonFrame(b, "blog/read", []any{map[string]any{"status": "published", "$limit": 20, "$sort": map[string]any{"create_time": -1}}})
		readLoop(b, s.WS, [][]byte{frame}, 20, int64(len(ids)))
	})
	b.Run("read_id", func(b *testing.B) {
		var frames [][]byte
		for i := range min(len(ids), 500) {
			frames = append(frames, anonFrame(b, "blog/read", []any{map[string]any{"_id": ids[i]}}))
		}
		readLoop(b, s.WS, frames, 1, 1)
	})
}

// seedBlog creates the categories and n posts as the system user, as
// limpserver does, and returns the published posts' ids.
func seedBlog(b *testing.B, app *limp.App, n int) []string {
	b.Helper()
	ctx := context.Background()
	sys := app.SystemSession()
	create := func(endpoint string, doc limp.M) string {
		res, err := app.Invoke(ctx, sys, endpoint, nil, doc)
		if err != nil {
			b.Fatal(err)
		}
		return res.Args["docs"].([]any)[0].(limp.M)["_id"].(limp.ID).Hex()
	}
	var cats []string
	for i := range 10 {
		cats = append(cats, create("blog_cat/create", limp.M{"title": limp.M{"ar_AE": "تصنيف " + strconv.Itoa(i), "en_AE": "Category " + strconv.Itoa(i)}}))
	}
	var ids []string
	for i := range n {
		status := "published"
		if (i/10)%2 == 1 {
			status = []string{"draft", "pending", "rejected"}[(i/20)%3]
		}
		id := create("blog/create", limp.M{
			"status":    status,
			"title":     limp.M{"ar_AE": "تدوينة " + strconv.Itoa(i), "en_AE": "Post " + strconv.Itoa(i)},
			"subtitle":  limp.M{"ar_AE": "عنوان فرعي", "en_AE": "Subtitle of post " + strconv.Itoa(i)},
			"content":   limp.M{"ar_AE": "نص", "en_AE": fmt.Sprintf("Content of post %d: a paragraph of a few words, repeated to make a post of a realistic size. Lorem ipsum dolor sit amet, consectetur adipiscing elit.", i)},
			"permalink": "post-" + strconv.Itoa(i),
			"tags":      []any{"tag" + strconv.Itoa(i%7), "tag" + strconv.Itoa(i%13)},
			"views":     int64(i % 10),
			"cat":       cats[i%len(cats)],
		})
		if status == "published" {
			ids = append(ids, id)
		}
	}
	return ids
}

// anonFrame is a call frame signed with the default anon token.
func anonFrame(b *testing.B, endpoint string, query []any) []byte {
	now := time.Now().Unix()
	claims, err := json.Marshal(map[string]any{"call_id": "r", "endpoint": endpoint, "sid": "f00000000000000000000012",
		"query": query, "doc": map[string]any{}, "iat": now, "exp": now + 86400})
	if err != nil {
		b.Fatal(err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(limp.DefaultAnonToken))
	mac.Write([]byte(signing))
	frame, err := json.Marshal(map[string]any{"token": signing + "." + enc.EncodeToString(mac.Sum(nil)), "call_id": "r"})
	if err != nil {
		b.Fatal(err)
	}
	return frame
}

// readLoop runs b.N calls over 8 connections (one in flight each),
// frames round robin, and checks each reply: status 200, docs docs with
// cat expanded, the total.
func readLoop(b *testing.B, url string, frames [][]byte, docs int, total int64) {
	const conns = 8
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
	check := func(data []byte) error {
		var r struct {
			Status int `json:"status"`
			Args   struct {
				Docs []struct {
					Cat json.RawMessage `json:"cat"`
				} `json:"docs"`
				Total int64 `json:"total"`
			} `json:"args"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return err
		}
		if r.Status != 200 || len(r.Args.Docs) != docs || r.Args.Total != total || len(r.Args.Docs[0].Cat) == 0 || r.Args.Docs[0].Cat[0] != '{' {
			return fmt.Errorf("reply %.300s", data)
		}
		return nil
	}
	per := max(b.N/conns, 1)
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i, ws := range wss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range per {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := ws.Write(cctx, websocket.MessageText, frames[(i*per+j)%len(frames)])
				var data []byte
				if err == nil {
					_, data, err = ws.Read(cctx)
				}
				cancel()
				if err == nil {
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
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	calls := float64(per * conns)
	b.ReportMetric(calls/el.Seconds(), "calls/s")
	b.ReportMetric(float64(cpu.Microseconds())/calls, "cpu-µs/op")
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
