package limp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/limp-go/limp/internal/jsonv"
)

// conn is one websocket connection. Its serve loop owns a reader goroutine
// and every call goroutine, bounds calls in flight and waits for all of
// them before closing.
type conn struct {
	app    *App
	ws     *websocket.Conn
	nc     net.Conn // the hijacked connection under ws, a *progressConn (outbox.go)
	ip, ua string
	origin string

	session   atomic.Pointer[Session]
	verified  atomic.Bool
	clientApp atomic.Pointer[string]
	lastCall  atomic.Int64 // unix nanos of the last accepted frame

	// ctx is canceled when the serve loop must stop reading; hard when
	// the connection must die at once (forced shutdown). Replies and calls
	// run under hard, so a graceful close lets calls in flight finish.
	ctx        context.Context
	cancel     context.CancelFunc
	hard       context.Context
	hardCancel context.CancelFunc
	// callCtx (a child of hard) is what calls run under; it is also
	// canceled when the client stops reading its replies (outbox.go).
	callCtx    context.Context
	callCancel context.CancelFunc

	out outbox // replies waiting to be written (outbox.go)

	closeMu     sync.Mutex
	closeStatus websocket.StatusCode
	closeReason string

	uploads atomic.Pointer[uploads] // created by the first upload

	// frameBuf and payloadBuf are kept by the reader goroutine across
	// the chunks of a file upload (megabytes each), and let go otherwise.
	frameBuf   *bytes.Buffer
	payloadBuf []byte

	quotaMu sync.Mutex
	quota   window // calls this minute (spec §2.4 step 2)

	mac macCache // the reader goroutine's JWT verification state (jwtcache.go)
}

// frameBufs recycles the buffers frames are read into: a large frame (a
// file chunk) then costs one buffer from the pool instead of the
// doubling garbage of io.ReadAll.
var frameBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readFrame reads one message into a pooled buffer; the caller returns
// the buffer with putFrameBuf once done with data.
func (c *conn) readFrame() (websocket.MessageType, []byte, *bytes.Buffer, error) {
	// No cancelable context: its expiry would drop the TCP connection
	// without a close handshake.
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return 0, nil, nil, err
	}
	buf := c.frameBuf
	if buf == nil {
		buf = frameBufs.Get().(*bytes.Buffer)
	}
	c.frameBuf = nil
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		putFrameBuf(buf)
		return 0, nil, nil, err
	}
	return typ, buf.Bytes(), buf, nil
}

func putFrameBuf(b *bytes.Buffer) {
	if b != nil && b.Cap() <= 8<<20 {
		frameBufs.Put(b)
	}
}

// heartbeatArgs are the args of every heart/beat reply (read-only).
var heartbeatArgs = M{"code": CodeHeartbeatOK}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (a *App) serveWS(w http.ResponseWriter, r *http.Request) {
	hw := &hijackConn{ResponseWriter: w, timeout: a.cfg.WriteTimeout}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		// Origins are checked by conn/verify against Config.ClientApps,
		// as LIMP does; browsers of any origin may connect otherwise.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionNoContextTakeover,
	})
	if err != nil {
		return // Accept has replied
	}
	ws.SetReadLimit(a.cfg.MaxFrameSize)
	c := &conn{app: a, ws: ws, nc: hw.nc, ip: remoteIP(r), ua: r.Header.Get("User-Agent"), origin: r.Header.Get("Origin")}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.hard, c.hardCancel = context.WithCancel(connContext(r)) // realm.go
	c.callCtx, c.callCancel = context.WithCancel(c.hard)
	c.session.Store(a.anon)
	c.lastCall.Store(time.Now().UnixNano())
	if len(a.cfg.ClientApps) == 0 {
		pub := "__public"
		c.clientApp.Store(&pub)
	}

	a.connsMu.Lock()
	if a.stopping.Load() {
		a.connsMu.Unlock()
		_ = ws.Close(websocket.StatusGoingAway, "server is shutting down")
		return
	}
	a.conns[c] = struct{}{}
	a.connWG.Add(1)
	a.connsMu.Unlock()
	defer func() {
		a.connsMu.Lock()
		delete(a.conns, c)
		a.connsMu.Unlock()
		a.connWG.Done()
	}()
	c.serve()
}

