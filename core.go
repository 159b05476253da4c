package limp

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// coreUser is the stored shape of a user (spec §6.21); the app's user
// attrs (Config.UserAttrs) are added at start.
type coreUser struct {
	Doc
	Name       Locale              `json:"name"`
	Locale     string              `json:"locale" limp:"type=LOCALES"`
	LoginTime  *string             `json:"login_time" limp:"type=DATETIME"`
	Groups     []ID                `json:"groups" limp:"default=[]"`
	Privileges map[string][]string `json:"privileges" limp:"default={}"`
	Status     string              `json:"status" limp:"default=active" validate:"oneof=active banned deleted disabled_password"`
}

// coreGroup is the stored shape of a group.
type coreGroup struct {
	Doc
	User       *ID                 `json:"user"`
	Name       Locale              `json:"name"`
	Desc       *Locale             `json:"desc"`
	Privileges map[string][]string `json:"privileges" limp:"default={}"`
	Settings   map[string]any      `json:"settings" limp:"default={}"`
}

// coreSession is the stored shape of a session. The token itself is never
// stored, only its SHA-256 digest.
type coreSession struct {
	Doc
	User      ID     `json:"user"`
	Groups    []ID   `json:"groups" limp:"default=[]"`
	HostAdd   string `json:"host_add" limp:"type=IP"`
	UserAgent string `json:"user_agent"`
	Expiry    string `json:"expiry" limp:"type=DATETIME"`
	TokenHash string `json:"token_hash"`
}

// registerCore declares the core package's modules.
func (a *App) registerCore() {
	self := M{"_id": VarUser}
	user := NewModule[coreUser]("user", Methods{
		"read": {Permissions: []Perm{{Privilege: "admin"}, {Privilege: "read", QueryMod: self}}},
		// Sign-up: a caller with user.create (ANON, when the app grants
		// it) creates an ordinary active user and nothing more.
		"create": {Permissions: []Perm{{Privilege: "admin"}, {Privilege: "create",
			DocMod: M{"privileges": M{}, "groups": []any{}, "status": "active", "login_time": nil}}}},
		"update": {
			Permissions: []Perm{
				{Privilege: "admin", DocMod: M{"groups": nil}},
				{Privilege: "update", QueryMod: self, DocMod: M{"groups": nil, "privileges": nil, "status": nil}},
			},
			QueryArgs: []Args{{"_id": {Type: TypeID}}},
		},
		"delete": {
			Permissions: []Perm{{Privilege: "admin"}, {Privilege: "delete", QueryMod: self}},
			QueryArgs:   []Args{{"_id": {Type: TypeID}}},
		},
	})
	user.Methods["add_group"] = &Method{Permissions: Perms("admin"), Handler: a.addGroup,
		QueryArgs: []Args{{"_id": {Type: TypeID}}},
		DocArgs:   []Args{{"group": {Type: TypeID}}, {"group": {Type: TypeList, Items: []*Attr{{Type: TypeID}}}}}}
	user.Methods["read_privileges"] = &Method{Permissions: []Perm{{Privilege: "admin"}, {Privilege: "read", QueryMod: self}},
		Handler: a.readPrivileges, QueryArgs: []Args{{"_id": {Type: TypeID}}}}
	user.Methods["delete_group"] = &Method{Permissions: Perms("admin"), Handler: a.deleteGroup,
		QueryArgs: []Args{{"_id": {Type: TypeID}, "group": {Type: TypeID}}}}
	user.Hooks = Hooks{PreCreate: a.userPreCreate, PreUpdate: a.userPreUpdate, OnRead: a.userOnRead}
	user.Collection = "users"
	group := NewModule[coreGroup]("group", Methods{
		"read":   {Permissions: Perms("admin")},
		"create": {Permissions: Perms("admin")},
		"update": {
			Permissions: []Perm{{Privilege: "admin"}, {Privilege: "update", QueryMod: M{"user": VarUser}, DocMod: M{"privileges": nil}}},
			QueryArgs:   []Args{{"_id": {Type: TypeID}}},
		},
		"delete": {
			Permissions: []Perm{{Privilege: "admin"}, {Privilege: "delete", QueryMod: M{"user": VarUser}}},
			QueryArgs:   []Args{{"_id": {Type: TypeID}}},
		},
	})
	group.Collection = "groups"
	session := NewModule[coreSession]("session", Methods{
		"read":   {Permissions: []Perm{{Privilege: "read", QueryMod: M{"user": VarUser}}}},
		"create": {Permissions: Perms("create")},
		"update": {
			Permissions: []Perm{{Privilege: "update", QueryMod: M{"user": VarUser}, DocMod: M{"user": nil}}},
			QueryArgs:   []Args{{"_id": {Type: TypeID}}},
		},
		"delete": {
			Permissions: []Perm{{Privilege: "delete", QueryMod: M{"user": VarUser}}},
			QueryArgs:   []Args{{"_id": {Type: TypeID}}},
		},
	})
	session.Methods["auth"] = &Method{Permissions: Perms("*"), Handler: a.auth}
	session.Methods["reauth"] = &Method{Permissions: Perms("*"), Handler: a.reauth}
	session.Methods["signout"] = &Method{Permissions: Perms("*"), Handler: a.signout}
	session.Hooks = Hooks{OnRead: func(ctx context.Context, c *Call, r *Result) (*Result, error) {
		docs, _ := r.Args["docs"].([]any)
		for _, d := range docs {
			if m, ok := d.(map[string]any); ok {
				delete(m, "token_hash")
			}
		}
		return r, nil
	}}
	session.Collection = "sessions"
	a.Register("core", user, group, session)
}

