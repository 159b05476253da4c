package limp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/limp-go/limp/internal/blob"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// Realms: multi-tenancy (spec §5.6), on with Config.Realm.
//
// Every module with documents (the realm module excepted) gets a "realm"
// attr (STR) holding the name of the realm its document belongs to. The
// realm a call runs in comes from its URL (/ws/{realm}, /{realm}/...) and
// travels in the call's context; App.Invoke without one runs in
// GlobalRealm.
//
// Scoping has one choke point: the app's store is wrapped (realmStore)
// so that every Read, Update and Delete made with a call's context is
// limited to the call's realm, on the module's own collection and on
// every collection a query joins through a reference (query.Join.Filter),
// and every Insert stores the call's realm. So every read, write, join,
// $group, $search, expansion, session lookup and file retrieval of a
// caller sees only its realm's documents, whatever code makes the store
// call (base methods, hooks, custom handlers). The realm filter is an
// equality condition on an ordinary index (not LIMP's text index on
// realm, which collided with $search). Unique attrs are unique per realm:
// every unique set gets "realm" added (compound unique indexes on both
// stores). A store call whose context names no realm (start-up, the file
// collector, session revalidation by _id) is a system call and is not
// scoped; its inserts go to GlobalRealm.
//
// The realm module's own documents are scoped by name: a caller of realm
// R reads and updates only R's doc; callers of GlobalRealm see every
// realm. realm/create (GlobalRealm callers only) creates, in one
// transaction, the realm's DEFAULT group (Config.DefaultPrivileges), its
// admin user (doc "user": the user attrs with the client-computed
// "<auth attr>_hash", so the admin signs in at once; privileges
// {"*": ["*"]}) and the realm doc. Realm names are immutable (documents
// hold them). realm/delete and the DEFAULT groups' sync: realm_purge.go.

// GlobalRealm is the realm of the system documents and of calls that
// name no realm (spec §5.6).
const GlobalRealm = "__global"

// GlobalRealmID is the _id of GlobalRealm's realm document.
var GlobalRealmID = mustID("f00000000000000000000014")

// CodeInvalidRealm is the code of an HTTP request naming an unknown realm
// (400). A websocket to an unknown realm gets LIMP's in-band
// {"status": 1008, "msg": "Connection closed", "args": {"code":
// "CORE_CONN_CLOSED"}} and is closed with status 1008.
const CodeInvalidRealm = "CORE_REQ_INVALID_REALM"

// realmAttr is the attr holding a document's realm.
const realmAttr = "realm"

// realmNameRE is what realm/create accepts as a name: lower-case, usable
// in a URL path segment, never starting with "__" (reserved).
var realmNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// unrealmedRoutes are first path segments served outside any realm (the
// operational endpoints); no realm may be called so, nor "ws".
var unrealmedRoutes = []string{"ws", "health", "ready", "metrics", "console"}

// realmTTL bounds how long a node trusts its memory of a realm before
// reading it again (a realm deleted on another node).
const realmTTL = 30 * time.Second

type realmKey struct{}

// WithRealm returns a context whose calls (App.Invoke) and store work run
// in realm name (realm mode only). Calls made with a context without a
// realm run in GlobalRealm.
func WithRealm(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, realmKey{}, name)
}

// unscoped marks a context whose store calls see every realm.
func unscoped(ctx context.Context) context.Context { return context.WithValue(ctx, realmKey{}, "") }

func realmFrom(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(realmKey{}).(string)
	return s, ok
}

// enterRealm sets the realm a call runs in (c.Realm, else the context's,
// else GlobalRealm) and returns the context its store work runs under.
func (a *App) enterRealm(ctx context.Context, c *Call) context.Context {
	if !a.cfg.Realm {
		return ctx
	}
	if c.Realm == "" {
		if r, ok := realmFrom(ctx); ok && r != "" {
			c.Realm = r
		} else {
			c.Realm = GlobalRealm
		}
	}
	if r, _ := realmFrom(ctx); r == c.Realm {
		return ctx
	}
	return WithRealm(ctx, c.Realm)
}

