package limp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// Setting types (spec §6.17).
const (
	// SettingGlobal is app-wide: readable by everyone, written by admins
	// (setting.admin). Stored with user SystemUserID.
	SettingGlobal = "global"
	// SettingUser belongs to a user, who reads and updates it.
	SettingUser = "user"
	// SettingUserSys belongs to a user, who only reads it; admins write it.
	SettingUserSys = "user_sys"
)

// ErrNoSetting is returned by App.Setting and App.UserSetting for a
// setting that is not stored.
var ErrNoSetting = errors.New("limp: no such setting")

// coreSetting is the stored shape of a setting (spec §6.17).
type coreSetting struct {
	Doc
	User ID     `json:"user" limp:"index"`
	Var  string `json:"var" limp:"index" validate:"min=1,max=256"`
	Val  any    `json:"val"`
	Type string `json:"type" limp:"index" validate:"oneof=global user user_sys"`
}

// registerServices declares the core modules setting, diff and analytic
// (spec §6.15–6.17) and wires the user module's settings.
func (a *App) registerServices() {
	a.Register("core", newSettingModule(a), newDiffModule(), newAnalyticModule(a))
}

func settingTypeArg(types ...any) *Attr { return &Attr{Type: TypeLiteral, Literal: types} }

// settingArgs are LIMP's three query_args sets of setting read and update.
func settingArgs() []Args {
	return []Args{
		{"_id": {Type: TypeID}, "type": settingTypeArg(SettingGlobal, SettingUser, SettingUserSys)},
		{"var": {Type: TypeStr}, "type": settingTypeArg(SettingGlobal)},
		{"var": {Type: TypeStr}, "user": {Type: TypeID}, "type": settingTypeArg(SettingUser, SettingUserSys)},
	}
}

func newSettingModule(a *App) *Module {
	// Global settings belong to SystemUserID: readers see those and their own.
	own := []M{{"user": SystemUserID}, {"user": VarUser}}
	m := NewModule[coreSetting]("setting", Methods{
		"read": {
			Permissions: []Perm{{Privilege: "admin"}, {Privilege: "*", QueryMod: own}},
			QueryArgs:   settingArgs(),
		},
		"update": {
			Permissions: []Perm{{Privilege: "admin", DocMod: M{"user": nil, "var": nil}},
				{Privilege: "update", QueryMod: M{"type": SettingUser, "user": VarUser}, DocMod: M{"type": nil, "user": nil, "var": nil}}},
			QueryArgs: settingArgs(),
			DocArgs:   []Args{{"val": settingValArg()}},
		},
		"delete": {
			Permissions: Perms("admin"),
			QueryArgs:   []Args{{"_id": {Type: TypeID}}, {"var": {Type: TypeStr}}},
		},
	})
	m.Methods["create"] = &Method{
		Permissions: []Perm{{Privilege: "admin"}, {Privilege: "create", DocMod: M{"type": SettingUser}}},
		Handler:     a.settingCreate,
		DocArgs:     []Args{{"var": {Type: TypeStr}, "val": settingValArg(), "type": settingTypeArg(SettingGlobal, SettingUser, SettingUserSys)}},
		Desc:        "Creates a setting `{var, val, type, user?}`. Admins create any type (`user` defaults to the caller; global settings belong to no user); other holders of setting.create only their own `user` settings.",
	}
	m.Collection = "settings"
	m.Unique = [][]string{{"user", "var", "type"}}
	m.Desc = "Settings (spec §6.17): `global` (everyone reads, admins write), `user` (its user reads and updates), `user_sys` (its user reads, admins write). " +
		"`val` may hold a file (uploaded for attr `val` of setting/create or setting/update, or `{\"__file\": id}` after POST /file/create with `__module=setting`, `__attr=val`; a single-file list is stored as the file), served by GET /setting/retrieve_file/{_id}/val/{name} to whoever may read the setting. " +
		"`val` may hold an extension reference `{\"__extn\": {\"module\": m, \"attrs\": [...]}, \"__val\": id | [ids]}`, expanded on read with the reader's permissions. " +
		"Config.UserDocSettings lists the vars merged into user docs as `settings: {var: val}`."
	m.Hooks = Hooks{PreUpdate: settingPreUpdate, OnRead: a.settingOnRead, OnUpdate: a.settingOnWrite, OnDelete: a.settingOnWrite}
	m.Diff = true
	return m
}

