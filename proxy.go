package limp

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// Proxy modules (spec §6.13).

// NewProxy declares a module that proxies target: it shares target's
// collection, attrs, defaults, unique sets, extns and privileges, and has
// its own name, methods and permissions (the error codes it sends are
// prefixed with its own package and name). A method of target the proxy
// does not declare is copied (permissions, args, handler). Base methods
// on the proxy read and write target's collection; target's hooks run
// before the proxy's own (Hooks), and target's system documents (and
// Config.Docs) are as safe from the proxy's delete as from target's.
// Typical use: expose user with app-specific permissions.
//
//	staff := limp.NewProxy("staff", "user", limp.Methods{
//		"read": {Permissions: limp.Perms("read")},
//	})
//
// The target must be a module with a collection and not itself a proxy;
// both are checked by Start.
func NewProxy(name, target string, methods Methods) *Module {
	if methods == nil {
		methods = Methods{}
	}
	return &Module{Name: name, Proxy: target, Methods: methods}
}

// resolveProxies copies each proxy's target declarations into it, before
// any module's init.
func (a *App) resolveProxies() []error {
	var errs []error
	for _, m := range a.order {
		if m.Proxy == "" {
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("module %q: "+format, append([]any{m.Name}, args...)...))
		}
		t := a.modules[m.Proxy]
		switch {
		case t == nil:
			bad("proxies unknown module %q", m.Proxy)
			continue
		case t == m:
			bad("proxies itself")
			continue
		case t.Proxy != "":
			bad("proxies %q, which is itself a proxy", m.Proxy)
			continue
		case t.Collection == "":
			bad("proxies service module %q (no collection)", m.Proxy)
			continue
		case m.typ != nil || len(m.Attrs) > 0 || (m.Collection != "" && m.Collection != t.Collection):
			bad("a proxy declares no attrs or collection of its own (it shares %q's)", m.Proxy)
			continue
		}
		m.proxyOf = t
		m.typ = t.typ
		m.Collection = t.Collection
		m.Attrs = slices.Clone(t.Attrs)
		m.Unique = cloneSets(t.Unique)
		m.Defaults = maps.Clone(t.Defaults)
		m.Extns = make(map[string]*Extn, len(t.Extns))
		for k, e := range t.Extns {
			cp := *e
			m.Extns[k] = &cp
		}
		if m.Privileges == nil {
			m.Privileges = slices.Clone(t.Privileges)
		}
		if m.Desc == "" {
			m.Desc = t.Desc
		}
		if m.Methods == nil {
			m.Methods = Methods{}
		}
		for name, meth := range t.Methods {
			if _, own := m.Methods[name]; !own && meth != nil {
				cp := *meth
				m.Methods[name] = &cp
			}
		}
		m.Hooks = chainHooks(t.Hooks, m.Hooks)
	}
	return errs
}

func cloneSets(sets [][]string) [][]string {
	out := make([][]string, len(sets))
	for i, s := range sets {
		out[i] = slices.Clone(s)
	}
	return out
}

// chainHooks returns hooks that run first's, then second's (spec §6.10:
// the proxied module's hooks run before the proxy's). A Pre hook that
// returns a result or an error ends the chain.
func chainHooks(first, second Hooks) Hooks {
	return Hooks{
		PreRead: chainPre(first.PreRead, second.PreRead), PreCreate: chainPre(first.PreCreate, second.PreCreate),
		PreUpdate: chainPre(first.PreUpdate, second.PreUpdate), PreDelete: chainPre(first.PreDelete, second.PreDelete),
		OnRead: chainOn(first.OnRead, second.OnRead), OnCreate: chainOn(first.OnCreate, second.OnCreate),
		OnUpdate: chainOn(first.OnUpdate, second.OnUpdate), OnDelete: chainOn(first.OnDelete, second.OnDelete),
	}
}

func chainPre(first, second Hook) Hook {
	if first == nil || second == nil {
		if first == nil {
			return second
		}
		return first
	}
	return func(ctx context.Context, c *Call) (*Result, error) {
		if r, err := first(ctx, c); err != nil || r != nil {
			return r, err
		}
		return second(ctx, c)
	}
}

func chainOn(first, second OnHook) OnHook {
	if first == nil || second == nil {
		if first == nil {
			return second
		}
		return first
	}
	return func(ctx context.Context, c *Call, r *Result) (*Result, error) {
		r, err := first(ctx, c, r)
		if err != nil {
			return nil, err
		}
		if r == nil {
			return nil, fmt.Errorf("%s: an on-hook returned no result and no error", c.Endpoint)
		}
		return second(ctx, c, r)
	}
}
