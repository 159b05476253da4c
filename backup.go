package limp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/limp-go/limp/internal/store/sqlite"
)

// backupCLI serves --backup FILE: it opens the embedded store named by
// Config.Data (which must exist) beside any process serving it, and
// copies it with Backup's guarantees. The app is not started: nothing is
// written to the store.
func (a *App) backupCLI(ctx context.Context, path string, stdout io.Writer) error {
	if a.cfg.Env != "" {
		if f, ok := a.cfg.Envs[a.cfg.Env]; ok {
			f(&a.cfg)
		}
	}
	a.cfg.setDefaults()
	data := a.cfg.Data
	switch {
	case isMongo(data):
		return errors.New("limp: --backup copies the embedded store; on MongoDB use mongodump")
	case isMemData(data):
		return errors.New("limp: --backup: the store is in memory")
	}
	if _, err := os.Stat(data); err != nil {
		return fmt.Errorf("limp: --backup: %w", err)
	}
	st, err := sqlite.Open(ctx, data, &sqlite.Options{Logger: a.Logger()})
	if err != nil {
		return fmt.Errorf("limp: --backup: %w", err)
	}
	defer st.Close()
	dir := a.cfg.FilesDir
	if dir == "" {
		dir = data + ".files"
	}
	if err := backupTo(ctx, st, dir, path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", data, path)
	return nil
}

// logURLs logs where clients connect: the websocket URL (in realm mode
// the global realm's, /ws/__global), the health
// URL, the metrics URL when Config.MetricsPath is set and the console URL
// when the console is served (a listener on every interface is shown as
// localhost).
func (a *App) logURLs(addr net.Addr) {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	base := net.JoinHostPort(host, port)
	ws := "/ws"
	if a.cfg.Realm {
		// Realm mode refuses /ws: ADMIN's realm; others at /ws/{realm}.
		ws += "/" + GlobalRealm
	}
	args := []any{"ws", "ws://" + base + ws, "health", "http://" + base + HealthPath}
	if a.cfg.MetricsPath != "" {
		args = append(args, "metrics", "http://"+base+a.cfg.MetricsPath)
	}
	if a.ConsoleEnabled() {
		args = append(args, "console", "http://"+base+consolePath+"/")
	}
	a.Logger().Info("connect", args...)
}