// realmFilter returns the condition that limits documents of collection
// coll to the realm of ctx, or nil when nothing limits them (not realm
// mode, a system context, GlobalRealm reading realms). Live queries AND
// it into what they match.
func (a *App) realmFilter(ctx context.Context, coll string) query.Node {
	if !a.cfg.Realm {
		return nil
	}
	r, ok := realmFrom(ctx)
	if !ok || r == "" {
		return nil
	}
	return a.realmCond(coll, r)
}

func (a *App) realmCond(coll, realm string) query.Node {
	if coll == a.realmsColl() {
		if realm == GlobalRealm {
			return nil
		}
		return &query.Cond{Path: "name", Op: query.Eq, Value: realm}
	}
	return &query.Cond{Path: realmAttr, Op: query.Eq, Value: realm}
}

func (a *App) realmsColl() string {
	if m := a.modules["realm"]; m != nil {
		return m.Collection
	}
	return ""
}

// realmStore is the app's store with every call scoped to the realm of
// its context (see the top of this file).
type realmStore struct {
	store.Store
	a *App
}

// realmBlobStore keeps a wrapped store's file contents capability.
type realmBlobStore struct {
	realmStore
	blobs interface{ Blobs() blob.Store }
}

func (s realmBlobStore) Blobs() blob.Store { return s.blobs.Blobs() }

// Unwrap returns the store underneath, for capability checks.
func (s realmStore) Unwrap() store.Store { return s.Store }

func (a *App) realmStore(st store.Store) store.Store {
	w := realmStore{Store: st, a: a}
	if b, ok := st.(interface{ Blobs() blob.Store }); ok {
		return realmBlobStore{realmStore: w, blobs: b}
	}
	return w
}

// scope returns q limited to realm on c and on every collection it joins.
func (s realmStore) scope(c *schema.Collection, realm string, q *query.Query) *query.Query {
	cp := *q
	cp.Filter = query.AndFilter(s.a.realmCond(c.Name, realm), s.scopeJoins(q.Filter, realm))
	return &cp
}

// scopeJoins copies n with the realm condition added to every join's
// filter, at any depth.
func (s realmStore) scopeJoins(n query.Node, realm string) query.Node {
	switch n := n.(type) {
	case query.And:
		out := make(query.And, len(n))
		for i, x := range n {
			out[i] = s.scopeJoins(x, realm)
		}
		return out
	case query.Or:
		out := make(query.Or, len(n))
		for i, x := range n {
			out[i] = s.scopeJoins(x, realm)
		}
		return out
	case *query.Cond:
		if n.Join == nil {
			return n
		}
		c, j := *n, *n.Join
		j.Filter = query.AndFilter(s.a.realmCond(j.Collection, realm), s.scopeJoins(j.Filter, realm))
		c.Join = &j
		return &c
	}
	return n
}

// realmScope returns q limited to the realm of ctx on c and on every
// collection it joins (realm mode), as the store wrapper limits reads; q
// itself when there is nothing to limit. Live queries match documents in
// process and use it so a watcher never sees another realm's documents.
func (a *App) realmScope(ctx context.Context, c *schema.Collection, q *query.Query) *query.Query {
	if !a.cfg.Realm || c == nil || q == nil {
		return q
	}
	r, ok := realmFrom(ctx)
	if !ok || r == "" {
		return q
	}
	return realmStore{a: a}.scope(c, r, q)
}

func (s realmStore) realm(ctx context.Context) (string, bool) {
	r, ok := realmFrom(ctx)
	return r, ok && r != ""
}

func (s realmStore) Read(ctx context.Context, c *schema.Collection, q *query.Query) (*store.Result, error) {
	if r, ok := s.realm(ctx); ok {
		q = s.scope(c, r, q)
	}
	return s.Store.Read(ctx, c, q)
}