// coreSysDocs returns the _ids of core module m's system documents, which
// delete never touches (sysDocs adds Config.Docs, envconfig.go).
func coreSysDocs(m *Module) []any {
	if m.pkg != "core" {
		return nil
	}
	switch m.Name {
	case "user":
		return []any{AdminUserID, AnonUserID}
	case "session":
		return []any{AnonSessionID}
	case "group":
		return []any{DefaultGroup}
	case "realm":
		return []any{GlobalRealmID}
	}
	return nil
}

// bootstrap makes sure the system documents exist and are in sync with the
// config (spec §11.4 step 6).
func (a *App) bootstrap(ctx context.Context) error {
	a.anon = a.newAnonSession()
	users, groups, sessions := a.modules["user"], a.modules["group"], a.modules["session"]

	anonUser := M{
		"_id": AnonUserID, "name": localeAll(a.cfg.Locales, "__ANON"), "locale": a.cfg.Locale,
		"groups": []any{}, "privileges": privilegesValue(a.cfg.AnonPrivileges), "status": "active",
	}
	raw := M{} // placeholders, stored as they are: no value of an app's attr fits ANON
	for _, at := range users.Attrs {
		if _, set := anonUser[at.Name]; !set && !at.Optional && at.Name != "create_time" {
			if v := placeholderValue(at); v != nil {
				raw[at.Name] = v
			}
		}
	}
	if err := a.ensureSystemDoc(ctx, users, anonUser, raw, store.Update{Set: map[string]any{"privileges": anonUser["privileges"]}}); err != nil {
		return fmt.Errorf("ANON user: %w", err)
	}
	anonSession := M{
		"_id": AnonSessionID, "user": AnonUserID, "groups": []any{}, "host_add": "127.0.0.1",
		"user_agent": "__ANON", "expiry": "1970-01-01T00:00:00.000000", "token_hash": "",
	}
	if err := a.ensureDoc(ctx, sessions, anonSession, store.Update{}); err != nil {
		return fmt.Errorf("ANON session: %w", err)
	}
	defGroup := M{
		"_id": DefaultGroup, "name": localeAll(a.cfg.Locales, "DEFAULT"), "desc": localeAll(a.cfg.Locales, "Default group for every user"),
		"privileges": privilegesValue(a.cfg.DefaultPrivileges), "settings": M{},
	}
	if err := a.ensureDoc(ctx, groups, defGroup, store.Update{Set: map[string]any{"privileges": defGroup["privileges"]}}); err != nil {
		return fmt.Errorf("DEFAULT group: %w", err)
	}
	return nil
}

// ensureDoc inserts a system document if it is missing, or applies sync to
// it if it exists.
func (a *App) ensureDoc(ctx context.Context, m *Module, doc M, sync store.Update) error {
	return a.ensureSystemDoc(ctx, m, doc, nil, sync)
}

// ensureSystemDoc is ensureDoc for a system document: doc's values are
// validated, but a required attr doc has no value (or default) for is left
// out rather than refused, and raw values are stored unvalidated (the ANON
// user's placeholders, which no app constraint can be expected to accept).
func (a *App) ensureSystemDoc(ctx context.Context, m *Module, doc, raw M, sync store.Update) error {
	id := doc["_id"].(oid.ID)
	byID := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id}}
	res, err := a.store.Read(ctx, m.coll, byID)
	if err != nil {
		return err
	}
	if res.Total > 0 {
		if sync.Empty() {
			return nil
		}
		_, err := a.store.Update(ctx, m.coll, byID, &sync)
		return err
	}
	c := &Call{Module: m, Method: m.Methods["create"], Session: a.newAnonSession(), RemoteAddr: "127.0.0.1", UserAgent: "limp-go", app: a, skip: skipPerm | skipArgs}
	if _, ok := doc["create_time"]; !ok && m.byName["create_time"] != nil {
		doc["create_time"] = "1970-01-01T00:00:00.000000"
	}
	out, err := a.validateDoc(ctx, c, doc, true)
	if err != nil {
		return err
	}
	for k, v := range raw {
		if _, set := out[k]; !set {
			out[k] = v
		}
	}
	out["_id"] = id
	return a.store.Insert(ctx, m.coll, out)
}

