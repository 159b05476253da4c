package limp

import (
	"net"
	"strconv"
)

// insecureDefaults reports whether the app runs with the default admin
// password or the default anon token (LIMP's public quick-start values).
func (a *App) insecureDefaults() bool {
	return a.cfg.AdminPassword == DefaultAdminPassword || a.cfg.AnonToken == DefaultAnonToken
}

// listenAddr returns the address Run listens on (issue 10 item 7): flag
// (--listen or $LISTEN), else Config.Listen, else the port on every
// interface; but on loopback only while insecure defaults are in use and
// no address was named. It logs its choice when defaults are in use.
func (a *App) listenAddr(flag string, port int) string {
	addr := flag
	if addr == "" {
		addr = a.cfg.Listen
	}
	if !a.insecureDefaults() {
		if addr == "" {
			addr = ":" + strconv.Itoa(port)
		}
		return addr
	}
	if addr == "" {
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		a.Logger().Warn("the default admin password or anon token is in use: listening on loopback only; set Config.AdminPassword and Config.AnonToken, or name an address with --listen", "addr", addr)
		return addr
	}
	if !loopbackAddr(addr) {
		a.Logger().Warn("the default admin password or anon token is in use on a non-loopback address; anyone who can reach it can sign in as ADMIN", "addr", addr)
	}
	return addr
}

// loopbackAddr reports whether host:port names a loopback host.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