// closeWith asks the serve loop to stop and close with status and reason.
func (c *conn) closeWith(status websocket.StatusCode, reason string) {
	c.closeMu.Lock()
	if c.closeStatus == 0 {
		c.closeStatus, c.closeReason = status, reason
	}
	c.closeMu.Unlock()
	c.cancel()
}

// abort closes the connection at once (forced shutdown).
func (c *conn) abort() {
	c.closeWith(websocket.StatusGoingAway, "server is shutting down")
	c.hardCancel()
	if c.nc != nil {
		_ = c.nc.Close() // ends a close handshake under way too
	}
	_ = c.ws.CloseNow()
}

func (c *conn) mustVerify() bool { return len(c.app.cfg.ClientApps) > 0 }

func (c *conn) serve() {
	a := c.app
	defer c.cancel()
	defer c.hardCancel()
	defer c.callCancel()
	c.startWriter()
	c.reply(200, "Connection ready", M{"code": CodeConnReady}, nil, false)

	// The reader goroutine reads frames and does their cheap, ordered
	// part itself (prepare: JWT, protocol endpoints); method calls run
	// in goroutines bounded by sem, and a full sem stops the reading
	// (back-pressure). This goroutine watches the idle timer, close
	// requests and the server's drain.
	sem := make(chan struct{}, a.cfg.CallsInFlight)
	var calls sync.WaitGroup
	var callsMu sync.Mutex // guards stopped against calls.Add after Wait
	stopped := false
	readErr := make(chan error, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			typ, data, buf, err := c.readFrame()
			if err != nil {
				readErr <- err
				return
			}
			if c.ctx.Err() != nil {
				putFrameBuf(buf)
				return // stopped reading: closing or draining
			}
			if typ != websocket.MessageText {
				putFrameBuf(buf)
				continue // LIMP ignores binary frames
			}
			c.lastCall.Store(time.Now().UnixNano())
			call := c.safePrepare(data) // keeps no reference to data
			if call != nil && call.Endpoint == "file/upload" {
				// The next chunk is as large: keep the buffers.
				c.frameBuf = buf
				if c.payloadBuf == nil {
					c.payloadBuf = make([]byte, 0, len(data))
				}
			} else {
				putFrameBuf(buf)
				c.frameBuf, c.payloadBuf = nil, nil
			}
			if call == nil {
				continue
			}
			if c.mustVerify() && !c.verified.Load() {
				// Until verified, calls run one at a time.
				c.execute(call)
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-c.ctx.Done():
				return
			}
			callsMu.Lock()
			if stopped {
				callsMu.Unlock()
				<-sem
				return
			}
			calls.Add(1)
			callsMu.Unlock()
			a.workers.run(func() { // workers.go
				defer calls.Done()
				defer func() { <-sem }()
				c.execute(call)
			})
		}
	}()

	idle := time.NewTimer(a.cfg.ConnTimeout)
	defer idle.Stop()
loop:
	for {
		select {
		case err := <-readErr:
			var ce websocket.CloseError
			if !errors.As(err, &ce) && !errors.Is(err, context.Canceled) {
				a.Logger().Debug("websocket read ended", "ip", c.ip, "err", err)
			}
			break loop
		case <-idle.C:
			since := time.Since(time.Unix(0, c.lastCall.Load()))
			if since >= a.cfg.ConnTimeout {
				c.closeWith(websocket.StatusNormalClosure, "idle timeout")
				break loop
			}
			idle.Reset(a.cfg.ConnTimeout - since)
		case <-c.ctx.Done():
			break loop
		case <-a.drain:
			c.closeWith(websocket.StatusGoingAway, "server is shutting down")
			break loop
		}
	}
	c.cancel() // the reader starts no new call
	callsMu.Lock()
	stopped = true
	callsMu.Unlock()
	calls.Wait() // drain: calls in flight finish and reply
	a.endWatches(c)
	c.stopWriter() // the replies are written (each under its deadline)
	c.closeMu.Lock()
	status, reason := c.closeStatus, c.closeReason
	c.closeMu.Unlock()
	if status == 0 {
		status = websocket.StatusNormalClosure
	}
	c.cancel()
	c.closeBounded(status, reason)
	<-readerDone
	if u := c.uploads.Load(); u != nil {
		u.discardAll()
	}
}

