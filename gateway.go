package limp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"
)

// Gateways (spec §6.19; issue 16 item 3).
//
// App.Send hands a message to a gateway by name: the built-in "email"
// gateway (SMTP through github.com/wneessen/go-mail) or one the app
// registered with App.Gateway. Sending is off the call path: Send only
// checks the message and queues it (a bounded queue; a full one refuses
// with 503 CORE_GATEWAY_BUSY), and one worker goroutine owned by the App
// delivers it, retrying a failed delivery up to three more times with
// exponential backoff (1 s, 2 s, 4 s), then logging it as lost. Shutdown
// waits for the queue to drain; when its context ends, deliveries in
// flight are canceled.

// EmailAuth is an SMTP account (LIMP's email_auth).
type EmailAuth struct {
	// Server is the SMTP server, host:port; the port defaults to 465.
	Server string
	// Username and Password sign in with AUTH PLAIN (over TLS only);
	// empty Username sends without signing in.
	Username string
	Password string
	// From is the sender address; default Username.
	From string
	// StartTLS connects in plain text and upgrades with STARTTLS (port
	// 587, required); the default is implicit TLS (SMTPS, as LIMP's
	// SMTP_SSL).
	StartTLS bool
	// TLSConfig sets the TLS client's roots and server name; nil uses the
	// system roots and Server's host.
	TLSConfig *tls.Config
}

// LogValue keeps the password out of logs.
func (e EmailAuth) LogValue() slog.Value {
	return slog.GroupValue(slog.String("server", e.Server), slog.String("username", e.Username))
}

// Email is a message for the email gateway (spec §6.19's kwargs).
type Email struct {
	Subject string
	// To are the recipients (addr_to).
	To []string
	// Content is the body; HTML sends it as text/html
	// (content_format 'html'), otherwise text/plain.
	Content string
	HTML    bool
	// Files are attachments.
	Files []EmailFile
	// Auth overrides Config.EmailAuth for this message.
	Auth *EmailAuth
}

// EmailFile is an attachment.
type EmailFile struct {
	Name    string
	Content []byte
}

// GatewayFunc delivers one message of an app gateway. It runs on the
// gateway worker, never on a call; an error is retried.
type GatewayFunc func(ctx context.Context, msg M) error

// ErrGatewayBusy is the *Error of a Send whose queue is full.
var ErrGatewayBusy = &Error{Status: 503, Code: "CORE_GATEWAY_BUSY", Msg: "Gateway queue is full."}

// gatewayQueueSize bounds the messages waiting to be sent.
const gatewayQueueSize = 256

type gatewayState struct {
	mu      sync.RWMutex // closed and sends to queue
	closed  bool
	fns     map[string]GatewayFunc
	queue   chan outMsg
	backoff time.Duration // first retry delay; default 1 s
	retries int           // retries after the first attempt; default 3
}

type outMsg struct {
	gateway string
	send    func(ctx context.Context) error
}

// Gateway registers an app gateway called name (not "email"). Must be
// called before Start.
func (a *App) Gateway(name string, fn GatewayFunc) {
	if a.gw.fns == nil {
		a.gw.fns = map[string]GatewayFunc{}
	}
	a.gw.fns[name] = fn
}

// Send queues msg for gateway name: "email" takes the keys of spec §6.19
// (subject, addr_to string or list, content, content_format 'html' or
// 'plain', files [{name, content}], email_auth {server, username,
// password}); any other name goes to the GatewayFunc registered as name.
// It returns once the message is queued: a 400 *Error for an unknown
// gateway or a bad email, ErrGatewayBusy when the queue is full. Safe for
// concurrent use after Start.
func (a *App) Send(ctx context.Context, name string, msg M) error {
	if name == "email" {
		e, err := emailFromM(msg)
		if err != nil {
			return err
		}
		return a.SendEmail(ctx, e)
	}
	fn := a.gw.fns[name]
	if fn == nil {
		return &Error{Status: 400, Code: "CORE_GATEWAY_UNKNOWN", Msg: fmt.Sprintf("Gateway %q is not registered.", name)}
	}
	m := deepCopy(map[string]any(msg)).(map[string]any)
	return a.enqueue(ctx, outMsg{gateway: name, send: func(ctx context.Context) error { return fn(ctx, m) }})
}

// SendEmail queues e for the email gateway (see Send).
func (a *App) SendEmail(ctx context.Context, e Email) error {
	auth := e.Auth
	if auth == nil {
		auth = a.cfg.EmailAuth
	}
	if auth == nil || auth.Server == "" {
		return &Error{Status: 400, Code: "CORE_GATEWAY_EMAIL_AUTH", Msg: "Email gateway has no Config.EmailAuth."}
	}
	msg, err := buildEmail(auth, e)
	if err != nil {
		return &Error{Status: 400, Code: "CORE_GATEWAY_INVALID_EMAIL", Msg: "Email is invalid: " + err.Error()}
	}
	au := *auth
	return a.enqueue(ctx, outMsg{gateway: "email", send: func(ctx context.Context) error { return sendSMTP(ctx, &au, msg) }})
}

