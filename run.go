package limp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// Run runs the app as a LIMP daemon from a main: it parses LIMP's command
// line (spec §11.3) and environment, starts the app, serves it on its port
// until SIGINT or SIGTERM, then drains gracefully. It exits the process
// with status 1 on error.
//
//	--env ENV          select Config.Envs[ENV] (also $ENV)
//	--debug            debug logging and error details (also $DEBUG)
//	--packages a,b     load only these packages, plus core
//	-p, --port PORT    listen port, default 8081 (also $PORT)
//	--listen ADDR      listen address host:port (also $LISTEN, Config.Listen);
//	                   default all interfaces, or loopback only while the
//	                   default admin password or anon token is in use
//	--data PATH|URI    embedded store file, or mongodb:// URI (also $LIMP_DATA)
//	--durable          embedded store: sync every write to disk (Config.Durable)
//	--version          print versions and exit
//	--explain M Q      print what query Q (JSON) on module M compiles to and exit
//	--generate-ref F   write a Markdown API reference to F (- for stdout) and exit
//	--backup FILE      copy the embedded store (and its files) to FILE and exit;
//	                   safe while another process serves the same --data
//	--generate-ts DIR  write TypeScript types of the declarations to DIR/limp-api.ts and exit
func (a *App) Run() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.RunArgs(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
}

// runOptions is the parsed command line.
type runOptions struct {
	env, data, packages, listen string
	ref, explain, backup        string
	ts                          string
	port                        int
	debug, version, durable     bool
}

// RunArgs is Run with explicit arguments and output: it serves until ctx
// ends, then shuts down within Config.DrainTimeout. Tests and embedding
// programs use it.
func (a *App) RunArgs(ctx context.Context, args []string, stdout io.Writer) error {
	o := runOptions{env: os.Getenv("ENV"), data: os.Getenv("LIMP_DATA"), listen: os.Getenv("LISTEN"), port: DefaultPort}
	if v := os.Getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("limp: $PORT %q is not a port number", v)
		}
		o.port = p
	}
	o.debug, _ = strconv.ParseBool(os.Getenv("DEBUG"))
	fs := flag.NewFlagSet(a.cfg.Name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&o.env, "env", o.env, "select Config.Envs[`ENV`]")
	fs.BoolVar(&o.debug, "debug", o.debug, "debug logging and error details in replies")
	fs.StringVar(&o.packages, "packages", "", "load only these comma-separated packages (plus core)")
	fs.IntVar(&o.port, "p", o.port, "listen `port`")
	fs.IntVar(&o.port, "port", o.port, "listen `port`")
	fs.StringVar(&o.listen, "listen", o.listen, "listen `address` host:port (overrides --port; also $LISTEN)")
	fs.StringVar(&o.data, "data", o.data, "embedded store file `path`, or a mongodb:// URI")
	fs.BoolVar(&o.durable, "durable", false, "embedded store: every write waits until it is on disk (survives power loss; slower)")
	fs.BoolVar(&o.version, "version", false, "print versions and exit")
	fs.StringVar(&o.explain, "explain", "", "print what `MODULE` QUERY_JSON compiles to on each store (JSON) and exit")
	fs.StringVar(&o.ref, "generate-ref", "", "write a Markdown API reference of the modules to `file` (- for stdout) and exit")
	fs.StringVar(&o.backup, "backup", "", "write a consistent copy of the embedded store to `file` (and its file contents to file.files) and exit; safe while the app serves")
	fs.StringVar(&o.ts, "generate-ts", "", "write TypeScript types of the modules to `dir`/"+GenerateTSFile+" and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.explain != "" {
		if fs.NArg() != 1 {
			return errors.New("limp: --explain MODULE QUERY_JSON needs the query as one argument")
		}
		return a.explainCLI(ctx, o.explain, fs.Arg(0), stdout)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("limp: unexpected arguments %q", fs.Args())
	}
	if o.version {
		fmt.Fprintf(stdout, "%s %s (limp-go %s, LIMP API %s)\n", a.cfg.Name, a.cfg.Version, Version, APILevel)
		return nil
	}
	if o.env != "" {
		a.cfg.Env = o.env
	}
	if o.debug {
		a.cfg.Debug = true
		if a.cfg.Logger == nil {
			a.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	if o.data != "" {
		a.cfg.Data = o.data
	}
	if o.durable {
		a.cfg.Durable = true
	}
	if o.packages != "" {
		a.cfg.Packages = strings.Split(o.packages, ",")
	}
	if o.ref != "" {
		return a.writeRef(o.ref, stdout)
	}
	if o.backup != "" {
		return a.backupCLI(ctx, o.backup, stdout) // backup.go
	}
	if o.ts != "" {
		return a.writeTS(o.ts)
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	addr := a.listenAddr(o.listen, o.port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = a.Shutdown(context.Background())
		return fmt.Errorf("limp: listen: %w", err)
	}
	return a.Serve(ctx, ln)
}

// Serve serves the started app on ln until ctx ends, then drains: new
// connections are refused, calls in flight finish (within
// Config.DrainTimeout) and the store is closed.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.ReadTimeout,
		IdleTimeout:       a.cfg.IdleTimeout,
		MaxHeaderBytes:    a.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.Logger().Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	a.Logger().Info("serving", "app", a.cfg.Name, "addr", ln.Addr().String(), "data", redactURI(a.cfg.Data), "limp_go", Version)
	a.logURLs(ln.Addr()) // backup.go
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		_ = a.Shutdown(context.Background())
		return fmt.Errorf("limp: serve: %w", err)
	case <-ctx.Done():
	}
	a.Logger().Info("shutting down", "drain_timeout", a.cfg.DrainTimeout)
	dctx, cancel := context.WithTimeout(context.Background(), a.cfg.DrainTimeout)
	defer cancel()
	// Stop accepting first; hijacked websockets are drained by the App.
	_ = ln.Close()
	appErr := a.Shutdown(dctx) // ends every handler when dctx ends
	srvErr := srv.Shutdown(dctx)
	if errors.Is(srvErr, net.ErrClosed) {
		// The listener closed above, before Serve noticed: not a failure.
		srvErr = nil
	}
	if srvErr != nil {
		_ = srv.Close() // drain timeout: drop what is left at once
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("limp: serve: %w", err)
	}
	if appErr != nil {
		return fmt.Errorf("limp: drain: %w", appErr)
	}
	if srvErr != nil {
		return fmt.Errorf("limp: drain http: %w", srvErr)
	}
	return nil
}

// redactURI hides the password of a mongodb URI in logs.
func redactURI(s string) string {
	at := strings.LastIndex(s, "@")
	i := strings.Index(s, "://")
	if at < 0 || i < 0 || at < i {
		return s
	}
	cred := s[i+3 : at]
	if u, _, ok := strings.Cut(cred, ":"); ok {
		return s[:i+3] + u + ":***" + s[at:]
	}
	return s
}

// writeRef writes the API reference to path ("-": out).
func (a *App) writeRef(path string, out io.Writer) error {
	if path == "-" {
		return a.GenerateRef(out)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("limp: --generate-ref: %w", err)
	}
	if err := a.GenerateRef(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