// reply queues one reply envelope for the connection's writer. A closed
// connection drops it: the loop notices the closed connection on its own.
func (c *conn) reply(status int, msg string, args M, callID any, withID bool) {
	bp := bufPool.Get().(*[]byte)
	b, err := encodeReply((*bp)[:0], status, msg, args, callID, withID)
	if err != nil {
		c.app.Logger().Error("encode reply", "err", err)
		b, _ = encodeReply((*bp)[:0], 500, msgServerError, M{"code": CodeServerError}, callID, withID)
	}
	*bp = b
	c.send(bp) // outbox.go: queued; waits while the queue is full
}

func (c *conn) replyErr(err error, callID any, endpoint string) {
	status, msg, args := c.app.wireError(err, endpoint)
	c.reply(status, msg, args, callID, true)
}

// prepare does the cheap, ordered part of a frame (spec §2.4): decode,
// JWT, quotas, protocol endpoints and dispatch. It replies itself and
// returns nil for anything that is not a method call; the serve loop runs
// it inline, so protocol calls cost no goroutine.
func (c *conn) prepare(data []byte) *Call {
	a := c.app
	sess := c.session.Load()
	// Quotas count every frame, valid or not, before it is decoded (spec
	// §2.4 steps 1–2), so invalid frames cost no more than valid ones.
	// A declined frame is not decoded: the reply echoes the outer call_id
	// when the frame is the usual plain one.
	if err := c.checkQuotas(sess); err != nil {
		f, _ := decodeFrameFast(data)
		c.replyErr(err, f.callID, "")
		return nil
	}
	f, err := decodeFrame(data)
	if err != nil {
		c.replyErr(err, f.callID, "")
		c.closeIfUnverified()
		return nil
	}
	payload, err := c.mac.verify(f.token, sess.token, c.payloadBuf) // jwtcache.go
	var cl *claims
	if err == nil {
		cl, err = payloadClaims(payload, time.Now(), jsonv.Limits{MaxValues: a.cfg.MaxFrameValues, MaxDepth: a.cfg.MaxFrameDepth})
	}
	if err != nil {
		c.replyErr(errInvalidToken, f.callID, "")
		c.closeIfUnverified()
		return nil
	}
	callID := f.callID
	if cl.hasID {
		callID = cl.callID
	}
	if cl.endpoint == "" {
		c.replyErr(errNoEndpoint, callID, "")
		return nil
	}
	if cl.endpoint == "conn/verify" && (!c.verified.Load() || !c.mustVerify()) {
		c.verify(cl, callID)
		return nil
	}
	if c.mustVerify() && !c.verified.Load() {
		c.reply(errNoVerify.Status, errNoVerify.Msg, M{"code": errNoVerify.Code}, callID, true)
		c.closeWith(websocket.StatusPolicyViolation, "conn/verify required")
		return nil
	}
	switch cl.endpoint {
	case "conn/close":
		c.closeWith(websocket.StatusNormalClosure, "")
		return nil
	case "heart/beat":
		c.reply(200, "Heartbeat received.", heartbeatArgs, callID, true)
		return nil
	}
	if !sess.Anon() && !sess.Expiry.IsZero() && time.Now().After(sess.Expiry) {
		// Session expiry is enforced on live connections too: the
		// connection falls back to ANON.
		c.session.CompareAndSwap(sess, a.anon)
		c.reply(403, msgSessionExpired, M{"code": CodeSessionExpired, "session": M{"_id": AnonSessionID}}, callID, true)
		return nil
	}
	if a.stale(sess) {
		if sess = c.revalidate(sess, callID); sess == nil {
			return nil
		}
	}
	endpoint := strings.ToLower(cl.endpoint)
	switch {
	case (endpoint == "session/auth" || endpoint == "session/reauth") && !sess.Anon():
		c.replyErr(errAlreadyAuthed, callID, endpoint)
		return nil
	case endpoint == "session/signout" && sess.Anon():
		c.replyErr(errAnonSignout, callID, endpoint)
		return nil
	}
	if _, _, ok := splitEndpoint(endpoint); !ok {
		c.replyErr(errInvalidPath, callID, endpoint)
		return nil
	}
	q, err := queryFromWire(cl.query)
	if err != nil {
		c.replyErr(NewError(400, "CORE_REQ_INVALID_QUERY", "Query must be a list of steps."), callID, endpoint)
		return nil
	}
	call := &Call{Endpoint: endpoint, CallID: callID, Query: q, Doc: cl.doc(), Session: sess,
		RemoteAddr: c.ip, UserAgent: c.ua, Origin: c.origin, app: a, conn: c, wire: true}
	if p := c.clientApp.Load(); p != nil {
		call.ClientApp = *p
	}
	switch endpoint {
	case "file/upload":
		return call
	case "watch/delete":
		c.deleteWatch(q, callID)
		return nil
	}
	m, meth, err := a.dispatch(endpoint)
	if err == nil && meth.GetMethod {
		err = errGetMethod
	}
	if err != nil {
		c.replyErr(err, callID, endpoint)
		return nil
	}
	call.Module, call.Method = m, meth
	return call
}

