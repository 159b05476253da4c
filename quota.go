package limp

import (
	"context"
	"net/netip"
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

// limiter holds windows by key, pruning expired ones as it grows. It
// holds at most max windows (default maxLimiterKeys): a new key in a full
// table drops an arbitrary one, so memory is bounded whatever the keys.
type limiter struct {
	mu   sync.Mutex
	wins map[string]*window
	next time.Time // next prune
	max  int
}

// maxLimiterKeys bounds a limiter's table (about 100 bytes a key).
const maxLimiterKeys = 1 << 17

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
		limit := l.max
		if limit <= 0 {
			limit = maxLimiterKeys
		}
		for k := range l.wins {
			if len(l.wins) < limit {
				break
			}
			delete(l.wins, k)
		}
		w = &window{start: now}
		l.wins[key] = w
	}
	return w
}

// hitN counts one event for key in a window of length d and returns the
// window's count.
func (l *limiter) hitN(key string, d time.Duration) int {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.window(key, now, d)
	w.hit(now, d, 0)
	return w.n
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

// Sign-in throttling (issue 10 item 2; OWASP Authentication Cheat Sheet,
// "Protect against automated attacks", and its warning that account
// lockout lets anyone lock anyone out). Every sign-in attempt (auth,
// reauth, a current-credential check) is counted when it starts, before
// any hashing, under three keys within Config.AuthFailureWindow:
//
//   - the (account, IP) pair: over Config.AuthFailuresAccount the attempt
//     is refused (429 CORE_SESSION_AUTH_THROTTLED) without running argon2;
//   - the IP (IPv6 by /64): over Config.AuthFailuresIP, refused likewise;
//   - the account across IPs: over Config.AuthFailuresAccountAll (much
//     higher) the account is under a distributed attack. Attempts from an
//     IP that already failed on the account are then refused; an attempt
//     from an IP that has not failed on it still runs, after a delay that
//     grows with the attack (authDelay), so the owner can still sign in
//     while guessing is slowed to a crawl. The first attempt over the
//     limit is logged (warning), as is the first refusal of each
//     (account, IP) pair and IP (info).
//
// A success forgets the pair's attempts and gives its attempt back to the
// IP and the account. The tables are bounded (limiter.max): when full, an
// arbitrary entry is dropped, so memory stays bounded under any spread of
// addresses.

// authAttackTries is how many attempts on an account under a distributed
// attack (over Config.AuthFailuresAccountAll) one IP may make within the
// window, each after authDelay: enough for an owner's typo, too few to
// guess with.
const authAttackTries = 3

// authDelay is the wait before verifying an attempt on an account over its
// account-wide limit: 100 ms plus 50 ms per attempt over it, at most 5 s.
func authDelay(over int) time.Duration {
	return min(5*time.Second, 100*time.Millisecond+time.Duration(over)*50*time.Millisecond)
}

// throttleIP is the IP key of the throttle: an IPv6 address counts by its
// /64 (one host usually holds a whole /64).
func throttleIP(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil || addr.Is4() || addr.Is4In6() {
		return ip
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// checkThrottle counts a sign-in attempt on account from ip and refuses
// it, before any hashing, as the policy above says; it may wait (under
// ctx) before letting it run.
func (a *App) checkThrottle(ctx context.Context, ip, account string) error {
	d := a.cfg.AuthFailureWindow
	ip = throttleIP(ip)
	pair := a.authFails.hitN("pair:"+account+"|"+ip, d)
	nIP := a.authFails.hitN("ip:"+ip, d)
	log := a.Logger()
	switch {
	case pair > a.cfg.AuthFailuresAccount:
		if pair == a.cfg.AuthFailuresAccount+1 {
			log.Info("sign-in throttled: too many attempts on the account from this IP", "account", account, "ip", ip, "window", d)
		}
		return errAuthThrottled
	case nIP > a.cfg.AuthFailuresIP:
		if nIP == a.cfg.AuthFailuresIP+1 {
			log.Info("sign-in throttled: too many attempts from this IP", "ip", ip, "window", d)
		}
		return errAuthThrottled
	}
	// Only attempts that get checked count account-wide: one IP hammering
	// at its refusals does not slow everyone else down.
	over := a.authFails.hitN("acct:"+account, d) - a.cfg.AuthFailuresAccountAll
	if over <= 0 {
		return nil
	}
	if over == 1 {
		log.Warn("sign-in attempts on one account from many IPs: slowing them down", "account", account, "limit", a.cfg.AuthFailuresAccountAll, "window", d)
	}
	if pair > authAttackTries {
		// This IP already made its few tries on the account during the
		// attack (a typo or two of the owner's still goes through).
		return errAuthThrottled
	}
	t := time.NewTimer(authDelay(over))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// clearAuthFailures forgets the pair's attempts and gives the IP and the
// account their attempt back after a success.
func (a *App) clearAuthFailures(ip, account string) {
	ip = throttleIP(ip)
	a.authFails.reset("pair:" + account + "|" + ip)
	a.authFails.add("ip:"+ip, -1)
	a.authFails.add("acct:"+account, -1)
}