func (s realmStore) Insert(ctx context.Context, c *schema.Collection, docs ...map[string]any) error {
	if c.Name != s.a.realmsColl() {
		r, ok := s.realm(ctx)
		for _, d := range docs {
			switch {
			case ok:
				d[realmAttr] = r
			case d[realmAttr] == nil:
				d[realmAttr] = GlobalRealm
			}
		}
	}
	return dupWithoutRealm(s.Store.Insert(ctx, c, docs...))
}

func (s realmStore) Update(ctx context.Context, c *schema.Collection, q *query.Query, u *store.Update) (*store.UpdateResult, error) {
	if r, ok := s.realm(ctx); ok {
		q = s.scope(c, r, q)
		if c.Name != s.a.realmsColl() && u != nil {
			_, set := u.Set[realmAttr]
			if set || slices.Contains(u.Unset, realmAttr) {
				// A document stays in its realm: realm is forced to
				// the caller's, as LIMP sets doc.realm (spec §5.6).
				cp := *u
				cp.Set = map[string]any{}
				for k, v := range u.Set {
					cp.Set[k] = v
				}
				cp.Set[realmAttr] = r
				cp.Unset = slices.DeleteFunc(slices.Clone(u.Unset), func(p string) bool { return p == realmAttr })
				u = &cp
			}
		}
	}
	res, err := s.Store.Update(ctx, c, q, u)
	return res, dupWithoutRealm(err)
}

func (s realmStore) Delete(ctx context.Context, c *schema.Collection, q *query.Query, hard bool) ([]oid.ID, error) {
	if r, ok := s.realm(ctx); ok {
		q = s.scope(c, r, q)
	}
	return s.Store.Delete(ctx, c, q, hard)
}

// dupWithoutRealm names a duplicate by the app's attrs: "realm", added to
// every unique set, is no news to the caller.
func dupWithoutRealm(err error) error {
	var de *store.DuplicateError
	if errors.As(err, &de) && len(de.Attrs) > 1 && slices.Contains(de.Attrs, realmAttr) {
		return &store.DuplicateError{Attrs: slices.DeleteFunc(slices.Clone(de.Attrs), func(s string) bool { return s == realmAttr })}
	}
	return err
}

// addRealmAttrs gives every module with documents, the realm module
// excepted, the realm attr (before their init, which reports a module
// declaring its own "realm").
func (a *App) addRealmAttrs() {
	for _, m := range a.order {
		if m.Collection == "" || (m.pkg == "core" && m.Name == "realm") {
			continue
		}
		m.Attrs = append(m.Attrs, &Attr{Name: realmAttr, Type: TypeStr, Optional: true,
			Desc: "the realm the document belongs to (realm mode), set by the framework"})
	}
}

// realmSchema makes unique sets unique per realm and indexes realm.
func (a *App) realmSchema() {
	for _, m := range a.order {
		if m.coll == nil || (m.pkg == "core" && m.Name == "realm") {
			continue
		}
		for i, set := range m.coll.Unique {
			if !slices.Contains(set, realmAttr) {
				m.coll.Unique[i] = append(slices.Clone(set), realmAttr)
			}
		}
		m.coll.Indexes = append(m.coll.Indexes, []schema.IndexKey{{Path: realmAttr}})
	}
}

// coreRealm is the stored shape of a realm (spec §5.6).
type coreRealm struct {
	Doc
	// User is the realm admin.
	User ID `json:"user"`
	// Name is the realm's name in URLs.
	Name string `json:"name" limp:"unique"`
	// Default is the realm's DEFAULT group.
	Default ID `json:"default"`
}

// registerRealm declares the core realm module (realm mode only).
func (a *App) registerRealm() {
	realm := NewModule[coreRealm]("realm", Methods{
		"read":   {Permissions: Perms("read")},
		"create": {Permissions: Perms("create")},
		"update": {
			Permissions: []Perm{{Privilege: "update", DocMod: M{"user": nil, "create_time": nil, "name": nil, "default": nil}}},
			QueryArgs:   []Args{{"_id": {Type: TypeID}}},
		},
		"delete": {Permissions: Perms("delete"), QueryArgs: []Args{{"_id": {Type: TypeID}}}},
	})
	realm.Collection = "realms"
	realm.Hooks = Hooks{PreCreate: a.realmPreCreate, PreDelete: a.realmPreDelete} // realm_purge.go
	a.Register("core", realm)
}