// settingValArg is the doc arg val of setting/create and setting/update
// (spec §6.17): a LIST of FILE, else ANY value. Its FILE item is what
// lets uploads and {"__file": id} references (given as a one-file list)
// attach to val (issue 10 item 4: an upload attaches only where the
// method declares a file); files given there are checked as files (no
// FileSpec: any type, up to Config.MaxFileSize). A list mixing files and
// other values is kept whole as an ANY value.
func settingValArg() *Attr {
	return &Attr{Type: TypeUnion, Items: []*Attr{
		{Type: TypeList, Items: []*Attr{{Type: TypeFile}}},
		{Type: TypeAny},
	}}
}

// unwrapFile returns the file of a single-file list (as LIMP's setting
// pre_create and pre_update do), else v.
func unwrapFile(v any) any {
	if l, ok := v.([]any); ok && len(l) == 1 {
		if _, err := fileFromValue(l[0]); err == nil {
			return l[0]
		}
	}
	return v
}

// settingPreUpdate stores a single uploaded file of val as the file.
func settingPreUpdate(_ context.Context, c *Call) (*Result, error) {
	if v, ok := c.Doc["val"]; ok {
		c.Doc["val"] = unwrapFile(v)
	}
	return nil, nil
}

// settingCreate is setting/create.
func (a *App) settingCreate(ctx context.Context, c *Call) (*Result, error) {
	m := c.Module
	admin := c.Session.HasPrivilege(m, "admin")
	typ, _ := c.Doc["type"].(string)
	user := c.Session.UserID
	if admin {
		if v, ok := c.Doc["user"]; ok && v != nil {
			id, ok := toID(v)
			if !ok {
				return nil, m.Error(400, CodeInvalidAttr, "Invalid attr 'user': expects an _id for 'create' request on module 'CORE_SETTING'.")
			}
			user = id
		}
	} else if typ != SettingUser {
		return nil, errForbidden
	}
	if typ == SettingGlobal {
		user = SystemUserID
	} else if admin && user != c.Session.UserID {
		if ok, err := a.userExists(ctx, user); err != nil {
			return nil, err
		} else if !ok {
			return nil, m.Error(400, "INVALID_USER", "User is invalid.")
		}
	}
	doc, err := a.settingDoc(m, user, c.Doc["var"], unwrapFile(c.Doc["val"]), typ, time.Now())
	if err != nil {
		return nil, err
	}
	if err := a.store.Insert(ctx, m.coll, doc); err != nil {
		return nil, m.storeError(err)
	}
	a.settingsChanged([]ID{user})
	return OK("Created 1 docs.", M{"count": int64(1), "docs": []any{M{"_id": doc["_id"]}}}), nil
}

// settingDoc validates and builds a setting document.
func (a *App) settingDoc(m *Module, user ID, name, val any, typ string, now time.Time) (map[string]any, error) {
	c := &Call{Module: m, Method: m.Methods["create"], Session: a.anon, app: a}
	out, err := a.validateDoc(context.Background(), c, M{"user": user, "var": name, "val": canonicalAny(val), "type": typ, "create_time": FormatDatetime(now)}, false)
	if err != nil {
		return nil, err
	}
	out["_id"] = oid.NewAt(now)
	return out, nil
}

func (a *App) userExists(ctx context.Context, id ID) (bool, error) {
	res, err := a.store.Read(ctx, a.modules["user"].coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id}, Attrs: []string{"_id"}, Limit: 1})
	if err != nil {
		return false, err
	}
	return len(res.Docs) > 0, nil
}

