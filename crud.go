package limp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// baseMethod runs read, create, update or delete (spec §6.9).
func (a *App) baseMethod(ctx context.Context, c *Call) (*Result, error) {
	if c.Method.isWatch() {
		return a.watch(ctx, c)
	}
	h := c.Module.Hooks
	var pre Hook
	var on OnHook
	var run func(context.Context, *Call) (*Result, error)
	switch c.Method.name {
	case "read":
		pre, on, run = h.PreRead, h.OnRead, a.read
	case "create":
		pre, on, run = h.PreCreate, h.OnCreate, a.create
	case "update":
		pre, on, run = h.PreUpdate, h.OnUpdate, a.update
	case "delete":
		pre, on, run = h.PreDelete, h.OnDelete, a.delete
	case "create_file":
		pre, on, run = h.PreUpdate, h.OnUpdate, a.createFile
	case "delete_file":
		pre, on, run = h.PreUpdate, h.OnUpdate, a.deleteFile
	default:
		return nil, fmt.Errorf("no handler for method %q", c.Method.name)
	}
	if pre != nil && c.skip&skipPre == 0 {
		r, err := pre(ctx, c)
		if err != nil || r != nil {
			return r, err
		}
	}
	res, err := run(ctx, c)
	if err != nil {
		return nil, err
	}
	if on != nil && c.skip&skipOn == 0 {
		return on(ctx, c, res)
	}
	return res, nil
}

func (a *App) convertCtx() *convertCtx {
	return &convertCtx{locales: a.cfg.Locales, locale: a.cfg.Locale, types: a.types}
}

func (a *App) read(ctx context.Context, c *Call) (*Result, error) {
	m := c.Module
	q, err := a.parseQuery(ctx, c, c.Query)
	if err != nil {
		return nil, err
	}
	cr := a.cacheLookup(ctx, c, q)
	if r := cr.result(); r != nil {
		return r, nil
	}
	if cr == nil && a.rawEligible(c, q) { // readraw.go
		if rr := a.rawReader(); rr != nil {
			if r, ok, err := a.readRaw(ctx, c, q, rr); ok || err != nil {
				return r, err
			}
		}
	}
	readAt := a.now()
	res, err := a.store.Read(ctx, m.coll, q)
	if err != nil {
		return nil, err
	}
	stripSecrets(m, res.Docs)
	if c.skip&skipExtn == 0 {
		if err := a.expand(ctx, c, m, q.Extn, res.Docs, 0); err != nil {
			return nil, err
		}
	}
	docs := make([]any, len(res.Docs))
	for i, d := range res.Docs {
		a.fillLocales(m, d)
		docs[i] = d
	}
	groups := M{}
	for by, buckets := range res.Groups {
		l := make([]any, len(buckets))
		for i, b := range buckets {
			l[i] = M{"min": b.Min, "max": b.Max, "count": b.Count}
		}
		groups[by] = l
	}
	r := OK(fmt.Sprintf("Found %d docs.", len(docs)), M{
		"total": res.Total, "count": int64(len(docs)), "docs": docs, "groups": groups,
	})
	cr.store(r, readAt)
	return r, nil
}

// fillLocales completes LOCALE attrs to every app locale from the default
// locale, as LIMP does on read (spec §6.20).
func (a *App) fillLocales(m *Module, d map[string]any) {
	for _, at := range m.Attrs {
		if at.Type != TypeLocale {
			continue
		}
		loc, ok := d[at.Name].(map[string]any)
		if !ok {
			continue
		}
		def := loc[a.cfg.Locale]
		for _, l := range a.cfg.Locales {
			if _, ok := loc[l]; !ok && def != nil {
				loc[l] = def
			}
		}
	}
}

