package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// DefaultAnonToken is LIMP's default anon token (Config.anon_token), the
// HMAC key of every call made before authentication and the salt of level
// 5.6 auth hashes.
const DefaultAnonToken = "__ANON_TOKEN_f00000000000000000000012"

// AnonSessionID is the _id of the ANON session, sent as the sid claim of
// every unauthenticated call and returned by session/signout.
const AnonSessionID = "f00000000000000000000012"

// Defaults used when the corresponding [Options] field is zero.
const (
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultTokenLifetime     = 24 * time.Hour
	DefaultChunkSize         = 512000
	DefaultReadLimit         = 32 << 20
)

// Protocol codes the client reacts to.
const (
	codeConnReady  = "CORE_CONN_READY"
	codeConnClosed = "CORE_CONN_CLOSED"
)

// ErrClosed is returned (wrapped, see [errors.Is]) by calls made on, or
// pending when, the connection closes, whether by [Client.Close] or because
// the connection was lost.
var ErrClosed = errors.New("client: connection closed")

// Options configures [Dial]. A nil *Options and zero fields mean defaults.
type Options struct {
	// AnonToken is the server's anon token. Default [DefaultAnonToken].
	AnonToken string
	// AppID is the client app id sent in conn/verify. Empty means no
	// conn/verify is sent; a LIMP server then rejects the first call, so set
	// it unless the server does not require verification.
	AppID string
	// HTTPHeader is added to the websocket upgrade request (for example the
	// Origin header that web client apps are verified against). It takes
	// precedence over Dialer.HTTPHeader.
	HTTPHeader http.Header
	// Dialer holds websocket dial options (HTTP client, subprotocols,
	// compression). Nil means coder/websocket's defaults.
	Dialer *websocket.DialOptions
	// Logger receives debug and warning records. Nil means slog.Default().
	// Tokens, hashes and passwords are never logged.
	Logger *slog.Logger
	// HeartbeatInterval is the period of the automatic heart/beat call that
	// keeps the server's idle timer (120 s by default) from closing the
	// connection. Default [DefaultHeartbeatInterval] (ng-limp's 30 s);
	// negative disables automatic heartbeats.
	HeartbeatInterval time.Duration
	// TokenLifetime is exp − iat of every call JWT. Default
	// [DefaultTokenLifetime] (ng-limp's 86400 s). The server verifies exp
	// with no leeway, so keep it well above the expected clock skew.
	TokenLifetime time.Duration
	// HashLevel is the auth hash level used by [Client.Auth]: [HashLevel56]
	// (default) or [HashLevel50].
	HashLevel HashLevel
	// ChunkSize is the number of file bytes per file/upload chunk. Default
	// [DefaultChunkSize] (ng-limp's 512000; at most about 780000 fits the
	// server's 4 MiB frame limit).
	ChunkSize int
	// ReadLimit is the largest server message accepted, in bytes. Default
	// [DefaultReadLimit]; negative means no limit.
	ReadLimit int64
	// NGLimpClaims adds the "token" and "awaitAuth" claims that ng-limp puts
	// in every call JWT. The server ignores them. Security: the "token" claim
	// is the signing key itself, readable by anyone who sees the frame; leave
	// this off unless a server needs byte-identical ng-limp payloads.
	NGLimpClaims bool
	// Reconnect, when set, makes the Client redial after a lost connection
	// (not after [Client.Close]) instead of closing: see [Reconnect].
	// Nil (the default) keeps one connection: a loss closes the Client.
	Reconnect *Reconnect
	// OnMessage, if set, receives every server message that does not answer
	// a pending call or an open [Watch]: in-band notices such as
	// CORE_CONN_CLOSED, late responses to cancelled calls, and errors the
	// server sent without a call_id. It runs on the reader goroutine, so it
	// must return quickly and must not call the Client's blocking methods.
	OnMessage func(*Response)
}

