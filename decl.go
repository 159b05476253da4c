package limp

import (
	"fmt"
	"slices"
	"strings"
)

// checkDeclarations reports the declaration mistakes that would otherwise
// surface only when a method is first called (a 500, or a 400 blaming the
// client): permission modifiers and base-method args naming attrs the
// module does not declare, privileges naming unknown modules or
// privileges a module does not declare (in Perms, Config.AnonPrivileges,
// Config.DefaultPrivileges and Config.Groups), nested refs to unknown
// modules, extns keeping attrs their target lacks, and Config.Groups
// entries without an id or a Name in the default locale. Run by Start
// after every module's init; its errors are reported with init's, all at
// once. registered are every registered module: privileges may name a
// module of a package --packages left out.
func (a *App) checkDeclarations(registered []*Module) []error {
	known := make(map[string]*Module, len(registered))
	for _, m := range registered {
		if _, dup := known[m.Name]; !dup {
			known[m.Name] = m
		}
	}
	for name, m := range a.modules {
		known[name] = m
	}
	var errs []error
	for _, m := range a.order {
		errs = append(errs, m.checkMethods(known)...)
		errs = append(errs, m.checkRefs()...)
	}
	errs = append(errs, checkPrivileges("Config.AnonPrivileges", a.cfg.AnonPrivileges, known)...)
	errs = append(errs, checkPrivileges("Config.DefaultPrivileges", a.cfg.DefaultPrivileges, known)...)
	seen := map[ID]int{}
	for i, g := range a.cfg.Groups {
		where := fmt.Sprintf("Config.Groups[%d]", i)
		if g.ID.IsZero() {
			errs = append(errs, fmt.Errorf("%s: needs an ID", where))
		} else if j, dup := seen[g.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: ID %s repeats Config.Groups[%d]", where, g.ID.Hex(), j))
		} else {
			seen[g.ID] = i
		}
		if g.Name[a.cfg.Locale] == "" {
			errs = append(errs, fmt.Errorf("%s: Name needs a value in the default locale %q", where, a.cfg.Locale))
		}
		for _, loc := range [...]struct {
			field string
			l     Locale
		}{{"Name", g.Name}, {"Desc", g.Desc}} {
			for k := range loc.l {
				if !slices.Contains(a.cfg.Locales, k) {
					errs = append(errs, fmt.Errorf("%s: %s has locale %q, which is not one of Config.Locales %v", where, loc.field, k, a.cfg.Locales))
				}
			}
		}
		errs = append(errs, checkPrivileges(where+".Privileges", g.Privileges, known)...)
	}
	return errs
}

// checkPrivileges checks a privileges map: each module name is a known
// module (or "*"), each privilege one the module declares (or "*").
func checkPrivileges(where string, p Privileges, known map[string]*Module) []error {
	var errs []error
	for _, name := range sortedKeys(p) {
		if name == "*" {
			continue
		}
		m := known[name]
		if m == nil {
			errs = append(errs, fmt.Errorf("%s names unknown module %q", where, name))
			continue
		}
		for _, priv := range p[name] {
			if priv != "*" && !slices.Contains(m.Privileges, priv) {
				errs = append(errs, fmt.Errorf("%s: module %q does not declare privilege %q (its Privileges are %v)", where, name, priv, m.Privileges))
			}
		}
	}
	return errs
}

// docMethods take a doc whose keys are the module's attrs; queryMethods a
// query whose args are.
var (
	docMethods   = []string{"create", "update"}
	queryMethods = []string{"read", "update", "delete", "watch"}
)

// checkMethods checks each method's permissions and, on base methods, its
// args against the module's attrs and the app's modules.
func (m *Module) checkMethods(known map[string]*Module) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("module %q: "+format, append([]any{m.Name}, args...)...))
	}
	for _, name := range sortedKeys(m.Methods) {
		meth := m.Methods[name]
		if meth == nil {
			continue // reported by init
		}
		for i, p := range meth.Permissions {
			if msg := m.checkPrivilege(p.Privilege, known); msg != "" {
				bad("method %q Permissions[%d]: %s", name, i, msg)
			}
			if m.Collection == "" {
				continue
			}
			for _, k := range queryModSpecials(p.QueryMod) {
				bad("method %q Permissions[%d]: QueryMod has unknown special key %q (accepted: %s)", name, i, k, strings.Join(querySpecialKeys, " "))
			}
			for _, k := range queryModPaths(p.QueryMod) {
				if !m.queryPath(k) {
					bad("method %q Permissions[%d]: QueryMod names undeclared attr %q", name, i, k)
				}
			}
			for _, k := range sortedKeys(p.DocMod) {
				if k != "_id" && m.lookupAttr(k) == nil {
					bad("method %q Permissions[%d]: DocMod names undeclared attr %q", name, i, k)
				}
			}
		}
		for _, pa := range meth.PathArgs {
			if len(meth.QueryArgs) > 0 && !slices.ContainsFunc(meth.QueryArgs, func(a Args) bool { _, ok := a[pa]; return ok }) {
				bad("method %q PathArgs names %q, which no QueryArgs set declares", name, pa)
			}
		}
		if m.Collection == "" || meth.Handler != nil {
			continue // a custom method's args are its own
		}
		for _, set := range [...]struct {
			field   string
			sets    []Args
			methods []string
		}{{"QueryArgs", meth.QueryArgs, queryMethods}, {"DocArgs", meth.DocArgs, docMethods}} {
			if !slices.Contains(set.methods, name) {
				continue
			}
			for i, args := range set.sets {
				for _, k := range sortedKeys(args) {
					if k == "_id" || strings.HasPrefix(k, "$") {
						continue
					}
					if (set.field == "QueryArgs" && !m.queryPath(k)) || (set.field == "DocArgs" && m.lookupAttr(k) == nil) {
						bad("method %q %s[%d] names undeclared attr %q", name, set.field, i, k)
					}
				}
			}
		}
	}
	return errs
}

