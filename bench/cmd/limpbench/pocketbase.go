package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/limp-go/limp/bench/internal/data"
)

// pbUser and pbPassword are pbserver's author account (its defaults).
const (
	pbUser     = "bench@example.com"
	pbPassword = "bench-password"
)

// pocketBase drives pbserver over HTTP/1.1 with keep-alive: each worker
// has its own transport limited to one connection.
type pocketBase struct {
	base    string
	clients []*http.Client
	token   string // the author's auth token
	userID  string
	catID   string
	ids     []string // the 500 newest published posts
	exp     expected
}

func newPocketBase(ctx context.Context, base string, conns int, exp expected) (*pocketBase, error) {
	p := &pocketBase{base: base, exp: exp}
	for range conns {
		p.clients = append(p.clients, &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, IdleConnTimeout: time.Minute, DisableCompression: true,
		}})
	}
	if err := p.health(ctx); err != nil {
		return nil, err
	}
	c := p.clients[0]
	var auth struct {
		Token  string `json:"token"`
		Record struct {
			ID string `json:"id"`
		} `json:"record"`
	}
	body, _ := json.Marshal(map[string]string{"identity": pbUser, "password": pbPassword})
	if err := p.do(ctx, c, http.MethodPost, "/api/collections/users/auth-with-password", body, "", &auth); err != nil {
		return nil, fmt.Errorf("pocketbase sign-in: %w", err)
	}
	p.token, p.userID = auth.Token, auth.Record.ID
	var cats struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := p.do(ctx, c, http.MethodGet, "/api/collections/cats/records?perPage=1&skipTotal=1", nil, "", &cats); err != nil || len(cats.Items) != 1 {
		return nil, fmt.Errorf("pocketbase cats: %v (%d)", err, len(cats.Items))
	}
	p.catID = cats.Items[0].ID
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := p.do(ctx, c, http.MethodGet, "/api/collections/blogs/records?perPage=500&skipTotal=1&fields=id&sort=-created", nil, "", &list); err != nil || len(list.Items) == 0 {
		return nil, fmt.Errorf("pocketbase ids: %v (%d)", err, len(list.Items))
	}
	for _, it := range list.Items {
		p.ids = append(p.ids, it.ID)
	}
	return p, nil
}

// health waits (at most 30 s) for GET /api/health to answer 200.
func (p *pocketBase) health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := p.do(ctx, p.clients[0], http.MethodGet, "/api/health", nil, "", nil)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pocketbase health: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// do sends one request and decodes a 200 reply into out (nil: read and
// drop the body).
func (p *pocketBase) do(ctx context.Context, c *http.Client, method, path string, body []byte, token string, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		if len(b) > 200 {
			b = b[:200]
		}
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// pbList is a list reply: the items (cat expanded) and the total.
type pbList struct {
	Items []struct {
		ID     string `json:"id"`
		Expand struct {
			Cat struct {
				ID string `json:"id"`
			} `json:"cat"`
		} `json:"expand"`
	} `json:"items"`
	TotalItems int `json:"totalItems"`
}

func (p *pocketBase) list(ctx context.Context, c *http.Client, filter string, want int) error {
	var l pbList
	path := "/api/collections/blogs/records?filter=" + url.QueryEscape(filter) + "&sort=-created&perPage=20&expand=cat"
	if err := p.do(ctx, c, http.MethodGet, path, nil, "", &l); err != nil {
		return err
	}
	return checkList(len(l.Items), l.TotalItems, want, func(i int) bool { return l.Items[i].Expand.Cat.ID != "" })
}

// workers returns one call per connection for op.
func (p *pocketBase) workers(op string) []call {
	ws := make([]call, len(p.clients))
	for w, c := range p.clients {
		n := 0
		switch op {
		case opReadID:
			ws[w] = func(ctx context.Context, rng *rand.Rand) error {
				var r struct {
					ID     string `json:"id"`
					Expand struct {
						Cat struct {
							ID string `json:"id"`
						} `json:"cat"`
					} `json:"expand"`
				}
				id := p.ids[rng.IntN(len(p.ids))]
				if err := p.do(ctx, c, http.MethodGet, "/api/collections/blogs/records/"+id+"?expand=cat", nil, "", &r); err != nil {
					return err
				}
				if r.ID != id || r.Expand.Cat.ID == "" {
					return fmt.Errorf("read %s: got id %q, cat %q", id, r.ID, r.Expand.Cat.ID)
				}
				return nil
			}
		case opListIndexed:
			ws[w] = func(ctx context.Context, rng *rand.Rand) error {
				return p.list(ctx, c, "status='published'", p.exp.published)
			}
		case opListUnindexed:
			ws[w] = func(ctx context.Context, rng *rand.Rand) error {
				return p.list(ctx, c, "views=3", p.exp.views[3])
			}
		case opListVarying:
			ws[w] = func(ctx context.Context, rng *rand.Rand) error {
				v := rng.IntN(10)
				return p.list(ctx, c, "views="+strconv.Itoa(v), p.exp.views[v])
			}
		case opCreate:
			ws[w] = func(ctx context.Context, rng *rand.Rand) error {
				n++
				doc := data.NewPost(w, n)
				doc["cat"], doc["user"], doc["status"] = p.catID, p.userID, "draft"
				body, err := json.Marshal(doc)
				if err != nil {
					return err
				}
				var r struct {
					ID string `json:"id"`
				}
				if err := p.do(ctx, c, http.MethodPost, "/api/collections/blogs/records", body, p.token, &r); err != nil {
					return err
				}
				if r.ID == "" {
					return fmt.Errorf("create: reply has no id")
				}
				return nil
			}
		default:
			return nil
		}
	}
	return ws
}

func (p *pocketBase) close() {
	for _, c := range p.clients {
		c.CloseIdleConnections()
	}
}