// settingsChanged refreshes the live sessions of users whose settings
// changed, when the app merges settings into user docs: their next call
// sees the new user.settings.
func (a *App) settingsChanged(users []ID) {
	if len(a.cfg.UserDocSettings) == 0 {
		return
	}
	a.live.usersWritten(users)
}

// settingOnWrite follows setting update and delete: the users whose
// settings changed get their live sessions refreshed.
func (a *App) settingOnWrite(ctx context.Context, c *Call, r *Result) (*Result, error) {
	if len(a.cfg.UserDocSettings) == 0 {
		return r, nil
	}
	var ids []any
	for _, d := range asDocs(r.Args["docs"]) {
		ids = append(ids, d["_id"])
	}
	if len(ids) == 0 {
		return r, nil
	}
	res, err := a.store.Read(ctx, c.Module.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.In, Value: ids}, Attrs: []string{"user"}})
	if err != nil {
		return nil, err
	}
	users := make([]ID, 0, len(res.Docs))
	for _, d := range res.Docs {
		if u, ok := d["user"].(ID); ok {
			users = append(users, u)
		}
	}
	if c.Method.name == "delete" {
		// deleted docs are no longer readable: refresh every session
		a.live.groupsWritten()
	}
	a.settingsChanged(users)
	return r, nil
}

