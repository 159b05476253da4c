package limp

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/limp-go/limp/internal/schema"
)

// M is a JSON object: a document, a query step or reply args.
type M = map[string]any

// Handler runs a method. It returns the reply, or an error: an *Error is
// sent as is; any other error becomes a 500.
type Handler func(ctx context.Context, c *Call) (*Result, error)

// Hook runs before a base method (Pre hooks). A non-nil Result ends the
// call with that reply; an error ends it with that error.
type Hook func(ctx context.Context, c *Call) (*Result, error)

// OnHook runs after a base method with its result, and returns the result
// to send (usually r itself, possibly changed).
type OnHook func(ctx context.Context, c *Call, r *Result) (*Result, error)

// Hooks are a module's hooks around its base methods (spec §6.10).
type Hooks struct {
	PreRead, PreCreate, PreUpdate, PreDelete Hook
	OnRead, OnCreate, OnUpdate, OnDelete     OnHook
	// OnWatch reshapes or drops each event of the module's watches for
	// its caller (LIMP's on_watch, spec §6.12; see WatchHook).
	OnWatch WatchHook
}

// Methods maps method names to their declarations.
type Methods map[string]*Method

// Method declares one endpoint of a module. The base methods read, create,
// update and delete need only Permissions; any other method needs a
// Handler. Must not be modified after Start.
type Method struct {
	// Permissions are the permission sets, tried in order; the first
	// whose privilege the caller has applies (spec §5.2). Required.
	Permissions []Perm
	// QueryArgs and DocArgs are alternative sets of required args; the
	// call must match one set of each when given (spec §8.7).
	QueryArgs []Args
	DocArgs   []Args
	// Handler runs a custom method.
	Handler Handler
	// GetMethod exposes the method over HTTP GET only; PostMethod adds
	// HTTP POST (spec §10).
	GetMethod  bool
	PostMethod bool
	// PathArgs names the query args taken, in order, from the extra
	// segments of an HTTP path (/{module}/{method}/{arg1}/{arg2});
	// default: the sorted names of the first QueryArgs set.
	PathArgs []string
	// Desc documents the method in the API reference.
	Desc string
	// Watch declares a watch method (LIMP's watch_method, spec §6.12): a
	// live query with read's query and permissions. Without a Handler
	// the base implementation serves it (as it does any method named
	// "watch"); a Handler may change the call and return c.Watch(ctx).
	Watch bool

	name   string
	module *Module
}

// Name returns the method's name.
func (m *Method) Name() string { return m.name }

// Args is one set of query or doc args: arg name → expected attr.
type Args map[string]*Attr

// Perm is one permission set (LIMP's PERM, spec §5.2–5.3).
type Perm struct {
	// Privilege is "*" (anyone), a privilege of the module ("read"), a
	// privilege of another module ("user.admin"), or "__sys" (internal
	// calls only).
	Privilege string
	// QueryMod is a query step (M) or a list of alternative steps ([]M)
	// added to the caller's query: a row filter. Values may use the
	// variables VarUser ("$__user"), "$__user.<path>", VarAccess,
	// VarDatetime, VarDate, VarTime, or be a ValueFunc.
	QueryMod any
	// DocMod overrides doc values: a nil value removes the attr from the
	// caller's doc (protects it), anything else forces it.
	DocMod M
}

// ValueFunc computes a permission modifier or default value per call
// (LIMP's ATTR_MOD). Returning an error fails the call with that error.
type ValueFunc func(ctx context.Context, c *Call) (any, error)

// Var is a permission variable (spec §5.3). On the wire and in M literals
// the plain strings work too.
type Var string

// Permission variables.
const (
	VarUser     Var = "$__user"     // the caller's user _id
	VarAccess   Var = "$__access"   // the caller's access (for ACCESS attrs)
	VarDatetime Var = "$__datetime" // now, ISO 8601 UTC
	VarDate     Var = "$__date"     // today, ISO date UTC
	VarTime     Var = "$__time"     // now, ISO time UTC
)