func (a *App) enqueue(ctx context.Context, m outMsg) error {
	a.gw.mu.RLock()
	defer a.gw.mu.RUnlock()
	if a.gw.queue == nil || a.gw.closed {
		return &Error{Status: 503, Code: "CORE_GATEWAY_STOPPED", Msg: "Gateways are not running."}
	}
	select {
	case a.gw.queue <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	default:
		return ErrGatewayBusy
	}
}

// startGateways starts the gateway worker (Start).
func (a *App) startGateways() {
	if a.gw.backoff == 0 {
		a.gw.backoff = time.Second
	}
	if a.gw.retries == 0 {
		a.gw.retries = 3
	}
	a.gw.queue = make(chan outMsg, gatewayQueueSize)
	a.bgWG.Add(1)
	go a.gatewayWorker()
}

// gatewayWorker delivers queued messages until Shutdown has begun and the
// queue is empty.
func (a *App) gatewayWorker() {
	defer a.bgWG.Done()
	for {
		select {
		case m := <-a.gw.queue:
			a.deliver(m)
		case <-a.drain:
			// No Send queues anything after this: what is queued is
			// all there is to deliver.
			a.gw.mu.Lock()
			a.gw.closed = true
			a.gw.mu.Unlock()
			for {
				select {
				case m := <-a.gw.queue:
					a.deliver(m)
				default:
					return
				}
			}
		}
	}
}

// deliver sends m, retrying with backoff.
func (a *App) deliver(m outMsg) {
	delay := a.gw.backoff
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(a.hardCtx, time.Minute)
		err := m.send(ctx)
		cancel()
		if err == nil {
			return
		}
		if attempt >= a.gw.retries || a.hardCtx.Err() != nil {
			a.log.Error("gateway: message lost", "gateway", m.gateway, "attempts", attempt+1, "err", err)
			return
		}
		a.log.Warn("gateway: send failed; retrying", "gateway", m.gateway, "attempt", attempt+1, "in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-a.hardCtx.Done():
			t.Stop()
		}
		delay *= 2
	}
}

// emailFromM reads spec §6.19's email kwargs.
func emailFromM(msg M) (Email, error) {
	bad := func(f string, args ...any) error {
		return &Error{Status: 400, Code: "CORE_GATEWAY_INVALID_EMAIL", Msg: "Email is invalid: " + fmt.Sprintf(f, args...)}
	}
	var e Email
	e.Subject, _ = msg["subject"].(string)
	e.Content, _ = msg["content"].(string)
	switch f := msg["content_format"]; f {
	case nil, "plain":
	case "html":
		e.HTML = true
	default:
		return e, bad("content_format %v is not html or plain", f)
	}
	switch to := msg["addr_to"].(type) {
	case string:
		e.To = []string{to}
	case []string:
		e.To = to
	case []any:
		for _, x := range to {
			s, ok := x.(string)
			if !ok {
				return e, bad("addr_to holds a non-string")
			}
			e.To = append(e.To, s)
		}
	default:
		return e, bad("addr_to is missing")
	}
	if fs, ok := msg["files"].([]any); ok {
		for _, f := range fs {
			fm, _ := f.(map[string]any)
			name, _ := fm["name"].(string)
			var content []byte
			switch c := fm["content"].(type) {
			case []byte:
				content = c
			case string:
				content = []byte(c)
			default:
				return e, bad("file %q has no content", name)
			}
			e.Files = append(e.Files, EmailFile{Name: name, Content: content})
		}
	}
	if au, ok := msg["email_auth"].(map[string]any); ok {
		s := func(k string) string { v, _ := au[k].(string); return v }
		e.Auth = &EmailAuth{Server: s("server"), Username: s("username"), Password: s("password")}
	}
	return e, nil
}

// buildEmail checks e and builds its message.
func buildEmail(auth *EmailAuth, e Email) (*mail.Msg, error) {
	if len(e.To) == 0 {
		return nil, errors.New("no recipient")
	}
	m := mail.NewMsg()
	from := auth.From
	if from == "" {
		from = auth.Username
	}
	if err := m.From(from); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := m.To(e.To...); err != nil {
		return nil, fmt.Errorf("addr_to: %w", err)
	}
	m.Subject(e.Subject)
	ct := mail.TypeTextPlain
	if e.HTML {
		ct = mail.TypeTextHTML
	}
	m.SetBodyString(ct, e.Content)
	for _, f := range e.Files {
		if f.Name == "" {
			return nil, errors.New("a file has no name")
		}
		if err := m.AttachReader(f.Name, bytes.NewReader(f.Content)); err != nil {
			return nil, fmt.Errorf("file %q: %w", f.Name, err)
		}
	}
	return m, nil
}

// sendSMTP delivers msg over TLS.
func sendSMTP(ctx context.Context, auth *EmailAuth, msg *mail.Msg) error {
	host, portS, err := net.SplitHostPort(auth.Server)
	if err != nil {
		host, portS = auth.Server, "465"
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return fmt.Errorf("email server %q: bad port", auth.Server)
	}
	tc := auth.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTLSConfig(tc), mail.WithTimeout(30 * time.Second)}
	if auth.StartTLS {
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	} else {
		opts = append(opts, mail.WithSSL())
	}
	if auth.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(auth.Username), mail.WithPassword(auth.Password))
	}
	c, err := mail.NewClient(host, opts...)
	if err != nil {
		return err
	}
	return c.DialAndSendWithContext(ctx, msg)
}