func asDocs(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// settingOnRead expands extension references in val with the reader's
// permissions (spec §6.7: {"__extn": {"module", "attrs"}, "__val": id|[id]}).
func (a *App) settingOnRead(ctx context.Context, c *Call, r *Result) (*Result, error) {
	if c.skip&skipExtn != 0 {
		return r, nil
	}
	for _, d := range asDocs(r.Args["docs"]) {
		v, err := a.expandVal(ctx, c, d["val"])
		if err != nil {
			return nil, err
		}
		d["val"] = v
	}
	return r, nil
}

// expandVal resolves one extension reference value.
func (a *App) expandVal(ctx context.Context, c *Call, v any) (any, error) {
	ref, ok := v.(map[string]any)
	if !ok {
		return v, nil
	}
	extn, ok := ref["__extn"].(map[string]any)
	if !ok {
		return v, nil
	}
	mod, _ := extn["module"].(string)
	target := a.modules[mod]
	if target == nil || target.Methods["read"] == nil {
		return nil, nil
	}
	var ids []any
	list := false
	switch x := ref["__val"].(type) {
	case []any:
		list = true
		for _, e := range x {
			if id, ok := toID(e); ok {
				ids = append(ids, id)
			}
		}
	default:
		if id, ok := toID(x); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 || len(ids) > expandBatchSize {
		return nil, nil
	}
	q := NewQuery(M{"_id": M{"$in": ids}})
	if attrs, ok := extn["attrs"].([]any); ok && len(attrs) > 0 {
		q.Append(M{"$attrs": attrs})
	}
	res, err := c.Invoke(ctx, mod+"/read", q, nil, SkipExtensions)
	var e *Error
	if errors.As(err, &e) && e.Status == 403 {
		return nil, nil // unreadable: as if missing
	}
	if err != nil {
		return nil, err
	}
	docs, _ := res.Args["docs"].([]any)
	if list {
		return docs, nil
	}
	if len(docs) == 0 {
		return nil, nil
	}
	return docs[0], nil
}

// userSettings returns {var: val} of Config.UserDocSettings for each user.
func (a *App) userSettings(ctx context.Context, users []any) (map[ID]M, error) {
	out := map[ID]M{}
	if len(a.cfg.UserDocSettings) == 0 || len(users) == 0 || a.modules["setting"] == nil {
		return out, nil
	}
	vars := make([]any, len(a.cfg.UserDocSettings))
	for i, v := range a.cfg.UserDocSettings {
		vars[i] = v
	}
	f := query.AndFilter(query.AndFilter(
		&query.Cond{Path: "user", Op: query.In, Value: users},
		&query.Cond{Path: "var", Op: query.In, Value: vars}),
		&query.Cond{Path: "type", Op: query.In, Value: []any{SettingUser, SettingUserSys}})
	res, err := a.store.Read(ctx, a.modules["setting"].coll, &query.Query{Filter: f, Sort: []query.Sort{{Path: "_id"}}})
	if err != nil {
		return nil, err
	}
	for _, d := range res.Docs {
		u, _ := d["user"].(ID)
		name, _ := d["var"].(string)
		if out[u] == nil {
			out[u] = M{}
		}
		out[u][name] = d["val"]
	}
	return out, nil
}

// mergeUserSettings sets "settings" on user docs (spec §6.17).
func (a *App) mergeUserSettings(ctx context.Context, docs []map[string]any) error {
	if len(a.cfg.UserDocSettings) == 0 || len(docs) == 0 {
		return nil
	}
	ids := make([]any, 0, len(docs))
	for _, d := range docs {
		if id, ok := d["_id"].(ID); ok {
			ids = append(ids, id)
		}
	}
	for start := 0; start < len(ids); start += expandBatchSize {
		byUser, err := a.userSettings(ctx, ids[start:min(start+expandBatchSize, len(ids))])
		if err != nil {
			return err
		}
		for _, d := range docs {
			id, _ := d["_id"].(ID)
			if _, done := d["settings"]; done {
				continue
			}
			if s := byUser[id]; s != nil {
				d["settings"] = s
			}
		}
	}
	for _, d := range docs {
		if _, ok := d["settings"]; !ok {
			d["settings"] = M{}
		}
	}
	return nil
}

// pendingSetting is a setting given at user/create.
type pendingSetting struct {
	name, typ string
	val       any
}

// takeUserSettings removes "settings" from a user/create doc and checks
// it: {var: {type: "user"|"user_sys", val}} (user_sys only for admins).
func (a *App) takeUserSettings(c *Call) ([]pendingSetting, error) {
	m := c.Module
	if m.pkg != "core" || m.Name != "user" {
		return nil, nil
	}
	raw, ok := c.Doc["settings"]
	if !ok {
		return nil, nil
	}
	delete(c.Doc, "settings")
	set, ok := raw.(map[string]any)
	if !ok && raw != nil {
		return nil, m.Error(400, CodeInvalidAttr, "Invalid attr 'settings': expects an object {var: {type, val}} for 'create' request on module 'CORE_USER'.")
	}
	admin := c.skip&skipPerm != 0 || c.Session.HasPrivilege(a.modules["setting"], "admin")
	out := make([]pendingSetting, 0, len(set))
	for _, name := range sortedKeys(set) {
		s, ok := set[name].(map[string]any)
		typ, _ := s["type"].(string)
		if !ok || (typ != SettingUser && typ != SettingUserSys) || name == "" {
			return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr 'settings.%s': expects {type: 'user'|'user_sys', val} for 'create' request on module 'CORE_USER'.", name)
		}
		if typ == SettingUserSys && !admin {
			return nil, errForbidden
		}
		out = append(out, pendingSetting{name: name, typ: typ, val: s["val"]})
	}
	return out, nil
}

// insertCreated stores a new document; a new user's settings go with it
// in one transaction.
func (a *App) insertCreated(ctx context.Context, m *Module, doc map[string]any, settings []pendingSetting) error {
	if len(settings) == 0 {
		return a.store.Insert(ctx, m.coll, doc)
	}
	sm := a.modules["setting"]
	uid := doc["_id"].(ID)
	docs := make([]map[string]any, 0, len(settings))
	now := time.Now()
	for _, s := range settings {
		d, err := a.settingDoc(sm, uid, s.name, s.val, s.typ, now)
		if err != nil {
			return err
		}
		docs = append(docs, d)
	}
	return a.store.Tx(ctx, func(ctx context.Context) error {
		if err := a.store.Insert(ctx, m.coll, doc); err != nil {
			return err
		}
		if err := a.store.Insert(ctx, sm.coll, docs...); err != nil {
			return sm.storeError(err)
		}
		return nil
	})
}

// Setting returns the value of the global setting name, or ErrNoSetting.
// Values are canonical JSON values (string, int64, float64, bool, nil,
// []any, map[string]any, ID); see SettingOf for a typed value.
func (a *App) Setting(ctx context.Context, name string) (any, error) {
	return a.readSetting(ctx, SystemUserID, name, SettingGlobal)
}

// UserSetting returns the value of user's setting name (type user, else
// user_sys), or ErrNoSetting.
func (a *App) UserSetting(ctx context.Context, user ID, name string) (any, error) {
	v, err := a.readSetting(ctx, user, name, SettingUser)
	if errors.Is(err, ErrNoSetting) {
		return a.readSetting(ctx, user, name, SettingUserSys)
	}
	return v, err
}

// SetSetting stores the global setting name (created or replaced), as
// an admin's setting/create or setting/update would, diff included.
func (a *App) SetSetting(ctx context.Context, name string, val any) error {
	m := a.modules["setting"]
	if m == nil {
		return errors.New("limp: SetSetting before Start")
	}
	q := NewQuery(M{"var": name, "type": SettingGlobal})
	r, err := a.Invoke(ctx, a.SystemSession(), "setting/update", q, M{"val": canonicalAny(val)})
	if err != nil {
		return err
	}
	if docs, _ := r.Args["docs"].([]any); len(docs) > 0 || r.Msg == "Nothing to update." {
		return nil
	}
	_, err = a.Invoke(ctx, a.SystemSession(), "setting/create", nil, M{"var": name, "val": canonicalAny(val), "type": SettingGlobal})
	return err
}

func (a *App) readSetting(ctx context.Context, user ID, name, typ string) (any, error) {
	m := a.modules["setting"]
	if m == nil || m.coll == nil {
		return nil, errors.New("limp: settings read before Start")
	}
	f := query.AndFilter(query.AndFilter(
		&query.Cond{Path: "user", Op: query.Eq, Value: user},
		&query.Cond{Path: "var", Op: query.Eq, Value: name}),
		&query.Cond{Path: "type", Op: query.Eq, Value: typ})
	res, err := a.store.Read(ctx, m.coll, &query.Query{Filter: f, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(res.Docs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoSetting, name)
	}
	return res.Docs[0]["val"], nil
}

// SettingOf returns the global setting name decoded into T (through
// JSON), e.g. limp.SettingOf[int](ctx, app, "page_size").
func SettingOf[T any](ctx context.Context, a *App, name string) (T, error) {
	v, err := a.Setting(ctx, name)
	return decodeSetting[T](v, err)
}

// UserSettingOf is SettingOf for a user's setting (App.UserSetting).
func UserSettingOf[T any](ctx context.Context, a *App, user ID, name string) (T, error) {
	v, err := a.UserSetting(ctx, user, name)
	return decodeSetting[T](v, err)
}

func decodeSetting[T any](v any, err error) (T, error) {
	var out T
	if err != nil {
		return out, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("limp: setting value %s does not fit %T: %w", b, out, err)
	}
	return out, nil
}

// prepareServices runs before modules' init: history methods for modules
// with Diff, and the checks of Diff and Analytics declarations.
func (a *App) prepareServices() []error {
	var errs []error
	for _, m := range a.order {
		if err := checkAnalyticsDecl(m); err != nil {
			errs = append(errs, err)
		}
		if err := checkDiffDecl(m); err != nil {
			errs = append(errs, err)
			continue
		}
		addHistoryMethod(a, m)
	}
	for _, v := range a.cfg.UserDocSettings {
		if v == "" {
			errs = append(errs, errors.New("Config.UserDocSettings has an empty var"))
		}
	}
	for name := range a.cfg.AnalyticsEvents {
		if !slices.Contains(analyticsEventNames, name) {
			errs = append(errs, fmt.Errorf("Config.AnalyticsEvents names unknown event %q (have %v)", name, analyticsEventNames))
		}
	}
	return errs
}

var analyticsEventNames = []string{"app_conn_verified", "session_conn_auth", "session_user_auth",
	"session_conn_reauth", "session_user_reauth", "session_conn_deauth", "session_user_deauth"}