// Perms returns one plain permission set per privilege.
func Perms(privileges ...string) []Perm {
	ps := make([]Perm, len(privileges))
	for i, p := range privileges {
		ps[i] = Perm{Privilege: p}
	}
	return ps
}

// Extn declares that an ID (or LIST of ID) attr references documents of
// another module, expanded on read (spec §6.7).
type Extn struct {
	// Module is the referenced module's name.
	Module string
	// Attrs are the referenced doc's attrs to keep; nil means all.
	Attrs []string
	// Force expands the referenced doc's own extns too.
	Force bool
	// Func, when set, chooses the extension per document (a conditional
	// extension; see ExtnFunc); Module and Attrs are then ignored.
	// Module "$__doc.<path>" is dynamic too (see DocVarPrefix).
	Func ExtnFunc
}

// DefaultPrivileges are the privileges a module declares unless it sets
// its own.
var DefaultPrivileges = []string{"read", "create", "update", "delete", "admin"}

// Module is a LIMP module: a document type with typed attrs, methods and
// permissions, stored in Collection. Declare it with NewModule (or
// NewService for a module without documents), set any further fields, and
// register it with App.Register. Must not be modified after Start.
type Module struct {
	// Name is the module name used in endpoints ("blog_cat").
	Name string
	// Collection is the store collection; empty for a service module.
	Collection string
	// Desc documents the module.
	Desc string
	// Attrs are the document's attrs, derived from the struct.
	Attrs []*Attr
	// Methods are the module's endpoints.
	Methods Methods
	// Unique lists compound unique sets (single attrs use `limp:"unique"`).
	Unique [][]string
	// Indexes lists extra compound indexes.
	Indexes [][]string
	// Extns maps ID attrs to the modules they reference (also settable
	// with `limp:"ref=module"`).
	Extns map[string]*Extn
	// Privileges are the privilege names this module knows.
	Privileges []string
	// Hooks run around the base methods.
	Hooks Hooks
	// Cache are the module's read cache sets (spec §6.14, see CacheSet);
	// the first whose Condition accepts a read caches it.
	Cache []CacheSet
	// Defaults sets default values by attr path ("title", "meta.kind");
	// a ValueFunc computes one per call. Defaults from tags go here too.
	Defaults map[string]any
	// Diff turns on the audit log (spec §6.16, diff.go): true, or a
	// DiffFunc deciding per call. Every update and delete that changes a
	// document then writes a diff doc with the previous and new values, in
	// the write's transaction, and the module gets {module}/history.
	Diff any
	// Analytics are the module's analytics sets (spec §6.15, analytic.go),
	// evaluated for every client call to the module.
	Analytics []Analytic

	// Proxy names the module this one proxies (spec §6.13; see NewProxy).
	Proxy string

	pkg    string
	app    *App
	typ    reflect.Type
	coll   *schema.Collection
	byName map[string]*Attr
	prefix string // "PKG_MODULE_"

	// interceptors (Module.Use) and the composed chain (interceptor.go);
	// proxyOf is the target of a proxy module (proxy.go).
	interceptors []Interceptor
	chain        Handler
	proxyOf      *Module
}

// baseMethods are implemented by the framework for modules with a
// collection.
var baseMethods = []string{"read", "create", "update", "delete", "create_file", "delete_file", "watch"}

// NewModule declares a module whose documents are T (a struct). Attrs come
// from T's exported fields: the name from the `json` tag, the LIMP type from
// the Go type (refined by `limp:"type=..."`), LIMP options from the `limp`
// tag and validator/v10 rules from the `validate` tag. Errors in the
// declaration are reported by App.Start, all at once.
func NewModule[T any](name string, methods Methods) *Module {
	m := &Module{
		Name:       name,
		Collection: name,
		Methods:    methods,
		Privileges: slices.Clone(DefaultPrivileges),
		typ:        reflect.TypeFor[T](),
	}
	return m
}

// NewService declares a module without documents: custom methods only.
func NewService(name string, methods Methods) *Module {
	return &Module{Name: name, Methods: methods, Privileges: slices.Clone(DefaultPrivileges)}
}

// Package returns the package the module was registered in.
func (m *Module) Package() string { return m.pkg }

