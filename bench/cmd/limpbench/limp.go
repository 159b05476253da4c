package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/coder/websocket"

	"github.com/limp-go/limp/bench/internal/data"
	"github.com/limp-go/limp/client"
)

// limpUser is the author account the benchmark signs up on limpserver.
const (
	limpUser     = "bench@example.com"
	limpPassword = "bench-password"
	// anonToken is LIMP's default anon token, which limpserver keeps.
	anonToken = "__ANON_TOKEN_f00000000000000000000012"
)

// limpGo drives limpserver over the LIMP websocket protocol with the
// repo's Go client: reads on anonymous connections (the example's
// permissions: published posts only), creates on connections signed in
// as an author (the DEFAULT group's create: status draft, views unset).
type limpGo struct {
	anon, authed []*client.Client
	catID        string
	ids          []string // the 500 newest published posts (the default sort, _id descending)
	exp          expected
}

// limpPost is what the benchmark checks of a returned post.
type limpPost struct {
	ID  string          `json:"_id"`
	Cat json.RawMessage `json:"cat"`
}

func newLimpGo(ctx context.Context, url string, conns int, exp expected) (*limpGo, error) {
	l := &limpGo{exp: exp}
	// The client's automatic heart/beat (every 30 s) keeps connections
	// that wait for a later operation from the server's idle timeout.
	opts := &client.Options{}
	dial := func() (*client.Client, error) {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return client.Dial(dctx, url, opts)
	}
	for range conns {
		c, err := dial()
		if err != nil {
			l.close()
			return nil, fmt.Errorf("limp dial: %w", err)
		}
		l.anon = append(l.anon, c)
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := l.anon[0].SignUp(sctx, "email", limpUser, limpPassword, map[string]any{"name": map[string]any{"ar_AE": "كاتب", "en_AE": "Author"}}); err != nil {
		l.close()
		return nil, fmt.Errorf("limp sign-up: %w", err)
	}
	for range conns {
		c, err := dial()
		if err != nil {
			l.close()
			return nil, fmt.Errorf("limp dial: %w", err)
		}
		l.authed = append(l.authed, c)
		if _, err := c.Auth(sctx, "email", limpUser, limpPassword); err != nil {
			l.close()
			return nil, fmt.Errorf("limp sign-in: %w", err)
		}
	}
	cats, err := client.Read[limpPost](sctx, l.anon[0], "blog_cat", []any{map[string]any{"$limit": 1}})
	if err != nil || len(cats.Docs) != 1 {
		l.close()
		return nil, fmt.Errorf("limp cats: %v", err)
	}
	l.catID = cats.Docs[0].ID
	posts, err := client.Read[limpPost](sctx, l.anon[0], "blog", []any{map[string]any{"$limit": 500, "$attrs": []any{"_id"}}})
	if err != nil || len(posts.Docs) == 0 {
		l.close()
		return nil, fmt.Errorf("limp ids: %v", err)
	}
	for _, d := range posts.Docs {
		l.ids = append(l.ids, d.ID)
	}
	return l, nil
}

func (l *limpGo) list(ctx context.Context, c *client.Client, filter map[string]any, want int) error {
	q := map[string]any{"$limit": 20, "$sort": map[string]any{"create_time": -1}}
	for k, v := range filter {
		q[k] = v
	}
	r, err := client.Read[limpPost](ctx, c, "blog", []any{q})
	if err != nil {
		return err
	}
	return checkList(len(r.Docs), r.Total, want, func(i int) bool { return isObject(r.Docs[i].Cat) })
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// workers returns one call per connection for op.
func (l *limpGo) workers(op string) []call {
	ws := make([]call, len(l.anon))
	for w, c := range l.anon {
		n := 0
		switch op {
		case opReadID:
			ws[w] = func(ctx context.Context, rng *rand.Rand) error {
				id := l.ids[rng.IntN(len(l.ids))]
				r, err := client.Read[limpPost](ctx, c, "blog", []any{map[string]any{"_id": id}})
				if err != nil {
					return err
				}
				if len(r.Docs) != 1 {
					return fmt.Errorf("read %s: %d docs", id, len(r.Docs))
				}
				if r.Docs[0].ID != id || !isObject(r.Docs[0].Cat) {
					return fmt.Errorf("read %s: got _id %q, cat %.100s", id, r.Docs[0].ID, r.Docs[0].Cat)
				}
				return nil
			}
		case opListIndexed:
			ws[w] = func(ctx context.Context, rng *rand.Rand) error {
				return l.list(ctx, c, map[string]any{"status": "published"}, l.exp.published)
			}
		case opListUnindexed:
			ws[w] = func(ctx context.Context, rng *rand.Rand) error {
				return l.list(ctx, c, map[string]any{"views": 3}, l.exp.views[3])
			}
		case opListVarying:
			ws[w] = func(ctx context.Context, rng *rand.Rand) error {
				v := rng.IntN(10)
				return l.list(ctx, c, map[string]any{"views": v}, l.exp.views[v])
			}
		case opCreate:
			ac := l.authed[w]
			ws[w] = func(ctx context.Context, rng *rand.Rand) error {
				n++
				doc := data.NewPost(w, n)
				doc["cat"] = l.catID
				res, err := ac.Call(ctx, "blog/create", nil, doc)
				if err != nil {
					return err
				}
				var r struct {
					Docs []limpPost `json:"docs"`
				}
				if err := res.DecodeArgs(&r); err != nil || len(r.Docs) != 1 || r.Docs[0].ID == "" {
					return fmt.Errorf("create: reply has no docs[0]._id (%v)", err)
				}
				return nil
			}
		default:
			return nil
		}
	}
	return ws
}

func (l *limpGo) close() {
	for _, c := range append(l.anon, l.authed...) {
		_ = c.Close()
	}
}

// heartbeatFrame is a heart/beat call frame signed with the anon token,
// as the root package's BenchmarkHeartbeat sends it; the same bytes go to
// the echo server.
func heartbeatFrame() []byte {
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{"call_id": "hb", "endpoint": "heart/beat", "sid": "f00000000000000000000012",
		"query": []any{}, "doc": map[string]any{}, "iat": now, "exp": now + 86400})
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(anonToken))
	mac.Write([]byte(signing))
	tok := signing + "." + enc.EncodeToString(mac.Sum(nil))
	frame, _ := json.Marshal(map[string]any{"token": tok, "call_id": "hb"})
	return frame
}