// realmPreCreate creates the realm's DEFAULT group, its admin and the
// realm doc in one transaction, and answers the call itself.
func (a *App) realmPreCreate(ctx context.Context, c *Call) (*Result, error) {
	m := c.Module
	if c.Realm != GlobalRealm {
		return nil, errForbidden // realms are made from the global realm only
	}
	name, _ := c.Doc["name"].(string)
	if !realmNameRE.MatchString(name) || slices.Contains(unrealmedRoutes, name) {
		return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr 'name': a realm name is 1 to 63 of a-z, 0-9, '_' and '-', starting with a letter or digit, and not one of %s for 'create' request on module '%s'.", strings.Join(unrealmedRoutes, ", "), m.prefix[:len(m.prefix)-1])
	}
	admin, ok := c.Doc["user"].(map[string]any)
	if !ok {
		return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr 'user': expects the realm admin's user attrs, with the auth hash of each auth attr for 'create' request on module '%s'.", m.prefix[:len(m.prefix)-1])
	}
	// The admin must be able to sign in (LIMP's could not): at least one
	// auth attr, each with its client-computed hash.
	auth := 0
	for _, name := range a.cfg.AuthAttrs {
		if _, ok := admin[name]; !ok {
			continue
		}
		if h, _ := admin[name+"_hash"].(string); h == "" {
			return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr 'user.%s_hash': the realm admin needs the auth hash of '%s' for 'create' request on module '%s'.", name, name, m.prefix[:len(m.prefix)-1])
		}
		auth++
	}
	if auth == 0 {
		return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr 'user': the realm admin needs one of the auth attrs %s with its hash for 'create' request on module '%s'.", strings.Join(a.cfg.AuthAttrs, ", "), m.prefix[:len(m.prefix)-1])
	}
	if busy, err := a.realmBeingPurged(ctx, name); err != nil {
		return nil, err
	} else if busy {
		return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr 'name': realm '%s' was deleted and its documents are still being removed; try again later for 'create' request on module '%s'.", name, m.prefix[:len(m.prefix)-1])
	}
	// A taken name is refused before anything is written, so the common
	// failure leaves nothing behind even on a server without transactions
	// (the unique index still decides a race).
	if r, err := a.Invoke(WithRealm(ctx, GlobalRealm), a.SystemSession(), "realm/read", NewQuery(M{"name": name}), nil, SkipPermissions|SkipArgs|SkipPreHooks|SkipOnHooks|SkipExtensions); err != nil {
		return nil, err
	} else if n, _ := r.Args["total"].(int64); n > 0 {
		return nil, m.storeError(&store.DuplicateError{Attrs: []string{"name"}})
	}
	var res *Result
	err := a.store.Tx(ctx, func(ctx context.Context) error {
		rctx := WithRealm(ctx, name)
		sys := a.SystemSession()
		g, err := a.Invoke(rctx, sys, "group/create", nil, M{
			"name": localeAll(a.cfg.Locales, "DEFAULT"), "desc": localeAll(a.cfg.Locales, "Default group of realm "+name),
			"privileges": privilegesValue(a.cfg.DefaultPrivileges), "settings": M{},
		}, SkipPermissions|SkipArgs)
		if err != nil {
			return err
		}
		gid := createdID(g)
		doc := M{}
		for k, v := range admin {
			doc[k] = v
		}
		delete(doc, "_id")
		doc["privileges"] = M{"*": []any{"*"}}
		doc["groups"] = []any{gid}
		doc["status"] = "active"
		u, err := a.Invoke(rctx, sys, "user/create", nil, doc, SkipPermissions)
		if err != nil {
			return err
		}
		uid := createdID(u)
		// The admin owns the group, as in LIMP.
		if _, err := a.Invoke(rctx, sys, "group/update", NewQuery(M{"_id": gid}), M{"user": uid}, SkipPermissions); err != nil {
			return err
		}
		c.Doc["user"], c.Doc["default"] = uid, gid
		// skipArgs: the realm's user is its admin, not the caller.
		skip := c.skip
		c.skip |= skipArgs
		res, err = a.create(ctx, c)
		c.skip = skip
		return err
	})
	if err != nil {
		return nil, err
	}
	a.realms.forget(name)
	return res, nil
}

