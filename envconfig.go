package limp

import (
	"context"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// Package configs (spec §11.1), $__env values, Vars, app Docs and
// DataIndexes (spec §11.2, §11.4).

// AppDoc is a document of Config.Docs: created in Module at Start when no
// document with its _id exists, through Module's create method as the
// system (permissions and args skipped, hooks run, attrs validated), and
// a system document from then on: no delete, soft or hard, removes it.
// A module's "user" attr (an owned document) the doc does not set is
// AdminUserID.
type AppDoc struct {
	// Module names the module; it must have a collection.
	Module string
	// Doc is the document; it must have an "_id" (an ID or its 24-hex
	// string).
	Doc M
}

// DataIndex is an extra index of Config.DataIndexes (LIMP's
// data_indexes: {collection, index: [(field, 1 | -1 | 'text')]}).
type DataIndex struct {
	// Collection names a module's collection.
	Collection string
	// Keys are the indexed attr paths, in order.
	Keys []IndexKey
}

// IndexKey is one key of a DataIndex.
type IndexKey struct {
	// Path is an attr path ("title", "meta.kind").
	Path string
	// Desc orders the key descending (LIMP's -1; default ascending, 1).
	Desc bool
	// Text makes Path part of the collection's $search text index
	// (LIMP's 'text'); Desc is then ignored.
	Text bool
}

// EnvPrefix marks a config value read from the environment at Start:
// "$__env.NAME" is replaced by $NAME (spec §11.1). A variable that is not
// set is logged as a warning and the value is left empty, so that the
// field's default applies.
const EnvPrefix = "$__env."

// RegisterConfig adds a package's config (LIMP's config() of a package's
// __init__.py, spec §11.1). At Start, the configs of the loaded packages
// are merged over the Config given to New, in the order their packages
// were first registered (Register or RegisterConfig), with LIMP's rules:
// a map field (AnonPrivileges, DefaultPrivileges, ClientApps, Envs, Vars,
// L10N, AdminDoc) is merged key by key, a later package's key replacing
// an earlier one's; any other field that is set (not its zero value)
// replaces the earlier value, slices included (as LIMP's lists). A zero
// field (false, 0, "", nil) leaves the earlier value. Then the Env's
// overrides (Envs) apply, then "$__env.NAME" values are read (EnvPrefix).
// Must be called before Start.
func (a *App) RegisterConfig(pkg string, c Config) {
	if !slices.Contains(a.pkgs, pkg) {
		a.pkgs = append(a.pkgs, pkg)
	}
	if a.pkgConfigs == nil {
		a.pkgConfigs = map[string][]Config{}
	}
	a.pkgConfigs[pkg] = append(a.pkgConfigs[pkg], c)
}

// mergePackageConfigs merges the loaded packages' configs into a.cfg.
func (a *App) mergePackageConfigs() {
	only := a.cfg.Packages
	for _, pkg := range a.pkgs {
		if pkg != "core" && len(only) > 0 && !slices.Contains(only, pkg) {
			continue
		}
		for _, c := range a.pkgConfigs[pkg] {
			mergeConfig(&a.cfg, c)
		}
	}
}

// mergeConfig merges src into dst with LIMP's rules (see RegisterConfig).
func mergeConfig(dst *Config, src Config) {
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for i := range sv.NumField() {
		f := sv.Field(i)
		if !dv.Type().Field(i).IsExported() || f.IsZero() {
			continue
		}
		d := dv.Field(i)
		if f.Kind() == reflect.Map {
			if d.IsNil() {
				d.Set(reflect.MakeMapWithSize(f.Type(), f.Len()))
			}
			it := f.MapRange()
			for it.Next() {
				d.SetMapIndex(it.Key(), it.Value())
			}
			continue
		}
		d.Set(f)
	}
}

// resolveEnvValues replaces "$__env.NAME" in the Config's string fields,
// in AdminDoc's and in Vars' string values (nested ones included).
func (a *App) resolveEnvValues() {
	lookup := func(field, s string) string {
		name, ok := strings.CutPrefix(s, EnvPrefix)
		if !ok {
			return s
		}
		v, set := os.LookupEnv(name)
		if !set {
			a.Logger().Warn("config value names an environment variable that is not set; using the default", "field", field, "var", name)
		}
		return v
	}
	cv := reflect.ValueOf(&a.cfg).Elem()
	for i := range cv.NumField() {
		f, sf := cv.Field(i), cv.Type().Field(i)
		if sf.IsExported() && f.Kind() == reflect.String && strings.HasPrefix(f.String(), EnvPrefix) {
			f.SetString(lookup(sf.Name, f.String()))
		}
	}
	var walk func(field string, v any) any
	walk = func(field string, v any) any {
		switch x := v.(type) {
		case string:
			return lookup(field, x)
		case map[string]any:
			for k, e := range x {
				x[k] = walk(field+"."+k, e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(field, e)
			}
		}
		return v
	}
	if a.cfg.Vars != nil {
		a.cfg.Vars = deepCopy(a.cfg.Vars).(M) // the caller's map is not changed
		walk("Vars", a.cfg.Vars)
	}
	if a.cfg.AdminDoc != nil {
		a.cfg.AdminDoc = deepCopy(a.cfg.AdminDoc).(M)
		walk("AdminDoc", a.cfg.AdminDoc)
	}
}

// Var returns Config.Vars[name] (after "$__env." values are read) and
// whether it is set. Valid after Start.
func (a *App) Var(name string) (any, bool) {
	v, ok := a.cfg.Vars[name]
	return v, ok
}

// checkServices returns the declaration errors of Config.Docs and
// Config.DataIndexes.
func (a *App) checkServices() []error {
	var errs []error
	for i, d := range a.cfg.Docs {
		m := a.modules[d.Module]
		switch {
		case m == nil:
			errs = append(errs, fmt.Errorf("Config.Docs[%d]: unknown module %q", i, d.Module))
			continue
		case m.Collection == "":
			errs = append(errs, fmt.Errorf("Config.Docs[%d]: module %q is a service module (no collection)", i, d.Module))
			continue
		}
		if _, err := appDocID(d); err != nil {
			errs = append(errs, fmt.Errorf("Config.Docs[%d] (%s): %w", i, d.Module, err))
		}
	}
	for i, ix := range a.cfg.DataIndexes {
		m := a.collectionModule(ix.Collection)
		if m == nil {
			errs = append(errs, fmt.Errorf("Config.DataIndexes[%d]: no module has collection %q", i, ix.Collection))
			continue
		}
		if len(ix.Keys) == 0 {
			errs = append(errs, fmt.Errorf("Config.DataIndexes[%d]: no keys", i))
		}
		for _, k := range ix.Keys {
			if m.lookupAttr(k.Path) == nil {
				errs = append(errs, fmt.Errorf("Config.DataIndexes[%d]: collection %q has no attr %q", i, ix.Collection, k.Path))
			}
		}
	}
	return errs
}

// collectionModule returns the module (not a proxy) whose collection is
// name.
func (a *App) collectionModule(name string) *Module {
	for _, m := range a.order {
		if m.Collection == name && name != "" && m.proxyOf == nil {
			return m
		}
	}
	return nil
}

func appDocID(d AppDoc) (ID, error) {
	switch v := d.Doc["_id"].(type) {
	case ID:
		return v, nil
	case string:
		id, err := ParseID(v)
		if err != nil {
			return ID{}, fmt.Errorf("_id %q is not an ID", v)
		}
		return id, nil
	case nil:
		return ID{}, fmt.Errorf("doc has no _id")
	}
	return ID{}, fmt.Errorf("_id is %T, not an ID", d.Doc["_id"])
}

// linkServices runs after every module's schema is built: proxies share
// their target's collection schema, DataIndexes join their collection's,
// the app docs' ids become system documents, and the interceptor chains
// are composed.
func (a *App) linkServices() {
	for _, m := range a.order {
		if m.proxyOf != nil {
			m.coll = m.proxyOf.coll
		}
	}
	for _, ix := range a.cfg.DataIndexes {
		m := a.collectionModule(ix.Collection)
		var keys []schema.IndexKey
		for _, k := range ix.Keys {
			if k.Text {
				if !slices.Contains(m.coll.Search, k.Path) {
					m.coll.Search = append(m.coll.Search, k.Path)
				}
				continue
			}
			keys = append(keys, schema.IndexKey{Path: k.Path, Desc: k.Desc})
		}
		if len(keys) > 0 {
			m.coll.Indexes = append(m.coll.Indexes, keys)
		}
	}
	a.appSysDocs = map[string][]any{}
	for _, d := range a.cfg.Docs {
		id, _ := appDocID(d)
		c := a.modules[d.Module].Collection
		a.appSysDocs[c] = append(a.appSysDocs[c], id)
	}
	a.buildChains()
}

// sysDocs returns the _ids of module m's system documents, which delete
// never touches: the core ones (of a proxy's target too) and Config.Docs.
func (a *App) sysDocs(m *Module) []any {
	t := m
	if m.proxyOf != nil {
		t = m.proxyOf
	}
	core := coreSysDocs(t)
	extra := a.appSysDocs[m.Collection]
	if len(extra) == 0 {
		return core
	}
	return append(slices.Clone(core), extra...)
}

// seedDocs creates the missing Config.Docs (spec §11.4 step 6).
func (a *App) seedDocs(ctx context.Context) error {
	for _, d := range a.cfg.Docs {
		m := a.modules[d.Module]
		id, _ := appDocID(d)
		byID := &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: oid.ID(id)}}
		res, err := a.store.Read(ctx, m.coll, byID)
		if err != nil {
			return fmt.Errorf("doc %s of %s: %w", id.Hex(), d.Module, err)
		}
		if res.Total > 0 {
			continue
		}
		doc := maps.Clone(d.Doc)
		doc["_id"] = id
		if _, set := doc["user"]; !set && m.Attr("user") != nil && m.Attr("user").Type == TypeID {
			doc["user"] = AdminUserID // an owned doc of the app's is ADMIN's
		}
		if _, err := a.Invoke(ctx, a.SystemSession(), d.Module+"/create", nil, doc, SkipPermissions|SkipArgs); err != nil {
			return fmt.Errorf("doc %s of %s: %w", id.Hex(), d.Module, err)
		}
	}
	return nil
}
