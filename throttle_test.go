package limp_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/limp-go/limp"
)

// dialFrom connects to url from the loopback address ip (127.0.0.0/8), so
// tests can play several client IPs.
func dialFrom(t testing.TB, url, ip string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial %s from %s: %v", url, ip, err)
	}
	c := &wsClient{t: t, ws: ws, key: limp.DefaultAnonToken}
	t.Cleanup(func() { _ = ws.CloseNow() })
	c.recv() // greeting
	return c
}

// syncBuf is a log sink for tests.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func adminAuth(t testing.TB, c *wsClient, password string) reply {
	t.Helper()
	return c.call("session/auth", nil, map[string]any{"email": limp.DefaultAdminEmail, "hash": authHash(t, limp.DefaultAdminEmail, password)})
}

// TestThrottleNoLockout is issue 10 item 2's reproduction: failures from
// one IP do not lock the account for another IP.
func TestThrottleNoLockout(t *testing.T) {
	s := testApp(t, limp.Config{})
	attacker := dialFrom(t, s.WS, "127.0.0.2")
	for range 10 {
		wantErr(t, adminAuth(t, attacker, "wrong"), 403, limp.CodeInvalidCreds)
	}
	wantErr(t, adminAuth(t, attacker, "wrong"), 429, limp.CodeSessionAuthThrottle)
	// The owner, from another IP, signs in at once.
	must(t, adminAuth(t, dialFrom(t, s.WS, "127.0.0.3"), limp.DefaultAdminPassword))
	// The attacker's IP stays throttled on the account, even with the
	// right password, and no argon2 runs for it.
	before := limp.ArgonRuns()
	wantErr(t, adminAuth(t, attacker, limp.DefaultAdminPassword), 429, limp.CodeSessionAuthThrottle)
	if n := limp.ArgonRuns() - before; n != 0 {
		t.Fatalf("a throttled attempt ran argon2 %d times", n)
	}
}

// TestThrottleDistributed: an attack on one account from many IPs is
// slowed and logged; IPs that took part are refused; an IP that has not
// failed still signs in.
func TestThrottleDistributed(t *testing.T) {
	var logs syncBuf
	s := testApp(t, limp.Config{AuthFailuresAccount: 3, AuthFailuresAccountAll: 6,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	a2, a3, a4 := dialFrom(t, s.WS, "127.0.0.2"), dialFrom(t, s.WS, "127.0.0.3"), dialFrom(t, s.WS, "127.0.0.4")
	for range 3 {
		wantErr(t, adminAuth(t, a2, "wrong"), 403, limp.CodeInvalidCreds)
		wantErr(t, adminAuth(t, a3, "wrong"), 403, limp.CodeInvalidCreds)
	}
	if strings.Contains(logs.String(), "many IPs") {
		t.Fatal("logged an attack below the account-wide limit")
	}
	// Over the account-wide limit: a new IP is still checked (slowly)...
	wantErr(t, adminAuth(t, a4, "wrong"), 403, limp.CodeInvalidCreds)
	if !strings.Contains(logs.String(), "many IPs") {
		t.Fatalf("the account-wide limit was not logged:\n%s", logs.String())
	}
	// ...and a typo there still lets the owner in (a few tries per IP)...
	a5 := dialFrom(t, s.WS, "127.0.0.5")
	wantErr(t, adminAuth(t, a5, "typo"), 403, limp.CodeInvalidCreds)
	must(t, adminAuth(t, dialFrom(t, s.WS, "127.0.0.5"), limp.DefaultAdminPassword))
	// ...but an IP gets only those few tries during the attack.
	wantErr(t, adminAuth(t, a4, "wrong"), 403, limp.CodeInvalidCreds)
	wantErr(t, adminAuth(t, a4, "wrong"), 403, limp.CodeInvalidCreds)
	before := limp.ArgonRuns()
	wantErr(t, adminAuth(t, a4, "wrong"), 429, limp.CodeSessionAuthThrottle)
	wantErr(t, adminAuth(t, a2, limp.DefaultAdminPassword), 429, limp.CodeSessionAuthThrottle)
	if n := limp.ArgonRuns() - before; n != 0 {
		t.Fatalf("throttled attempts ran argon2 %d times", n)
	}
	// The owner, from an IP that has not failed, signs in.
	must(t, adminAuth(t, dialFrom(t, s.WS, "127.0.0.6"), limp.DefaultAdminPassword))
}