func (a *App) create(ctx context.Context, c *Call) (*Result, error) {
	m := c.Module
	settings, err := a.takeUserSettings(c) // user/create's settings (settings.go)
	if err != nil {
		return nil, err
	}
	doc := c.Doc
	if _, ok := doc["_id"]; ok && c.skip&skipArgs == 0 {
		if !a.cfg.DropUnknownAttrs {
			return nil, m.Error(400, CodeInvalidAttr, "Invalid attr '_id': clients cannot choose a document's _id for 'create' request on module '"+m.prefix[:len(m.prefix)-1]+"'.")
		}
		delete(doc, "_id")
	}
	for k := range doc {
		if k != "_id" && m.byName[k] == nil {
			if a.cfg.DropUnknownAttrs {
				delete(doc, k)
				continue
			}
			return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr '%s': the module has no such attr for 'create' request on module '%s'.", k, m.prefix[:len(m.prefix)-1])
		}
	}
	now := time.Now()
	if m.byName["user"] != nil && c.skip&skipArgs == 0 {
		doc["user"] = c.Session.UserID
	}
	if m.byName["create_time"] != nil {
		doc["create_time"] = FormatDatetime(now)
	}
	if m.byName["host_add"] != nil && doc["host_add"] == nil {
		doc["host_add"] = c.RemoteAddr
	}
	if m.byName["user_agent"] != nil && doc["user_agent"] == nil {
		doc["user_agent"] = c.UserAgent
	}
	out, err := a.validateCreate(ctx, c, doc)
	if err != nil {
		return nil, err
	}
	id := oid.NewAt(now)
	if v, ok := doc["_id"].(ID); ok && c.skip&skipArgs != 0 {
		id = v // internal calls (system documents) choose their ids
	}
	out["_id"] = id
	if err := a.insertCreated(ctx, m, out, settings); err != nil {
		return nil, m.storeError(err)
	}
	if soft, _ := c.Query.Special("$soft"); soft == true {
		res, err := a.store.Read(ctx, m.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id}})
		if err != nil {
			return nil, err
		}
		stripSecrets(m, res.Docs)
		docs := make([]any, len(res.Docs))
		for i, d := range res.Docs {
			docs[i] = d
		}
		return OK("Created 1 docs.", M{"total": res.Total, "count": int64(len(docs)), "docs": docs, "groups": M{}}), nil
	}
	return OK("Created 1 docs.", M{"count": int64(1), "docs": []any{M{"_id": id}}}), nil
}

// validateCreate applies defaults and converts every attr of a new doc.
func (a *App) validateCreate(ctx context.Context, c *Call, doc M) (M, error) {
	return a.validateDoc(ctx, c, doc, false)
}

// validateDoc is validateCreate; for a system document (system true) a
// required attr without a value or default is left out instead of refused.
func (a *App) validateDoc(ctx context.Context, c *Call, doc M, system bool) (M, error) {
	m := c.Module
	cc := a.convertCtx()
	if err := a.nestedDefaults(ctx, c, doc); err != nil {
		return nil, err
	}
	out := make(M, len(m.Attrs)+1)
	for _, at := range m.Attrs {
		v, present := doc[at.Name]
		if v == nil {
			if def, ok := m.Defaults[at.Name]; ok {
				dv, err := a.defaultValue(ctx, c, def)
				if err != nil {
					return nil, err
				}
				v = dv
			}
		}
		if v == nil && !present && (at.Optional || system) {
			continue
		}
		conv, err := at.convert(cc, v, at.Name)
		if err != nil {
			return nil, m.attrError(err, "create")
		}
		if conv != nil {
			out[at.Name] = conv
		}
	}
	return out, nil
}

