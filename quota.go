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

// count returns key's count in the current window without counting.
func (l *limiter) count(key string, d time.Duration) int {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.wins[key]
	if !ok || now.Sub(w.start) >= d {
		return 0
	}
	return w.n
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

// checkThrottle refuses a sign-in attempt, before any hashing, when the
// account or the IP has failed too often within the window.
func (a *App) checkThrottle(ip, account string) error {
	d := a.cfg.AuthFailureWindow
	if a.authFails.count("acct:"+account, d) >= a.cfg.AuthFailuresAccount ||
		a.authFails.count("ip:"+ip, d) >= a.cfg.AuthFailuresIP {
		return errAuthThrottled
	}
	return nil
}

func (a *App) recordAuthFailure(ip, account string) {
	d := a.cfg.AuthFailureWindow
	a.authFails.hit("acct:"+account, d, 1<<30)
	a.authFails.hit("ip:"+ip, d, 1<<30)
}

func (a *App) clearAuthFailures(account string) { a.authFails.reset("acct:" + account) }