// Client is a connection to a LIMP server. Create it with [Dial]; it is safe
// for concurrent use. Close it with [Client.Close].
type Client struct {
	url       string // the websocket URL Dial was given
	dopts     websocket.DialOptions
	opts      Options
	log       *slog.Logger
	anonToken string

	mu       sync.Mutex
	key      string   // current HMAC key: anon token or session token
	sid      string   // current session id
	session  *Session // nil while anon
	nextID   uint64
	pending  map[string]chan result
	watches  map[string]*Watch
	closed   bool
	err      error // why the connection closed; set once
	ws       *websocket.Conn
	closing  bool  // Close was called: no reconnect
	down     error // reconnecting: why the last connection was lost
	failures int   // reconnects in a row not restored (backoff)

	greeted   chan struct{} // closed when the greeting arrives
	done      chan struct{} // closed when the reader goroutine ends
	bgCtx     context.Context
	stop      context.CancelFunc // cancels bgCtx: stops the heartbeat
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type result struct {
	res *Response
	err error
}

// Dial connects to the LIMP websocket endpoint at url (ws[s]://host[:port]/ws
// or /ws/{realm}), waits for the CORE_CONN_READY greeting and, when
// o.AppID is set, verifies the connection with conn/verify. ctx bounds the
// whole handshake, not the life of the connection.
func Dial(ctx context.Context, url string, o *Options) (*Client, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.AnonToken == "" {
		opts.AnonToken = DefaultAnonToken
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.HashLevel == "" {
		opts.HashLevel = HashLevel56
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.ReadLimit == 0 {
		opts.ReadLimit = DefaultReadLimit
	}
	var dopts websocket.DialOptions
	if opts.Dialer != nil {
		dopts = *opts.Dialer
	}
	if len(opts.HTTPHeader) > 0 {
		h := dopts.HTTPHeader.Clone()
		if h == nil {
			h = http.Header{}
		}
		for k, v := range opts.HTTPHeader {
			h[k] = v
		}
		dopts.HTTPHeader = h
	}

	ws, resp, err := websocket.Dial(ctx, url, &dopts)
	if err != nil {
		return nil, fmt.Errorf("dial limp server: %w", err)
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	ws.SetReadLimit(opts.ReadLimit)

	c := &Client{url: url,
		ws:        ws,
		dopts:     dopts,
		opts:      opts,
		log:       opts.Logger,
		anonToken: opts.AnonToken,
		key:       opts.AnonToken,
		sid:       AnonSessionID,
		pending:   make(map[string]chan result),
		watches:   make(map[string]*Watch),
		greeted:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	c.bgCtx, c.stop = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.readLoop(ws)

	select {
	case <-c.greeted:
	case <-c.done:
		c.shutdown()
		return nil, fmt.Errorf("wait for limp greeting: %w", c.Err())
	case <-ctx.Done():
		c.shutdown()
		return nil, fmt.Errorf("wait for limp greeting: %w", ctx.Err())
	}

	if opts.AppID != "" {
		if _, err := c.Call(ctx, "conn/verify", nil, map[string]any{"app": opts.AppID}); err != nil {
			c.shutdown()
			return nil, fmt.Errorf("verify connection: %w", err)
		}
	}

	if opts.HeartbeatInterval > 0 {
		c.wg.Add(1)
		go c.heartbeatLoop(opts.HeartbeatInterval)
	}
	return c, nil
}

// Err reports why the connection closed, or nil while it is open. The error
// wraps [ErrClosed].
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done returns a channel closed when the connection has closed (after
// [Client.Close] or a connection loss). Without [Options.Reconnect],
// reconnecting is the caller's job: Dial again and [Client.Reauth] with the
// cached session; with it, Done is closed only by Close or when the
// reconnect gives up.
func (c *Client) Done() <-chan struct{} { return c.done }

// Session returns a copy of the connection's current session, or nil while
// the connection is anonymous. The copy shares its User map and Groups
// slice with the Client's; treat them as read-only.
func (c *Client) Session() *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil {
		return nil
	}
	s := *c.session
	return &s
}

// Close sends conn/close (best effort, bounded by one second), closes the
// websocket, fails pending calls with [ErrClosed] and waits for the Client's
// goroutines to end. It is safe to call more than once; later calls return nil.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		ws, down := c.ws, c.down != nil
		c.mu.Unlock()
		c.stop() // ends a reconnect's backoff
		select {
		case <-c.done: // the connection is already gone
			c.fail(fmt.Errorf("%w: closed by client", ErrClosed))
			_ = ws.CloseNow()
		default:
			if down {
				c.fail(fmt.Errorf("%w: closed by client", ErrClosed))
				_ = ws.CloseNow()
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if frame, _, ferr := c.frame("conn/close", nil, nil); ferr == nil {
				_ = ws.Write(ctx, websocket.MessageText, frame)
			}
			cancel()
			c.fail(fmt.Errorf("%w: closed by client", ErrClosed))
			cerr := ws.Close(websocket.StatusNormalClosure, "")
			// The server answers conn/close by closing, so it may win the
			// race; only other failures are reported.
			if cerr != nil && websocket.CloseStatus(cerr) == -1 &&
				!errors.Is(cerr, net.ErrClosed) && !errors.Is(cerr, io.EOF) {
				err = fmt.Errorf("close limp connection: %w", cerr)
			}
		}
		c.stop()
		c.wg.Wait()
	})
	return err
}

// shutdown tears the connection down without the conn/close courtesy; used
// when Dial fails.
func (c *Client) shutdown() {
	c.closeOnce.Do(func() {
		c.fail(fmt.Errorf("%w: dial failed", ErrClosed))
		_ = c.wsConn().CloseNow()
		c.stop()
		c.wg.Wait()
	})
}

// fail marks the connection closed with cause (first cause wins) and fails
// every pending call.
func (c *Client) fail(cause error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = cause
	}
	c.closed = true
	err := c.err
	pending := c.pending
	c.pending = make(map[string]chan result)
	watches := c.watches
	c.watches = make(map[string]*Watch)
	c.mu.Unlock()
	for _, ch := range pending {
		ch <- result{err: err}
	}
	for _, w := range watches {
		w.end(err)
	}
}

// readLoop is the only reader of the websocket. It ends when the connection
// closes, after failing every pending call; with [Options.Reconnect] it
// redials a lost connection instead.
func (c *Client) readLoop(ws *websocket.Conn) {
	defer c.wg.Done()
	defer close(c.done)
	first := true
	for {
		cause := c.readConn(ws, first)
		first = false
		ws = c.reconnect(cause) // reconnect.go
		if ws == nil {
			c.fail(cause)
			return
		}
	}
}

// readConn reads one websocket until it fails and returns why. The
// greeting of the first connection releases Dial; that of a later one
// starts the restore (reconnect.go).
func (c *Client) readConn(ws *websocket.Conn, first bool) error {
	greeted := false
	var notice *Response // an in-band close notice, reported as the cause
	for {
		// Never a cancelable context here: its expiry would close the
		// connection without a close handshake.
		typ, data, err := ws.Read(context.Background())
		if err != nil {
			if notice != nil {
				return fmt.Errorf("%w: %w", ErrClosed, notice.asError())
			}
			return fmt.Errorf("%w: %w", ErrClosed, err)
		}
		if typ != websocket.MessageText {
			continue
		}
		res, err := decodeResponse(data)
		if err != nil {
			c.log.Warn("limp client: ignoring undecodable server message", "err", err, "size", len(data))
			continue
		}
		if !greeted && res.Code() == codeConnReady {
			greeted = true
			if first {
				close(c.greeted)
			} else {
				c.restore(ws)
			}
			continue
		}
		if res.Code() == codeConnClosed {
			notice = res
		}
		c.switchSession(res)
		id := res.CallID()
		c.mu.Lock()
		ch, ok := c.pending[id]
		if ok {
			delete(c.pending, id)
		}
		w := c.watches[id]
		c.mu.Unlock()
		if ok {
			ch <- result{res: res}
			continue
		}
		if w != nil {
			if !w.push(res) {
				c.mu.Lock()
				if c.watches[id] == w {
					delete(c.watches, id)
				}
				c.mu.Unlock()
				c.cancelOverflowed(w) // watch.go
			}
			continue
		}
		if c.opts.OnMessage != nil {
			c.opts.OnMessage(res)
		} else {
			c.log.Debug("limp client: unsolicited message", "status", res.Status, "msg", res.Msg, "code", res.Code(), "call_id", id)
		}
	}
}

func (c *Client) wsConn() *websocket.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws
}

// switchSession follows the server's session switch (spec §2.5): any
// response carrying args.session with an _id makes that session current.
func (c *Client) switchSession(res *Response) {
	raw, ok := res.rawArg("session")
	if !ok {
		return
	}
	s, err := decodeSession(raw)
	if err != nil || s.ID == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.ID == AnonSessionID {
		c.key, c.sid, c.session = c.anonToken, AnonSessionID, nil
		return
	}
	if s.Token == "" {
		c.log.Warn("limp client: session without token in response; keeping the current signing key", "session", s.ID)
		return
	}
	c.key, c.sid, c.session = s.Token, s.ID, s
}

func (c *Client) heartbeatLoop(every time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.bgCtx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(c.bgCtx, every)
			if err := c.Heartbeat(ctx); err != nil && !errors.Is(err, ErrClosed) && ctx.Err() == nil {
				c.log.Warn("limp client: heartbeat failed", "err", err)
			}
			cancel()
		}
	}
}

// Heartbeat calls heart/beat, which refreshes the server's idle timer.
func (c *Client) Heartbeat(ctx context.Context) error {
	_, err := c.Call(ctx, "heart/beat", nil, nil)
	return err
}

// newCallID returns a call id unique on this connection.
func (c *Client) newCallIDLocked() string {
	c.nextID++
	return strconv.FormatUint(c.nextID, 36)
}
