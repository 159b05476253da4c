package limp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limp-go/limp/internal/store"
)

// Version is limp-go's version, printed by --version.
const Version = "0.1.0"

// APILevel is the LIMP API level limp-go speaks.
const APILevel = "6.0"

// Default configuration values (spec §11.2).
const (
	DefaultAnonToken     = "__ANON_TOKEN_f00000000000000000000012"
	DefaultPort          = 8081
	DefaultConnTimeout   = 120 * time.Second
	DefaultMaxFrameSize  = 4 << 20
	DefaultCallsInFlight = 32
	DefaultDrainTimeout  = 15 * time.Second

	DefaultMaxQueuedBytes    = 4 << 20
	DefaultWriteTimeout      = 10 * time.Second
	DefaultMinDataRate       = 8 << 10
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxFrameValues    = 20000
	DefaultMaxFrameDepth     = 32
)

// Fixed ids of the system documents (spec §0).
var (
	AdminUserID   = mustID("f00000000000000000000010")
	AnonUserID    = mustID("f00000000000000000000011")
	AnonSessionID = mustID("f00000000000000000000012")
	DefaultGroup  = mustID("f00000000000000000000013")
)

func mustID(s string) ID {
	id, err := ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// ClientApp is one entry of Config.ClientApps (spec §2.3).
type ClientApp struct {
	Name string
	// Type is "web", "ios" or "android". Web apps must connect from one of
	// Hosts (the Origin header).
	Type  string
	Hosts []string
}

// Privileges maps module names (or "*") to privilege names (or "*").
type Privileges map[string][]string

// Config configures an App. The zero value of every field means its
// documented default. Must not be modified after Start.
type Config struct {
	// Name names the app; the embedded store defaults to
	// ./limp_data/<Name>.db. Required.
	Name string
	// Version is the app's version, printed by --version.
	Version string
	// Env selects an entry of Envs (also --env and $ENV). Empty is
	// development.
	Env string
	// Envs holds per-environment overrides, applied by Start to a copy of
	// the Config when Env names one.
	Envs map[string]func(*Config)
	// Production marks the running environment as production: insecure
	// defaults (the default anon token, a default admin password) are
	// refused instead of warned about.
	Production bool
	// Debug adds error details to 500 replies and logs at debug level.
	Debug bool
	// Data is where documents are stored: a file path for the embedded
	// SQLite store (default ./limp_data/<Name>.db; ":memory:" for tests) or
	// a mongodb:// or mongodb+srv:// URI. Also --data and $LIMP_DATA.
	Data string
	// Packages, when set, loads only these packages (plus core).
	Packages []string
	// Listen is the address Run listens on, host:port (also --listen and
	// $LISTEN, which take precedence). Default ":" + the port (--port, 8081)
	// on every interface, or "127.0.0.1:" + the port while the default
	// admin password or anon token is in use (logged).
	Listen string

	// Locales are the app's locales; default ["ar_AE", "en_AE"].
	Locales []string
	// Locale is the default locale; default "ar_AE".
	Locale string

	// AnonToken is the public signing key of unauthenticated calls;
	// default DefaultAnonToken (a warning is logged; refused in
	// production).
	AnonToken string
	// AnonPrivileges are the privileges of unauthenticated callers.
	AnonPrivileges Privileges
	// DefaultPrivileges are the privileges of the DEFAULT group, which
	// every new user joins.
	DefaultPrivileges Privileges
	// ClientApps, when non-empty, makes conn/verify mandatory and limits
	// connections to these apps (spec §2.3).
	ClientApps map[string]ClientApp

	// ConnTimeout closes a connection idle for this long; default 120 s.
	ConnTimeout time.Duration
	// MaxFrameSize bounds one websocket message; default 4 MiB. A larger
	// one closes the connection with status 1009.
	MaxFrameSize int64
	// CallsInFlight bounds concurrent calls per connection; further frames
	// wait (back-pressure); default 32.
	CallsInFlight int
	// CallTimeout bounds one call, store work included; default 30 s.
	CallTimeout time.Duration
	// DrainTimeout bounds the graceful drain on shutdown by signal;
	// default 15 s. When it ends, every connection and HTTP request still
	// open is closed at once (see [App.Shutdown]).
	DrainTimeout time.Duration

	// MaxQueuedBytes bounds the reply bytes a websocket connection may
	// have queued for writing; default DefaultMaxQueuedBytes (4 MiB). A
	// reply that does not fit waits for room, holding its call's slot
	// (CallsInFlight); replies waiting may add up to MaxQueuedBytes more,
	// and one past that closes the connection with status 1008 (its
	// client is far behind). A connection thus holds at most twice
	// MaxQueuedBytes of replies; a single reply larger than the bound is
	// sent when nothing else is queued.
	MaxQueuedBytes int64
	// WriteTimeout is the deadline of every write to a client: each chunk
	// of at most 64 KiB of a websocket reply, and each write of an HTTP
	// response (plus its bytes at MinDataRate); default 10 s. A websocket
	// whose client takes no bytes for WriteTimeout does not read its
	// replies: it is closed with status 1008 and its queue, waiting
	// replies and calls are dropped. An HTTP write that misses it ends
	// the request. It also bounds a websocket's close handshake.
	WriteTimeout time.Duration
	// MinDataRate is the slowest rate, in bytes per second, a client may
	// send a request body or take an HTTP response at; default 8192
	// (8 KiB/s). See ReadTimeout and WriteTimeout.
	MinDataRate int64
	// ReadHeaderTimeout bounds reading an HTTP request's headers; default
	// 10 s. Used by the server Run and Serve start.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds an HTTP request body's silence: reading a body
	// fails once it has taken ReadTimeout plus its bytes at MinDataRate,
	// or ReadTimeout passes without a byte; the request is then answered
	// 408 (or dropped) and what it spooled removed. Default 30 s. Run and
	// Serve also set it as the server's ReadTimeout; the App applies the
	// body deadlines itself, so they hold under any http.Server.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive HTTP connection idle this long;
	// default 120 s (Run and Serve).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds an HTTP request's headers; default 64 KiB
	// (Run and Serve).
	MaxHeaderBytes int
	// MaxFrameValues and MaxFrameDepth bound what one websocket frame or
	// HTTP JSON body may hold, checked while it is decoded (before any
	// map is built): object keys and array elements counted together
	// (default 20 000, the outer frame and its JWT payload each), and
	// nesting of objects and arrays (default 32). Past either, the frame
	// is refused like any invalid one (403 CORE_REQ_INVALID_TOKEN) and
	// the HTTP body with 400 CORE_REQ_INVALID_BODY. Every frame, valid
	// or not, counts against the quotas before it is decoded.
	MaxFrameValues, MaxFrameDepth int

	// Durable makes every write of the embedded store wait until it is
	// on disk (SQLite WAL with synchronous=FULL), so that an
	// acknowledged write survives a power loss or an OS crash. The
	// default (WAL with synchronous=NORMAL) survives a crash of the
	// process (nothing acknowledged is lost) but a power loss or OS crash
	// may drop the writes of the last moments (those since the last WAL
	// checkpoint sync); writes are faster (see BENCHMARKS.md). Also
	// --durable. Ignored by the MongoDB store, whose write concern
	// decides.
	Durable bool
	// AdaptiveIndexes bounds the indexes the embedded store builds by
	// itself per collection (default 4; negative: none, and those built
	// before are dropped at the next start). When paged reads of one shape
	// (a filter on an unindexed declared scalar attr, the same sort) keep
	// scanning a collection of at least 2,000 documents (20 such reads,
	// each within 10 minutes of the last), the store indexes that shape
	// in the background (holding writes while it runs: 0.1-0.3 s per 10,000
	// documents, once; logged at Info) and later reads of it use the
	// index; each index costs every write of the collection one index
	// insert. Declare an index (Module.Indexes, Config.DataIndexes) for
	// the shapes you know. Ignored by the MongoDB store.
	AdaptiveIndexes int
	// ChangeLogPoll is how often a node reads the MongoDB change log, the
	// change feed used when Data is a MongoDB server without change
	// streams (a standalone mongod, FerretDB): every write is then also
	// logged in the "__changes_*" collections and each node polls them, so
	// that watches and the read cache see the writes of every node
	// sharing the database (README "Several nodes"). Default 250 ms;
	// negative turns the change log off (a single node: each write saves
	// one small insert, and other nodes' writes go unseen). Ignored by
	// the embedded store and by servers with change streams.
	ChangeLogPoll time.Duration

	// User is a struct (or pointer to one) whose fields are the app's
	// user attrs, besides the core ones (name, locale, groups,
	// privileges, status); default: email (EMAIL).
	User any
	// AuthAttrs are the user attrs clients sign in with; each is unique.
	// Default ["email"].
	AuthAttrs []string
	// AdminDoc holds the ADMIN user's attrs, including every auth attr;
	// default {"email": DefaultAdminEmail}.
	AdminDoc M
	// AdminPassword is the ADMIN user's password; default
	// DefaultAdminPassword (a warning is logged; refused in production).
	AdminPassword string
	// ForceAdminCheck rewrites an existing ADMIN user from AdminDoc and
	// AdminPassword at start.
	ForceAdminCheck bool
	// AllowInsecureDefaults lets a production env start with the default
	// anon token or admin password.
	AllowInsecureDefaults bool
	// Console serves the browser console at /console/ (console.go):
	// ConsoleAuto (the default) serves it unless Production is set.
	Console ConsoleMode
	// Groups are app-declared groups, created or updated at start.
	Groups []Group
	// SessionTTL is a session's life after auth or reauth; default 30
	// days.
	SessionTTL time.Duration

	// QuotaIPMin, QuotaAnonMin and QuotaAuthMin bound calls per minute
	// per IP (websocket and HTTP), per ANON connection and per signed-in
	// connection; defaults 500, 40 and 100 (LIMP's). Negative: no quota.
	QuotaIPMin, QuotaAnonMin, QuotaAuthMin int
	// AuthFailuresAccount and AuthFailuresIP bound sign-in attempts on
	// one account from one IP, and from one IP (IPv6: its /64), within
	// AuthFailureWindow before further ones are refused (429) without
	// checking; defaults 10, 100 and 15 minutes. A success gives its
	// attempt back. AuthFailuresAccountAll (default 10 ×
	// AuthFailuresAccount) bounds attempts on one account from all IPs:
	// over it, IPs that tried the account are refused and others are
	// slowed down, never locked out (see README, "Sign-in throttling").
	AuthFailuresAccount, AuthFailuresIP int
	AuthFailureWindow                   time.Duration
	AuthFailuresAccountAll              int

	// DropUnknownAttrs keeps LIMP's behaviour for old clients: unknown
	// attrs (and _id) in a create are dropped silently instead of being
	// rejected with INVALID_ATTR.
	DropUnknownAttrs bool

	// MaxFileSize bounds one uploaded file, over the websocket or HTTP;
	// default DefaultMaxFileSize (32 MiB). A FILE attr's MaxSize may
	// lower it.
	MaxFileSize int64
	// MaxUploads bounds the files a connection (or an HTTP user) may have
	// uploaded but not yet attached to a call; default 8. Their declared
	// sizes may add up to at most 4 × MaxFileSize.
	MaxUploads int
	// UploadTimeout is how long an unfinished or unattached upload is
	// kept; default 10 minutes. Its bytes are removed when it expires.
	UploadTimeout time.Duration
	// CollectFilesEvery runs CollectFiles in the background at this
	// interval (with a grace of one interval); default 24 h, negative
	// disables it.
	CollectFilesEvery time.Duration
	// FilesDir is where file contents are stored; default Data + ".files"
	// for the embedded store, a temporary directory (removed on
	// shutdown) for ":memory:", and GridFS (bucket limp_files) for MongoDB.
	FilesDir string

	// MetricsPath, when set (e.g. "/metrics"), serves the app's metrics
	// in the Prometheus text format at that path: limp_calls_total
	// {endpoint, code}, limp_call_duration_seconds {endpoint},
	// limp_connections_open, limp_watches_open, limp_uploads_total and
	// limp_upload_bytes_total {transport}, plus Go and process metrics.
	// Default "" (off). Use a one-segment path so that it shadows no
	// /{module}/{method} call; protect it (or Listen) as the metrics name
	// the app's endpoints.
	MetricsPath string

	// Realm turns realm mode (multi-tenancy, spec §5.6) on: clients
	// connect to /ws/{realm} and call /{realm}/{module}/{method}; every
	// module's documents belong to one realm and each call sees only its
	// realm's. The core module "realm" creates realms. Default false.
	// Choose it before the first start: documents stored without a realm
	// are invisible in realm mode (see realm.go).
	Realm bool

	// Jobs are the scheduled jobs (spec §6.18, see Job); each runs once
	// per due time across every node sharing the store.
	Jobs []Job
	// EmailAuth is the default SMTP account of the email gateway (spec
	// §6.19, see EmailAuth); nil leaves the gateway unconfigured.
	EmailAuth *EmailAuth
	// CacheMaxBytes bounds the read cache's memory (an estimate of its
	// entries' size), reference expansion reads included
	// (expand_cache.go); default DefaultCacheMaxBytes (32 MiB); negative:
	// nothing is cached.
	CacheMaxBytes int64

	// Logger receives the app's logs; nil means slog.Default().
	Logger *slog.Logger

	// UserDocSettings are the setting vars merged into every user doc
	// read (user/read, the session's user) as settings: {var: val}, from
	// the user's settings of type user and user_sys (spec §6.17).
	UserDocSettings []string
	// AnalyticsEvents turns built-in analytics events off by LIMP's
	// names (app_conn_verified, session_conn_auth, session_user_auth,
	// session_conn_reauth, session_user_reauth, session_conn_deauth,
	// session_user_deauth); a name not set is on (spec §6.15).
	AnalyticsEvents map[string]bool
	// AnalyticsQueue bounds the analytics events waiting to be written;
	// a full queue drops new events (App.AnalyticsDropped). Default
	// DefaultAnalyticsQueue (4096).
	AnalyticsQueue int
	// AnalyticsKeep bounds the occurrences kept in one analytics doc
	// (one per user, event and subevent): past it, the oldest are dropped
	// as new ones are appended, while the doc's score keeps summing every
	// occurrence. LIMP kept them all, so a busy user's doc grew without
	// bound and every append rewrote it. Default DefaultAnalyticsKeep
	// (1000); negative keeps all (LIMP's behaviour, spec §6.15).
	AnalyticsKeep int

	// Vars is free-form app configuration (LIMP's vars, spec §11.2);
	// string values "$__env.NAME" are read from the environment at
	// Start. Read it with App.Var.
	Vars M
	// L10N holds localisation dictionaries by locale (spec §6.20),
	// merged under those given to App.L10N.
	L10N map[string]map[string]string
	// Docs are documents created at Start when missing (LIMP's docs,
	// spec §11.2) and kept as system documents: no delete removes them.
	Docs []AppDoc
	// DataIndexes are extra indexes on collections (LIMP's
	// data_indexes, spec §11.2), created at Start.
	DataIndexes []DataIndex

	// Live queries (spec §6.12, issue 14; watch_resume.go): bounds and
	// the resume window. Zero fields mean the defaults named.

	// WatchesPerConn bounds the watches open on one connection; one more
	// is answered 429 CORE_WATCH_LIMIT. Default DefaultWatchesPerConn (64).
	WatchesPerConn int
	// WatchesPerNode bounds the watches of the App, retained ones
	// included; one more is answered 503 CORE_WATCH_NODE_LIMIT. Default
	// DefaultWatchesPerNode (100000).
	WatchesPerNode int
	// WatchRetention is how long a watch outlives its connection so that
	// the client may resume it ({"$resume": ...}); it keeps matching
	// changes meanwhile. Default DefaultWatchRetention (2 minutes);
	// negative: watches end with their connection.
	WatchRetention time.Duration
	// WatchRetainEvents and WatchRetainBytes bound the events each watch
	// keeps for a resume (the last ones sent, and those produced while
	// disconnected). Defaults DefaultWatchRetainEvents (256) and
	// DefaultWatchRetainBytes (256 KiB, estimated from the documents).
	WatchRetainEvents int
	WatchRetainBytes  int
}

// App is a LIMP app: its modules, its store and its connections. It is an
// http.Handler (ServeHTTP) serving the websocket at /ws and LIMP's HTTP
// interface; Start opens the store and Run serves it from a main. Safe for
// concurrent use once started.
type App struct {
	cfg Config
	log *slog.Logger

	pkgs    []string
	modules map[string]*Module
	order   []*Module // registration order

	store     store.Store
	ownsStore bool
	anon      *Session

	started  atomic.Bool
	stopping atomic.Bool
	startMu  sync.Mutex

	connsMu sync.Mutex
	conns   map[*conn]struct{}
	connWG  sync.WaitGroup
	drain   chan struct{} // closed when Shutdown starts
	workers workerPool    // runs websocket calls (workers.go)

	callsWG sync.WaitGroup // HTTP calls in flight

	// hardCtx ends when Shutdown's context does: every request and call
	// still running is canceled (httplimits.go).
	hardCtx    context.Context
	hardCancel context.CancelFunc
	httpReqs   httpReqs
	bgWG       sync.WaitGroup // background jobs (file collection)

	types map[string]TypeFunc // app-defined attr types

	files fileState // file contents, HTTP uploads (files.go)

	ipQuota   limiter // calls per IP per minute
	authFails limiter // failed sign-ins per account and per IP

	live liveSessions // revocation of live sessions (revoke.go)

	realms realmRegistry // realm mode: known realms (realm.go)

	clk       clock          // time of jobs and the cache (jobs.go)
	cache     cacheState     // read cache (cache.go)
	jobs      jobState       // scheduled jobs (jobs.go)
	gw        gatewayState   // gateways (gateway.go)
	analytics analyticsQueue // analytics writer (analytic.go)

	// services-b: interceptors (interceptor.go), L10N dictionaries
	// (l10n.go), package configs and app docs (envconfig.go).
	interceptors []Interceptor
	l10n         l10nState
	pkgConfigs   map[string][]Config
	appSysDocs   map[string][]any

	metrics *metrics // nil unless Config.MetricsPath (ops.go)

	wt watchState // live queries and the change feed (watch.go)
}

// ErrShutdown is returned by Shutdown when the app was already shut down.
var ErrShutdown = errors.New("limp: app already shut down")

// New returns an App for cfg. Register modules, then Start (or Run) it.
func New(cfg Config) *App {
	a := &App{cfg: cfg, modules: map[string]*Module{}, conns: map[*conn]struct{}{}, drain: make(chan struct{})}
	a.hardCtx, a.hardCancel = context.WithCancel(context.Background())
	a.registerCore()
	a.registerJobRun()
	a.registerServices()

	a.registerL10N()
	return a
}

// Register adds modules to the app in package pkg (LIMP's unit of loading;
// codes are prefixed with it, e.g. BLOG_BLOG_DUPLICATE_DOC). Must be called
// before Start.
func (a *App) Register(pkg string, modules ...*Module) {
	if !slices.Contains(a.pkgs, pkg) {
		a.pkgs = append(a.pkgs, pkg)
	}
	for _, m := range modules {
		m.pkg = pkg
		a.order = append(a.order, m)
	}
}

// RegisterType registers an app-defined attr type (LIMP's ATTR.TYPE),
// used by attrs tagged `limp:"custom=name"`. Must be called before Start.
func (a *App) RegisterType(name string, f TypeFunc) {
	if a.types == nil {
		a.types = map[string]TypeFunc{}
	}
	a.types[name] = f
}

// Module returns the loaded module called name, or nil. Valid after Start.
func (a *App) Module(name string) *Module { return a.module(name) }

func (a *App) module(name string) *Module { return a.modules[name] }

// Config returns the effective configuration (after defaults and env
// overrides). Valid after Start.
func (a *App) Config() Config { return a.cfg }

// Logger returns the app's logger.
func (a *App) Logger() *slog.Logger {
	if a.log == nil {
		return slog.Default()
	}
	return a.log
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func (c *Config) setDefaults() {
	if len(c.Locales) == 0 {
		c.Locales = []string{"ar_AE", "en_AE"}
	}
	if c.Locale == "" {
		c.Locale = c.Locales[0]
	}
	if c.AnonToken == "" {
		c.AnonToken = DefaultAnonToken
	}
	if c.ConnTimeout == 0 {
		c.ConnTimeout = DefaultConnTimeout
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.CallsInFlight == 0 {
		c.CallsInFlight = DefaultCallsInFlight
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	c.setResilienceDefaults()
	c.setWatchDefaults()
	if len(c.AuthAttrs) == 0 {
		c.AuthAttrs = []string{"email"}
	}
	if c.AdminDoc == nil {
		c.AdminDoc = M{"email": DefaultAdminEmail}
	}
	if c.AdminPassword == "" {
		c.AdminPassword = DefaultAdminPassword
	}
	if c.CollectFilesEvery == 0 {
		c.CollectFilesEvery = 24 * time.Hour
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	c.QuotaIPMin = orDefault(c.QuotaIPMin, 500)
	c.QuotaAnonMin = orDefault(c.QuotaAnonMin, 40)
	c.QuotaAuthMin = orDefault(c.QuotaAuthMin, 100)
	c.AuthFailuresAccount = orDefault(c.AuthFailuresAccount, 10)
	c.AuthFailuresIP = orDefault(c.AuthFailuresIP, 100)
	c.AuthFailuresAccountAll = orDefault(c.AuthFailuresAccountAll, 10*c.AuthFailuresAccount)
	if c.AuthFailureWindow == 0 {
		c.AuthFailureWindow = 15 * time.Minute
	}
	if c.Data == "" {
		c.Data = filepath.Join("limp_data", c.Name+".db")
	}
	c.setFileDefaults()
}

// Start checks the declarations (reporting every problem at once), opens
// the store, syncs collections and system documents, and makes the App
// ready to serve. It does not listen; serve ServeHTTP, or use Run.
func (a *App) Start(ctx context.Context) error {
	a.startMu.Lock()
	defer a.startMu.Unlock()
	if a.started.Load() {
		return errors.New("limp: app already started")
	}
	a.mergePackageConfigs() // envconfig.go
	undeclaredEnv := false
	if a.cfg.Env != "" {
		if f, ok := a.cfg.Envs[a.cfg.Env]; ok {
			f(&a.cfg)
		} else {
			undeclaredEnv = true
		}
	}
	a.cfg.setDefaults()
	a.log = a.cfg.Logger
	if a.log == nil {
		a.log = slog.Default()
	}
	a.resolveEnvValues() // envconfig.go
	a.cfg.setDefaults()
	if undeclaredEnv {
		// As LIMP: an unknown env is not fatal.
		a.log.Warn("env is not declared in Config.Envs; going on without its overrides", "env", a.cfg.Env, "declared", slices.Sorted(maps.Keys(a.cfg.Envs)))
	}
	if err := a.load(); err != nil {
		return err
	}
	if err := a.checkSecurity(); err != nil {
		return err
	}
	if err := a.checkAuthSecurity(); err != nil {
		return err
	}
	if a.cfg.MetricsPath != "" {
		a.metrics = a.newMetrics()
	}
	if a.store == nil {
		st, err := a.openStore(ctx)
		if err != nil {
			return fmt.Errorf("limp: open store %s: %w", a.cfg.Data, err)
		}
		a.store, a.ownsStore = st, true
	}
	a.store = a.watchStore(a.store)
	if a.cfg.Realm {
		a.store = a.realmStore(a.store)
	}
	for _, m := range a.order {
		if m.coll == nil {
			continue
		}
		if err := a.store.Sync(ctx, m.coll); err != nil {
			a.closeStore()
			return fmt.Errorf("limp: sync collection %s: %w", m.Collection, err)
		}
	}
	if err := a.bootstrap(ctx); err != nil {
		a.closeStore()
		return fmt.Errorf("limp: system documents: %w", err)
	}
	if err := a.bootstrapAdmin(ctx); err != nil {
		a.closeStore()
		return fmt.Errorf("limp: ADMIN user: %w", err)
	}
	if err := a.syncGroups(ctx); err != nil {
		a.closeStore()
		return fmt.Errorf("limp: groups: %w", err)
	}
	if a.cfg.Realm {
		if err := a.bootstrapRealms(ctx); err != nil {
			a.closeStore()
			return fmt.Errorf("limp: realms: %w", err)
		}
	}
	a.startServices()
	if err := a.seedDocs(ctx); err != nil {
		a.closeStore()
		return fmt.Errorf("limp: Config.Docs: %w", err)
	}
	a.startRealmPurge() // realm_purge.go
	if every := a.cfg.CollectFilesEvery; every > 0 {
		a.bgWG.Add(1)
		go a.collectFilesLoop(every)
	}
	a.startAnalytics()
	a.started.Store(true)
	return nil
}

// collectFilesLoop runs CollectFiles every interval until Shutdown.
func (a *App) collectFilesLoop(every time.Duration) {
	defer a.bgWG.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-a.drain:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(a.hardCtx, every/2)
			n, err := a.CollectFiles(ctx, every)
			cancel()
			if err != nil {
				a.log.Warn("collect unreferenced files", "err", err)
			} else if n > 0 {
				a.log.Info("collected unreferenced files", "removed", n)
			}
		}
	}
}

// load selects the packages and initialises every module.
func (a *App) load() error {
	var errs []error
	if a.cfg.Name == "" {
		errs = append(errs, errors.New("Config.Name is required"))
	}
	if !slices.Contains(a.cfg.Locales, a.cfg.Locale) {
		errs = append(errs, fmt.Errorf("Config.Locale %q is not one of Config.Locales %v", a.cfg.Locale, a.cfg.Locales))
	}
	for _, p := range a.cfg.Packages {
		if !slices.Contains(a.pkgs, p) {
			errs = append(errs, fmt.Errorf("--packages names unknown package %q (have %v)", p, a.pkgs))
		}
	}
	if a.cfg.Realm {
		a.registerRealm()
	}
	registered := slices.Clone(a.order)
	var loaded []*Module
	for _, m := range a.order {
		if m.pkg != "core" && len(a.cfg.Packages) > 0 && !slices.Contains(a.cfg.Packages, m.pkg) {
			continue
		}
		if prev, dup := a.modules[m.Name]; dup {
			errs = append(errs, fmt.Errorf("module %q declared in packages %q and %q", m.Name, prev.pkg, m.pkg))
			continue
		}
		a.modules[m.Name] = m
		loaded = append(loaded, m)
	}
	a.order = loaded
	if a.cfg.Realm {
		a.addRealmAttrs()
	}
	if err := a.prepareUser(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, a.prepareServices()...)

	errs = append(errs, a.resolveProxies()...) // proxy.go
	for _, m := range a.order {
		if err := m.init(a); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, a.checkDeclarations(registered)...)
	errs = append(errs, a.checkJobs()...)
	errs = append(errs, a.prepareL10N()...)
	errs = append(errs, a.checkServices()...)
	if len(errs) > 0 {
		return fmt.Errorf("limp: invalid declarations:\n%w", errors.Join(errs...))
	}
	for _, m := range a.order {
		m.buildSchema()
	}
	for _, m := range a.order {
		m.linkSchema()
	}
	if a.cfg.Realm {
		a.realmSchema()
	}
	a.linkServices()
	return nil
}

func (a *App) checkSecurity() error {
	if a.cfg.AnonToken == DefaultAnonToken {
		if a.cfg.Production && !a.cfg.AllowInsecureDefaults {
			return errors.New("limp: the default anon token is refused in production; set Config.AnonToken")
		}
		a.log.Warn("using the default anon token; set Config.AnonToken before going to production")
	}
	return nil
}

func (a *App) closeStore() {
	a.closeWatch()
	a.closeFiles()
	if a.ownsStore && a.store != nil {
		if err := a.store.Close(); err != nil {
			a.log.Error("close store", "err", err)
		}
	}
}

// ServeHTTP serves the websocket at /ws and LIMP's HTTP interface. The App
// must be started.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.serveOps(w, r) { // ops.go: /health, /ready, metrics
		return
	}
	if !a.started.Load() || a.stopping.Load() {
		http.Error(w, `{"status": 503, "msg": "Service unavailable."}`, http.StatusServiceUnavailable)
		return
	}
	if a.cfg.Realm {
		if r = a.routeRealm(w, r); r == nil {
			return
		}
	}
	if r.URL.Path == "/ws" {
		a.serveWS(w, r)
		return
	}
	// Under connsMu, as serveWS: Shutdown's wait never races an Add.
	a.connsMu.Lock()
	if a.stopping.Load() {
		a.connsMu.Unlock()
		http.Error(w, `{"status": 503, "msg": "Service unavailable."}`, http.StatusServiceUnavailable)
		return
	}
	a.callsWG.Add(1)
	a.connsMu.Unlock()
	defer a.callsWG.Done()
	w, r, done := a.trackHTTP(w, r)
	defer done()
	if a.serveConsole(w, r) { // console.go
		return
	}
	a.serveHTTPObserved(w, r) // ops.go: metrics around serveHTTPCall
}

// Shutdown stops the app gracefully: new connections are refused, each
// connection stops reading, finishes its calls in flight and is closed with
// status 1001 (going away); then the store is closed. If ctx ends first,
// the remaining websockets are closed at once, every HTTP request still
// served (a slow upload, a download to a client that does not read) has
// its context canceled and its reads and writes failed, and Shutdown
// returns ctx's error as soon as their handlers have returned. It does not stop an http.Server serving the App: call its
// Shutdown too (Run does both).
func (a *App) Shutdown(ctx context.Context) error {
	// Under connsMu, so that every serveWS either sees stopping or has
	// registered its connection before the wait below starts.
	a.connsMu.Lock()
	if !a.stopping.CompareAndSwap(false, true) {
		a.connsMu.Unlock()
		return ErrShutdown
	}
	close(a.drain)
	a.connsMu.Unlock()
	done := make(chan struct{})
	go func() {
		a.connWG.Wait()
		a.workers.stop()
		a.callsWG.Wait()
		a.stopAnalytics() // after the calls that queue events
		a.bgWG.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		a.hardCancel()
		a.abortHTTP()
		a.connsMu.Lock()
		for c := range a.conns {
			c.abort()
		}
		a.connsMu.Unlock()
		<-done
	}
	a.hardCancel()
	a.closeStore()
	return err
}

// remoteIP returns the client's IP (without port).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