// Attr returns the top-level attr called name, or nil.
func (m *Module) Attr(name string) *Attr { return m.byName[name] }

// Error returns a module-level *Error whose code is prefixed with the
// module's package and name ("BLOG_BLOG_" + code).
func (m *Module) Error(status int, code, msg string) *Error {
	return &Error{Status: status, Code: m.prefix + code, Msg: msg}
}

// Errorf is Error with a formatted message.
func (m *Module) Errorf(status int, code, format string, args ...any) *Error {
	return m.Error(status, code, fmt.Sprintf(format, args...))
}

var moduleNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// reservedModules are protocol endpoints (spec §1).
var reservedModules = []string{"conn", "heart", "file", "watch"}

// init prepares a registered module and returns every problem with its
// declaration.
func (m *Module) init(app *App) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("module %q: "+format, append([]any{m.Name}, args...)...))
	}
	m.app = app
	m.prefix = codePrefix(m.pkg, m.Name)
	if !moduleNameRE.MatchString(m.Name) {
		bad("name must be snake_case ([a-z][a-z0-9_]*)")
	}
	if slices.Contains(reservedModules, m.Name) {
		bad("name is reserved for a protocol endpoint")
	}
	if m.typ != nil {
		attrs, err := attrsOf(m.typ)
		if err != nil {
			errs = append(errs, fmt.Errorf("module %q: %w", m.Name, err))
		}
		m.Attrs = append(attrs, m.Attrs...)
		if m.Collection == "" {
			bad("a module with documents needs a collection")
		}
	}
	m.byName = make(map[string]*Attr, len(m.Attrs))
	for _, a := range m.Attrs {
		if a == nil {
			bad("an attr in Attrs is nil")
			continue
		}
		if _, dup := m.byName[a.Name]; dup {
			bad("attr %q declared twice", a.Name)
		}
		m.byName[a.Name] = a
		// Attrs declared directly (not derived from the struct, which
		// checked its own) get the same checks: a bad pattern, validate
		// tag or bound is reported here, not at the first call.
		if err := a.check(); err != nil {
			bad("attr %q: %v", a.Name, err)
		}
	}
	m.Attrs = slices.DeleteFunc(m.Attrs, func(a *Attr) bool { return a == nil })
	if m.Defaults == nil {
		m.Defaults = map[string]any{}
	}
	for _, a := range m.Attrs {
		if a.Default != nil {
			if _, set := m.Defaults[a.Name]; !set {
				m.Defaults[a.Name] = a.Default
			}
		}
		if a.Ref != "" {
			if m.Extns == nil {
				m.Extns = map[string]*Extn{}
			}
			if _, set := m.Extns[a.Name]; !set {
				m.Extns[a.Name] = &Extn{Module: a.Ref}
			}
		}
	}
	var walk func(a *Attr)
	walk = func(a *Attr) {
		if a.Type == TypeCustom && app.types[a.Custom] == nil {
			bad("attr %q uses custom type %q, which is not registered (App.RegisterType)", a.Name, a.Custom)
		}
		for _, c := range a.Items {
			walk(c)
		}
		for _, c := range a.Fields {
			walk(c)
		}
		if a.Val != nil {
			walk(a.Val)
		}
	}
	for _, a := range m.Attrs {
		walk(a)
	}
	for path := range m.Defaults {
		if m.lookupAttr(path) == nil {
			bad("default for undeclared attr %q", path)
		}
	}
	for name, e := range m.Extns {
		a := m.lookupAttr(name)
		switch {
		case a == nil:
			bad("extn on undeclared attr %q", name)
		case a.Type != TypeID && !(a.Type == TypeList && len(a.Items) == 1 && a.Items[0].Type == TypeID):
			bad("extn on attr %q, which is %s, not ID or LIST of ID", name, a.Type)
		case e.dynamic(): // chosen per document (extn_dynamic.go)
		case app.module(e.Module) == nil:
			bad("extn on attr %q references unknown module %q", name, e.Module)
		case app.module(e.Module).Collection == "":
			bad("extn on attr %q references service module %q", name, e.Module)
		}
	}
	for _, set := range m.Unique {
		if len(set) == 0 {
			bad("empty unique set")
		}
		for _, p := range set {
			if m.lookupAttr(p) == nil {
				bad("unique set names undeclared attr %q", p)
			}
		}
	}
	for _, set := range m.Indexes {
		for _, p := range set {
			if m.lookupAttr(strings.TrimPrefix(p, "-")) == nil {
				bad("index names undeclared attr %q", p)
			}
		}
	}
	if len(m.Methods) == 0 {
		bad("no methods")
	}
	for name, meth := range m.Methods {
		if meth == nil {
			bad("method %q is nil", name)
			continue
		}
		meth.name, meth.module = name, m
		if len(meth.Permissions) == 0 {
			bad("method %q has no permissions", name)
		}
		isBase := slices.Contains(baseMethods, name)
		switch {
		case meth.Handler == nil && !isBase && !meth.Watch:
			bad("method %q needs a Handler", name)
		case meth.Handler == nil && m.Collection == "":
			bad("base method %q on a service module (no collection)", name)
		}
		for _, p := range meth.Permissions {
			if p.Privilege == "" {
				bad("method %q has a permission with an empty privilege", name)
			}
		}
		for _, sets := range [][]Args{meth.QueryArgs, meth.DocArgs} {
			for _, set := range sets {
				for arg, a := range set {
					if a == nil {
						bad("method %q arg %q has no attr", name, arg)
						continue
					}
					if a.Name == "" {
						a.Name = arg
					}
					if err := a.check(); err != nil {
						bad("method %q arg %q: %v", name, arg, err)
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// lookupAttr finds the attr at a dotted path (DICT fields, LIST items).
func (m *Module) lookupAttr(path string) *Attr {
	seg, rest, more := strings.Cut(path, ".")
	seg, _, _ = strings.Cut(seg, ":")
	a := m.byName[seg]
	for more && a != nil {
		seg, rest, more = strings.Cut(rest, ".")
		seg, _, _ = strings.Cut(seg, ":")
		if m.app != nil && localeParent(a, seg) && !slices.Contains(m.app.cfg.Locales, seg) {
			return nil // only the app's locales are keys of a LOCALE
		}
		a = a.child(seg)
	}
	return a
}

// buildSchema derives the store-facing schema; run after every module's
// init so that extns can point at their targets.
func (m *Module) buildSchema() {
	if m.Collection == "" {
		return
	}
	c := &schema.Collection{Name: m.Collection, Module: m.Name, Attrs: map[string]*schema.Type{}, Locales: slices.Clone(m.app.cfg.Locales)}
	for _, a := range m.Attrs {
		c.Attrs[a.Name] = a.schemaType()
		if a.Unique {
			c.Unique = append(c.Unique, []string{a.Name})
		}
		if a.Index {
			c.Indexes = append(c.Indexes, []schema.IndexKey{{Path: a.Name}})
		}
		if m.app != nil && m.app.secretAttr(m, a.Name) {
			c.Secret = append(c.Secret, a.Name)
			continue // never indexed for $search either
		}
		if a.Search {
			c.Search = append(c.Search, a.Name)
		}
	}
	for _, set := range m.Unique {
		c.Unique = append(c.Unique, slices.Clone(set))
	}
	for _, set := range m.Indexes {
		var keys []schema.IndexKey
		for _, p := range set {
			keys = append(keys, schema.IndexKey{Path: strings.TrimPrefix(p, "-"), Desc: strings.HasPrefix(p, "-")})
		}
		c.Indexes = append(c.Indexes, keys)
	}
	m.coll = c
}

// linkSchema sets extn targets; run after every module's buildSchema.
func (m *Module) linkSchema() {
	if m.coll == nil {
		return
	}
	for path, e := range m.Extns {
		t := m.app.module(e.Module)
		if t == nil || t.coll == nil {
			continue
		}
		if m.coll.Extns == nil {
			m.coll.Extns = map[string]*schema.Extn{}
		}
		m.coll.Extns[path] = &schema.Extn{Module: t.Name, Collection: t.Collection, Attrs: e.Attrs, Force: e.Force, Target: t.coll}
	}
}