// frameConns dials n raw websocket connections to url; greeting says
// whether the server sends a first message to skip (LIMP's
// CORE_CONN_READY).
func frameConns(ctx context.Context, url string, n int, greeting bool) ([]*websocket.Conn, error) {
	var conns []*websocket.Conn
	for range n {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ws, _, err := websocket.Dial(dctx, url, nil)
		if err == nil && greeting {
			_, _, err = ws.Read(dctx)
		}
		cancel()
		if err != nil {
			closeFrameConns(conns)
			return nil, fmt.Errorf("dial %s: %w", url, err)
		}
		ws.SetReadLimit(1 << 20)
		conns = append(conns, ws)
	}
	return conns, nil
}

func closeFrameConns(conns []*websocket.Conn) {
	for _, ws := range conns {
		_ = ws.CloseNow()
	}
}

// frameBurst is the number of frames a heartbeat call pipelines on its
// connection before reading the replies, so that the server, not the
// round trip, bounds the rate (as BenchmarkHeartbeat pipelines).
const frameBurst = 16

// frameWorkers write frameBurst copies of frame, then read as many
// replies, per call; check judges each reply.
func frameWorkers(conns []*websocket.Conn, frame []byte, check func([]byte) error) side {
	ws := make([]call, len(conns))
	for i, c := range conns {
		ws[i] = func(ctx context.Context, rng *rand.Rand) error {
			for range frameBurst {
				if err := c.Write(ctx, websocket.MessageText, frame); err != nil {
					return err
				}
			}
			var first error
			for range frameBurst {
				_, reply, err := c.Read(ctx)
				if err != nil {
					return err
				}
				if err := check(reply); err != nil && first == nil {
					first = err
				}
			}
			return first
		}
	}
	return side{workers: ws, per: frameBurst}
}

// heartbeatOK accepts LIMP's 200 reply to the heartbeat frame (checked
// without a JSON decode, which would make the load generator the
// bottleneck: {"status":200,...,"args":{"call_id":"hb"}}).
func heartbeatOK(reply []byte) error {
	if !bytes.Contains(reply, []byte(`"status":200`)) || !bytes.Contains(reply, []byte(`"call_id":"hb"`)) {
		return fmt.Errorf("heart/beat: unexpected reply %.200s", reply)
	}
	return nil
}

// echoOK accepts the echo of frame.
func echoOK(frame []byte) func([]byte) error {
	return func(reply []byte) error {
		if !bytes.Equal(reply, frame) {
			return errors.New("echo: reply differs from the frame")
		}
		return nil
	}
}

// checkList checks a list reply: 20 items (or all, when fewer match), the
// expected total, and every item's category expanded.
func checkList(items, total, want int, expanded func(int) bool) error {
	if total != want {
		return fmt.Errorf("list: total %d, want %d", total, want)
	}
	if items != min(20, want) {
		return fmt.Errorf("list: %d items, want %d", items, min(20, want))
	}
	for i := range items {
		if !expanded(i) {
			return fmt.Errorf("list: item %d has no expanded cat", i)
		}
	}
	return nil
}

// expected holds the totals the seed implies (created posts are drafts,
// so they never change them).
type expected struct {
	published int
	views     [10]int // published posts with views = i
}

func expect(n int) expected {
	var e expected
	for i := range n {
		p := data.Post(i)
		if p["status"] != "published" {
			continue
		}
		e.published++
		e.views[p["views"].(int64)]++
	}
	return e
}