// checkPrivilege explains what is wrong with a Perm's privilege, or "".
func (m *Module) checkPrivilege(priv string, known map[string]*Module) string {
	switch priv {
	case "", "*", "__sys":
		return "" // "" is reported by init
	}
	target, name := m, priv
	if mod, p, ok := strings.Cut(priv, "."); ok {
		if target = known[mod]; target == nil {
			return fmt.Sprintf("privilege %q names unknown module %q", priv, mod)
		}
		name = p
	}
	if name != "*" && !slices.Contains(target.Privileges, name) {
		return fmt.Sprintf("privilege %q is not declared by module %q (its Privileges are %v)", priv, target.Name, target.Privileges)
	}
	return ""
}

// queryPath reports whether a query may name path: "_id", an attr path,
// or a path through an extn into the referenced module's attrs.
func (m *Module) queryPath(path string) bool {
	if path == "_id" || m.lookupAttr(path) != nil {
		return true
	}
	segs := strings.Split(path, ".")
	for i := len(segs) - 1; i >= 1; i-- {
		e := m.Extns[strings.Join(segs[:i], ".")]
		if e == nil {
			continue
		}
		if t := m.app.module(e.Module); t != nil && t.queryPath(strings.Join(segs[i:], ".")) {
			return true
		}
	}
	return false
}

// queryModPaths returns the attr paths a QueryMod (a step M, a list of
// steps, or a ValueFunc: none) names, skipping "$" specials.
// querySpecialKeys are the $-keys a query step may hold (as
// internal/query accepts them).
var querySpecialKeys = []string{"$search", "$sort", "$skip", "$limit", "$extn", "$attrs", "$group", "$geo_near", "$soft"}

// queryModSpecials returns the $-keys of a QueryMod's steps that no query
// accepts, so Start reports them rather than every call answering 400.
func queryModSpecials(v any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case M:
			for _, k := range sortedKeys(x) {
				if strings.HasPrefix(k, "$") && !slices.Contains(querySpecialKeys, k) {
					out = append(out, k)
				}
			}
		case []M:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

func queryModPaths(v any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case M:
			for _, k := range sortedKeys(x) {
				if !strings.HasPrefix(k, "$") {
					out = append(out, k)
				}
			}
		case []M:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// checkRefs reports refs (at any depth) and extns whose module is unknown
// and extns keeping attrs the referenced module does not declare.
func (m *Module) checkRefs() []error {
	var errs []error
	var walk func(path string, a *Attr, top bool)
	walk = func(path string, a *Attr, top bool) {
		if a.Ref != "" && !top && m.app.module(a.Ref) == nil {
			errs = append(errs, fmt.Errorf("module %q: attr %q references unknown module %q", m.Name, path, a.Ref))
		}
		for _, c := range a.Items {
			walk(path, c, false)
		}
		for _, c := range a.Fields {
			walk(path+"."+c.Name, c, false)
		}
		if a.Val != nil {
			walk(path+".*", a.Val, false)
		}
	}
	for _, a := range m.Attrs {
		walk(a.Name, a, true) // top-level refs are extns, checked by init
	}
	for _, path := range sortedKeys(m.Extns) {
		e := m.Extns[path]
		t := m.app.module(e.Module)
		if t == nil {
			continue // reported by init
		}
		for _, k := range e.Attrs {
			if k != "*" && k != "_id" && t.lookupAttr(k) == nil {
				errs = append(errs, fmt.Errorf("module %q: extn on attr %q keeps attr %q, which module %q does not declare", m.Name, path, k, t.Name))
			}
		}
	}
	return errs
}