// nestedDefaults applies the module's defaults at nested paths
// ("meta.kind", "items:0.qty" or "items.0.qty") where the doc has no
// value, creating the objects on the way (spec §6.4). Top-level defaults
// are applied by validateCreate.
func (a *App) nestedDefaults(ctx context.Context, c *Call, doc M) error {
	paths := make([]string, 0, len(c.Module.Defaults))
	for p := range c.Module.Defaults {
		if strings.ContainsAny(p, ".:") {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths) // parents before children
	for _, p := range paths {
		segs := strings.FieldsFunc(p, func(r rune) bool { return r == '.' || r == ':' })
		var cur any = doc
		for i, seg := range segs {
			last := i == len(segs)-1
			switch x := cur.(type) {
			case M:
				next, ok := x[seg]
				if last {
					if !ok || next == nil {
						v, err := a.defaultValue(ctx, c, c.Module.Defaults[p])
						if err != nil {
							return err
						}
						x[seg] = v
					}
					break
				}
				if !ok || next == nil {
					next = M{}
					x[seg] = next
				}
				cur = next
			case []any:
				n, err := strconv.Atoi(seg)
				if err != nil || n < 0 || n >= len(x) {
					cur = nil
					break
				}
				if last {
					if x[n] == nil {
						v, err := a.defaultValue(ctx, c, c.Module.Defaults[p])
						if err != nil {
							return err
						}
						x[n] = v
					}
					break
				}
				cur = x[n]
			default:
				cur = nil
			}
			if cur == nil {
				break
			}
		}
	}
	return nil
}

// defaultValue evaluates a default: a constant (deep-copied), a time
// variable or a ValueFunc.
func (a *App) defaultValue(ctx context.Context, c *Call, def any) (any, error) {
	switch d := def.(type) {
	case ValueFunc:
		return d(ctx, c)
	case func(context.Context, *Call) (any, error):
		return d(ctx, c)
	case Var:
		return a.resolveVar(c, string(d))
	}
	return deepCopy(def), nil
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// attrError turns a conversion error into the module's 400.
func (m *Module) attrError(err error, method string) error {
	var ae *attrError
	if !errors.As(err, &ae) {
		return err
	}
	return m.Errorf(400, ae.code(), "%s for '%s' request on module '%s'.", ae.Error(), method, m.prefix[:len(m.prefix)-1])
}

// storeError maps store errors to wire errors.
func (m *Module) storeError(err error) error {
	var de *store.DuplicateError
	if errors.As(err, &de) {
		return m.Errorf(400, CodeDuplicateDoc, "A doc with the same '%s' already exists.", strings.Join(de.Attrs, ", "))
	}
	return err
}

func (a *App) update(ctx context.Context, c *Call) (*Result, error) {
	m := c.Module
	u, err := a.buildUpdate(c)
	if err != nil {
		return nil, err
	}
	if u.Empty() {
		return OK("Nothing to update.", M{}), nil
	}
	q, err := a.parseQuery(ctx, c, c.Query)
	if err != nil {
		return nil, err
	}
	if q.Filter == nil && q.Search == "" {
		return nil, m.Error(400, CodeInvalidQuery, "An update needs a query selecting the docs to update.")
	}
	if q, err = a.checkKeptFiles(ctx, c, q); err != nil { // filekeep.go
		return nil, err
	}
	if m.touchesUnique(u) {
		probe := *q
		probe.Limit, probe.Skip, probe.Attrs = 2, 0, []string{"_id"}
		res, err := a.store.Read(ctx, m.coll, &probe)
		if err != nil {
			return nil, err
		}
		if res.Total > 1 {
			return nil, m.Error(400, CodeMultiDuplicate, "Update call query has more than one doc as results. This would result in duplication.")
		}
	}
	res, err := a.updateDiffed(ctx, c, q, u)
	if err != nil {
		return nil, m.boundsError(m.storeError(err), u)
	}
	// count is MongoDB's modifiedCount, docs the matched ids (spec §8.5).
	return OK(fmt.Sprintf("Updated %d docs.", res.Modified), M{"count": res.Modified, "docs": idDocs(res.Matched)}), nil
}

func idDocs(ids []ID) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = M{"_id": id}
	}
	return out
}

func (m *Module) touchesUnique(u *store.Update) bool {
	for _, p := range u.Paths() {
		root, _, _ := strings.Cut(p, ".")
		for _, set := range m.coll.Unique {
			for _, s := range set {
				if s == root || strings.HasPrefix(s, root+".") || strings.HasPrefix(p, s+".") || s == p {
					return true
				}
			}
		}
	}
	return false
}

// buildUpdate validates an update doc attr by attr (dotted keys included)
// and turns it into a store update.
func (a *App) buildUpdate(c *Call) (*store.Update, error) {
	m := c.Module
	cc := a.convertCtx()
	u := &store.Update{}
	for key, v := range c.Doc {
		if key == "_id" {
			return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr '_id': a document's _id cannot be changed for 'update' request on module '%s'.", m.prefix[:len(m.prefix)-1])
		}
		at := m.lookupAttr(key)
		if msg := m.localeKeyError(key); at == nil && msg != "" {
			return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr '%s': %s for 'update' request on module '%s'.", key, msg, m.prefix[:len(m.prefix)-1])
		}
		if at == nil || strings.Contains(key, "$") || strings.HasPrefix(key, "__") {
			return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr '%s': the module has no such attr for 'update' request on module '%s'.", key, m.prefix[:len(m.prefix)-1])
		}
		if v == nil {
			if !at.Optional && at.Type != TypeAny {
				return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr '%s': it is required and cannot be set to null for 'update' request on module '%s'.", key, m.prefix[:len(m.prefix)-1])
			}
			u.Unset = append(u.Unset, key)
			continue
		}
		if op, ok := v.(map[string]any); ok && isOperator(op) {
			if err := addOperator(cc, u, at, key, op); err != nil {
				return nil, m.attrError(err, "update")
			}
			continue
		}
		conv, err := at.convert(cc, v, key)
		if err != nil {
			return nil, m.attrError(err, "update")
		}
		if u.Set == nil {
			u.Set = map[string]any{}
		}
		u.Set[key] = conv
	}
	return u, nil
}

