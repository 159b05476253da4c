package limp

import (
	"sync"
	"time"
)

// window is a fixed one-window counter.
type window struct {
	start time.Time
	n     int
}

// hit counts one event in a window of length d and reports whether the
// count is within limit.
func (w *window) hit(now time.Time, d time.Duration, limit int) bool {
	if now.Sub(w.start) >= d {
		w.start, w.n = now, 0
	}
	w.n++
	return w.n <= limit
}

// limiter holds windows by key, pruning expired ones as it grows.
type limiter struct {
	mu   sync.Mutex
	wins map[string]*window
	next time.Time // next prune
}

func (l *limiter) window(key string, now time.Time, d time.Duration) *window {
	if l.wins == nil {
		l.wins = map[string]*window{}
	}
	if now.After(l.next) {
		for k, w := range l.wins {
			if now.Sub(w.start) >= d {
				delete(l.wins, k)
			}
		}
		l.next = now.Add(d)
	}
	w := l.wins[key]
	if w == nil {
		w = &window{start: now}
		l.wins[key] = w
	}
	return w
}

// hit counts one event for key; false means over limit.
func (l *limiter) hit(key string, d time.Duration, limit int) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.window(key, now, d).hit(now, d, limit)
}

// add changes key's count in its current window by delta (not below 0).
func (l *limiter) add(key string, delta int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w, ok := l.wins[key]; ok {
		w.n = max(0, w.n+delta)
	}
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.wins, key)
}

// checkIPQuota counts a call from ip against Config.QuotaIPMin (per
// minute, websocket and HTTP together).
func (a *App) checkIPQuota(ip string) error {
	if a.cfg.QuotaIPMin < 0 {
		return nil
	}
	if !a.ipQuota.hit(ip, time.Minute, a.cfg.QuotaIPMin) {
		return errIPQuota
	}
	return nil
}

// checkSessionQuota counts a call of a connection against its per-minute
// quota: QuotaAnonMin while ANON, QuotaAuthMin once signed in.
func (c *conn) checkSessionQuota(anon bool) error {
	limit := c.app.cfg.QuotaAuthMin
	if anon {
		limit = c.app.cfg.QuotaAnonMin
	}
	if limit < 0 {
		return nil
	}
	c.quotaMu.Lock()
	defer c.quotaMu.Unlock()
	if !c.quota.hit(time.Now(), time.Minute, limit) {
		return errSessionQuota
	}
	return nil
}

// checkQuotas counts one websocket frame against the IP quota and, unless
// that declines it, the connection's quota.
func (c *conn) checkQuotas(sess *Session) error {
	if err := c.app.checkIPQuota(c.ip); err != nil {
		return err
	}
	return c.checkSessionQuota(sess.Anon())
}

// checkThrottle counts a sign-in attempt (auth, reauth, or a credential
// check) against the account and the IP, and refuses it, before any
// hashing, when either has made too many within the window. Attempts are
// counted when they start, so a burst of concurrent attempts cannot slip
// past the limit before the first failures are recorded; a success gives
// its attempt back (clearAuthFailures).
func (a *App) checkThrottle(ip, account string) error {
	d := a.cfg.AuthFailureWindow
	okAcct := a.authFails.hit("acct:"+account, d, a.cfg.AuthFailuresAccount)
	okIP := a.authFails.hit("ip:"+ip, d, a.cfg.AuthFailuresIP)
	if !okAcct || !okIP {
		return errAuthThrottled
	}
	return nil
}

// clearAuthFailures forgets the account's attempts and gives the IP its
// attempt back after a success.
func (a *App) clearAuthFailures(ip, account string) {
	a.authFails.reset("acct:" + account)
	a.authFails.add("ip:"+ip, -1)
}