// safePrepare is prepare with a panic turned into a 500 reply, so that no
// frame can take the server down.
func (c *conn) safePrepare(data []byte) (call *Call) {
	defer func() {
		if r := recover(); r != nil {
			call = nil
			c.replyErr(fmt.Errorf("panic handling a frame: %v\n%s", r, debug.Stack()), nil, "")
		}
	}()
	return c.prepare(data)
}

// execute runs a prepared call under the call timeout and replies.
func (c *conn) execute(call *Call) {
	start := c.app.metricsStart()
	ctx, cancel := context.WithTimeout(c.callCtx, c.app.cfg.CallTimeout)
	defer cancel()
	defer func() {
		// A.run recovers app code; this guards the framework's own
		// steps (uploads, attaching) so one call never kills the server.
		if r := recover(); r != nil {
			c.replyErr(fmt.Errorf("panic in %s: %v\n%s", call.Endpoint, r, debug.Stack()), call.CallID, call.Endpoint)
		}
	}()
	if call.Endpoint == "file/upload" {
		res, err := c.upload(ctx, call)
		c.finish(call, res, err, start)
		return
	}
	if !c.realmLive(ctx, call) { // realm.go
		return
	}
	if err := c.attachUploads(call); err != nil {
		c.finish(call, nil, err, start)
		return
	}
	c.app.callAnalytics(ctx, call) // analytic.go
	res, err := c.app.runClient(ctx, call)
	res, err = c.app.resultSession(ctx, call, res, err)
	c.finish(call, res, err, start)
}

// finish switches the session if the call asked for it, then replies and
// counts the call in the metrics (start: see App.metricsStart).
func (c *conn) finish(call *Call, res *Result, err error, start time.Time) {
	if err != nil {
		status, msg, args := c.app.wireError(err, call.Endpoint)
		c.reply(status, msg, args, call.CallID, true)
		c.app.observeCall(call.Endpoint, status, start)
		c.app.watchReplied(call, err)
		return
	}
	if s := call.switchTo; s != nil {
		c.session.Store(s)
	}
	c.reply(res.Status, res.Msg, res.Args, call.CallID, true)
	c.app.observeCall(call.Endpoint, res.Status, start)
	c.app.watchReplied(call, nil)
}

func (c *conn) closeIfUnverified() {
	if c.mustVerify() && !c.verified.Load() {
		c.closeWith(websocket.StatusPolicyViolation, "invalid token before conn/verify")
	}
}

// verify handles conn/verify (spec §2.3).
func (c *conn) verify(cl *claims, callID any) {
	apps := c.app.cfg.ClientApps
	if len(apps) == 0 {
		c.verified.Store(true)
		c.app.builtinAnalytic("app_conn_verified", &Call{Session: c.session.Load()}, AnalyticEvent{Event: EventConnVerified, Subevent: "__public",
			Args: M{"REMOTE_ADDR": c.ip, "HTTP_USER_AGENT": c.ua}})
		c.reply(200, "Connection establised", M{"code": CodeConnOK}, callID, true)
		return
	}
	appID, _ := cl.doc()["app"].(string)
	app, ok := apps[appID]
	if ok && app.Type == "web" && !slices.Contains(app.Hosts, c.origin) {
		ok = false
	}
	if !ok {
		c.reply(errNoVerify.Status, errNoVerify.Msg, M{"code": errNoVerify.Code}, callID, true)
		c.closeWith(websocket.StatusPolicyViolation, "client app not accepted")
		return
	}
	c.clientApp.Store(&appID)
	c.verified.Store(true)
	c.app.builtinAnalytic("app_conn_verified", &Call{Session: c.session.Load()}, AnalyticEvent{Event: EventConnVerified, Subevent: appID,
		Args: M{"REMOTE_ADDR": c.ip, "HTTP_USER_AGENT": c.ua}})
	c.reply(200, "Connection establised", M{"code": CodeConnOK}, callID, true)
}