// placeholderValue returns a value that satisfies a required attr of a
// system document that has no meaningful value (LIMP fills the ANON user's
// attrs with generated values).
func placeholderValue(at *Attr) any {
	switch at.Type {
	case TypeEmail:
		return "__anon@localhost.invalid"
	case TypeStr:
		if at.re == nil {
			return "__ANON"
		}
	case TypePhone:
		return "+0"
	case TypeInt:
		return int64(0)
	case TypeFloat:
		return 0.0
	case TypeBool:
		return false
	case TypeList:
		return []any{}
	case TypeDict:
		if at.Val != nil {
			return M{}
		}
	}
	return nil
}

// expand replaces referenced ids with the referenced documents the caller
// may read (spec §6.7). only is the query's $extn: nil means every extn,
// an empty list none.
func (a *App) expand(ctx context.Context, c *Call, m *Module, only []string, docs []map[string]any, depth int) error {
	if len(docs) == 0 || len(m.Extns) == 0 || (only != nil && len(only) == 0) || depth > 2 {
		return nil
	}
	paths := make([]string, 0, len(m.Extns))
	for p := range m.Extns {
		if only == nil || slices.Contains(only, p) {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	for _, path := range paths {
		e := m.Extns[path]
		if e.dynamic() { // extn_dynamic.go
			if err := a.expandDynamic(ctx, c, m, path, e, docs); err != nil {
				return err
			}
			continue
		}
		target := a.modules[e.Module]
		var ids []any
		seen := map[ID]bool{}
		for _, d := range docs {
			visitPath(d, strings.Split(path, "."), func(v any) any {
				switch x := v.(type) {
				case ID:
					if !seen[x] {
						seen[x] = true
						ids = append(ids, x)
					}
				case []any:
					for _, e := range x {
						if id, ok := e.(ID); ok && !seen[id] {
							seen[id] = true
							ids = append(ids, id)
						}
					}
				}
				return v
			})
		}
		if len(ids) == 0 {
			continue
		}
		if err := a.expandIDs(ctx, c, m, path, e, target, ids, docs, strings.Split(path, ".")); err != nil {
			return err
		}
	}
	return nil
}

// expandIDs reads the documents ids name from target (in batches: $in
// takes at most query.MaxIn ids) and puts each in place of its ID at segs
// in docs (null where the caller may not read it or it is gone).
func (a *App) expandIDs(ctx context.Context, c *Call, m *Module, path string, e *Extn, target *Module, ids []any, docs []map[string]any, segs []string) error {
	found := map[ID]any{}
	for start := 0; start < len(ids); start += expandBatchSize {
		if err := a.expandBatch(ctx, c, m, path, e, target, ids[start:min(start+expandBatchSize, len(ids))], found); err != nil {
			return err
		}
	}
	for _, d := range docs {
		visitPath(d, segs, func(v any) any {
			switch x := v.(type) {
			case ID:
				return found[x]
			case []any:
				out := make([]any, len(x))
				for i, e := range x {
					if id, ok := e.(ID); ok {
						out[i] = found[id]
					} else {
						out[i] = e
					}
				}
				return out
			}
			return v
		})
	}
	return nil
}

// expandBatchSize is the size of one read of referenced documents.
const expandBatchSize = 5000

// expandBatch reads one batch of referenced documents through the target's
// read method, with the caller's session, into found.
func (a *App) expandBatch(ctx context.Context, c *Call, m *Module, path string, e *Extn, target *Module, ids []any, found map[ID]any) error {
	if meth := target.Methods["read"]; meth != nil {
		q := NewQuery(M{"_id": M{"$in": ids}})
		if len(e.Attrs) > 0 && !slices.Contains(e.Attrs, "*") {
			attrs := make([]any, len(e.Attrs))
			for i, s := range e.Attrs {
				attrs[i] = s
			}
			q.Append(M{"$attrs": attrs})
		}
		sub := &Call{Endpoint: target.Name + "/read", Module: target, Method: meth, Query: q, Doc: M{},
			Session: c.Session, RemoteAddr: c.RemoteAddr, UserAgent: c.UserAgent, ClientApp: c.ClientApp, app: a, expandRead: true}
		if !e.Force {
			sub.skip |= skipExtn
		}
		res, err := a.run(ctx, sub)
		switch {
		case err == errForbidden:
			// The caller may not read the target: every reference
			// stays unexpanded (null), as if not found.
		case err != nil:
			return fmt.Errorf("expand %s.%s: %w", m.Name, path, err)
		default:
			for _, d := range res.Args["docs"].([]any) {
				dm := d.(map[string]any)
				found[dm["_id"].(ID)] = dm
			}
		}
	}
	return nil
}

// visitPath calls f on the value at path in d (descending into lists
// element-wise) and stores what f returns.
func visitPath(d any, path []string, f func(any) any) {
	switch x := d.(type) {
	case map[string]any:
		v, ok := x[path[0]]
		if !ok {
			return
		}
		if len(path) == 1 {
			x[path[0]] = f(v)
			return
		}
		visitPath(v, path[1:], f)
	case []any:
		for _, e := range x {
			visitPath(e, path, f)
		}
	}
}