func createdID(r *Result) ID {
	docs, _ := r.Args["docs"].([]any)
	if len(docs) == 0 {
		return ID{}
	}
	d, _ := docs[0].(M)
	if d == nil {
		d, _ = docs[0].(map[string]any)
	}
	id, _ := d["_id"].(ID)
	return id
}

// realmInfo is what a node remembers of a realm.
type realmInfo struct {
	id, def ID
	checked time.Time
}

// realmRegistry caches the realms by name (a realm is read again after
// realmTTL; unknown names are not cached).
type realmRegistry struct {
	mu sync.Mutex
	m  map[string]*realmInfo
	// kick wakes the purge of deleted realms (realm_purge.go).
	kick chan struct{}
}

func (r *realmRegistry) forget(name string) {
	r.mu.Lock()
	delete(r.m, name)
	r.mu.Unlock()
}

func (r *realmRegistry) forgetAll() {
	r.mu.Lock()
	r.m = nil
	r.mu.Unlock()
}

// lookupRealm returns the realm called name, or nil if there is none.
func (a *App) lookupRealm(ctx context.Context, name string) (*realmInfo, error) {
	if strings.HasPrefix(name, realmPurgePrefix) {
		return nil, nil // a deleted realm whose documents are being purged (realm_purge.go)
	}
	r := &a.realms
	r.mu.Lock()
	info := r.m[name]
	r.mu.Unlock()
	if info != nil && time.Since(info.checked) < realmTTL {
		return info, nil
	}
	res, err := a.store.Read(unscoped(ctx), a.modules["realm"].coll, &query.Query{
		Filter: &query.Cond{Path: "name", Op: query.Eq, Value: name}, Limit: 1, Attrs: []string{"default"}})
	if err != nil {
		return nil, err
	}
	if len(res.Docs) == 0 {
		r.forget(name)
		return nil, nil
	}
	info = &realmInfo{checked: time.Now()}
	info.id, _ = res.Docs[0]["_id"].(ID)
	info.def, _ = res.Docs[0]["default"].(ID)
	r.mu.Lock()
	if r.m == nil {
		r.m = map[string]*realmInfo{}
	}
	r.m[name] = info
	r.mu.Unlock()
	return info, nil
}

// defaultGroupID is the DEFAULT group of the realm of ctx: every new user
// joins it and every session has its privileges.
func (a *App) defaultGroupID(ctx context.Context) ID {
	if !a.cfg.Realm {
		return DefaultGroup
	}
	r, ok := realmFrom(ctx)
	if !ok || r == "" || r == GlobalRealm {
		return DefaultGroup
	}
	info, err := a.lookupRealm(ctx, r)
	if err != nil || info == nil || info.def.IsZero() {
		return DefaultGroup
	}
	return info.def
}

// bootstrapRealms creates the global realm and puts the system documents
// in it (spec §5.6).
func (a *App) bootstrapRealms(ctx context.Context) error {
	ctx = unscoped(ctx)
	if err := a.ensureDoc(ctx, a.modules["realm"], M{"_id": GlobalRealmID, "name": GlobalRealm, "user": AdminUserID, "default": DefaultGroup}, store.Update{}); err != nil {
		return err
	}
	groups := []any{DefaultGroup}
	for _, g := range a.cfg.Groups {
		groups = append(groups, g.ID)
	}
	for mod, ids := range map[string][]any{"user": {AdminUserID, AnonUserID}, "session": {AnonSessionID}, "group": groups} {
		m := a.modules[mod]
		q := &query.Query{Filter: query.And{
			&query.Cond{Path: "_id", Op: query.In, Value: ids},
			&query.Cond{Path: realmAttr, Op: query.Eq, Value: nil},
		}}
		if _, err := a.store.Update(ctx, m.coll, q, &store.Update{Set: map[string]any{realmAttr: GlobalRealm}}); err != nil {
			return err
		}
	}
	return a.syncRealmDefaults(ctx) // realm_purge.go
}