func isOperator(m map[string]any) bool {
	for k := range m {
		if strings.HasPrefix(k, "$") {
			return true
		}
	}
	return false
}

// addOperator type-checks an update operator against its attr (spec §8.5).
func addOperator(cc *convertCtx, u *store.Update, at *Attr, key string, op map[string]any) error {
	bad := func(msg string) error { return &attrError{kind: errInvalid, path: key, msg: msg} }
	switch {
	case len(op) == 1 && op["$add"] != nil, len(op) == 1 && op["$multiply"] != nil:
		name, v := "$add", op["$add"]
		if v == nil {
			name, v = "$multiply", op["$multiply"]
		}
		if at.Type != TypeInt && at.Type != TypeFloat {
			return bad(name + " needs an INT or FLOAT attr, not " + at.Type.String())
		}
		conv, err := at.operand().convert(cc, v, key)
		if err != nil {
			return err
		}
		if err := boundOperator(u, at, key); err != nil {
			return bad(name + " cannot be used: " + err.Error())
		}
		if name == "$add" {
			if u.Add == nil {
				u.Add = map[string]any{}
			}
			u.Add[key] = conv
		} else {
			if u.Mul == nil {
				u.Mul = map[string]any{}
			}
			u.Mul[key] = conv
		}
	case op["$append"] != nil && (len(op) == 1 || len(op) == 2 && op["$unique"] != nil):
		if at.Type != TypeList {
			return bad("$append needs a LIST attr, not " + at.Type.String())
		}
		unique, ok := op["$unique"].(bool)
		if op["$unique"] != nil && !ok {
			return bad("$unique must be true or false")
		}
		conv, err := at.operand().convert(cc, []any{op["$append"]}, key)
		if err != nil {
			return err
		}
		if err := checkItemRules(at, conv, key); err != nil {
			return err
		}
		if err := boundOperator(u, at, key); err != nil {
			return bad("$append cannot be used: " + err.Error())
		}
		if u.Append == nil {
			u.Append = map[string]store.Append{}
		}
		u.Append[key] = store.Append{Values: conv.([]any), Unique: unique}
	case len(op) == 1 && op["$remove"] != nil:
		if at.Type != TypeList {
			return bad("$remove needs a LIST attr, not " + at.Type.String())
		}
		vals, ok := op["$remove"].([]any)
		if !ok {
			vals = []any{op["$remove"]}
		}
		conv, err := at.operand().convert(cc, vals, key)
		if err != nil {
			return err
		}
		if err := boundOperator(u, at, key); err != nil {
			return bad("$remove cannot be used: " + err.Error())
		}
		if u.Remove == nil {
			u.Remove = map[string][]any{}
		}
		u.Remove[key] = conv.([]any)
	default:
		keys := make([]string, 0, len(op))
		for k := range op {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return bad("unknown update operator " + strings.Join(keys, ", ") + " (LIMP knows $add, $multiply, $append with $unique, $remove)")
	}
	return nil
}

func (a *App) delete(ctx context.Context, c *Call) (*Result, error) {
	m := c.Module
	q, err := a.parseQuery(ctx, c, c.Query)
	if err != nil {
		return nil, err
	}
	if q.Filter == nil && q.Search == "" {
		return nil, m.Error(400, CodeInvalidQuery, "A delete needs a query selecting the docs to delete.")
	}
	hard := q.Soft
	if hard && c.skip&skipPerm == 0 && !c.Session.HasPrivilege(m, "admin") {
		// LIMP let any deleter hard-delete with $soft; we require the
		// module's admin privilege for that.
		return nil, errForbidden
	}
	if sys := a.sysDocs(m); len(sys) > 0 {
		q.Filter = query.AndFilter(q.Filter, &query.Cond{Path: "_id", Op: query.Nin, Value: sys})
	}
	ids, err := a.deleteDiffed(ctx, c, q, hard)
	if err != nil {
		return nil, err
	}
	return OK(fmt.Sprintf("Deleted %d docs.", len(ids)), M{"count": int64(len(ids)), "docs": idDocs(ids)}), nil
}