// routeRealm takes the realm off a realm-mode request's path (/ws/{realm},
// /{realm}/...) into its context. It answers a request naming an unknown
// realm itself and then returns nil.
func (a *App) routeRealm(w http.ResponseWriter, r *http.Request) *http.Request {
	path := strings.Trim(r.URL.Path, "/")
	if path == "" {
		return r // the welcome
	}
	segs := strings.SplitN(path, "/", 3)
	if segs[0] != "ws" && slices.Contains(unrealmedRoutes, segs[0]) {
		return r
	}
	ws := segs[0] == "ws" && len(segs) == 2
	var name, rest string
	if ws {
		name, rest = segs[1], "/ws"
	} else {
		name, rest = segs[0], "/"+strings.Join(segs[1:], "/")
	}
	name = strings.ToLower(name)
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.CallTimeout)
	info, err := a.lookupRealm(ctx, name)
	cancel()
	if err != nil {
		a.log.Error("look up realm", "realm", name, "err", err)
		writeHTTP(w, 500, "Server error.", M{"code": CodeServerError})
		return nil
	}
	if info == nil {
		if ws {
			a.refuseRealmWS(w, r)
			return nil
		}
		setHTTPHeaders(w.Header(), "GET, POST")
		writeHTTP(w, 400, "Realm is unknown.", M{"code": CodeInvalidRealm})
		return nil
	}
	r2 := r.WithContext(WithRealm(r.Context(), name))
	u := *r.URL
	u.Path, u.RawPath = rest, ""
	if esc := strings.SplitN(strings.Trim(r.URL.EscapedPath(), "/"), "/", 2); !ws && len(esc) == 2 {
		// Keep the escaped form for routes that read it (file names).
		if p, err := url.PathUnescape("/" + esc[1]); err == nil && p == rest {
			u.RawPath = "/" + esc[1]
		}
	}
	r2.URL = &u
	return r2
}

// refuseRealmWS answers a websocket to an unknown realm as LIMP does
// (spec §2.2 step 3), without going on to the greeting.
func (a *App) refuseRealmWS(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.WriteTimeout)
	defer cancel()
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"status": 1008, "msg": "Connection closed", "args": {"code": "`+CodeConnClosed+`"}}`))
	_ = ws.Close(websocket.StatusPolicyViolation, "unknown realm")
}

// realmLive checks, before each call of a realm-mode connection, that
// its realm still exists (a realm deleted on this node is known at once,
// on another within realmTTL). When it does not, the call is answered
// with LIMP's in-band 1008 CORE_CONN_CLOSED and the connection closed.
func (c *conn) realmLive(ctx context.Context, call *Call) bool {
	a := c.app
	name, ok := realmFrom(c.hard)
	if !a.cfg.Realm || !ok || name == "" || name == GlobalRealm {
		return true
	}
	info, err := a.lookupRealm(ctx, name)
	if err != nil {
		c.replyErr(err, call.CallID, call.Endpoint)
		return false
	}
	if info != nil {
		return true
	}
	c.reply(1008, "Connection closed", M{"code": CodeConnClosed}, call.CallID, true)
	c.closeWith(websocket.StatusPolicyViolation, "realm deleted")
	return false
}

// connContext is the base context of a websocket's calls: it carries the
// realm of the request (realm mode).
func connContext(r *http.Request) context.Context {
	if name, ok := realmFrom(r.Context()); ok {
		return WithRealm(context.Background(), name)
	}
	return context.Background()
}
