package limp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/limp-go/limp/internal/query"
)

// Permissions through references (issue 10 item 1).
//
// A caller learns nothing about a document it may not read. A query
// condition through a reference ("author.email") is compiled as a join on
// the referenced collection; each join carries the caller's read
// permission on the referenced module (query.Join.Filter, query.Join.Deny),
// so an unreadable referenced document behaves exactly as a missing one in
// every operator, total, order and group, on both stores. $sort and $group
// never run through a reference (the parser refuses them), and $search
// covers only the module's own attrs.
//
// What applies is what checkPermissions applies to a read of the
// referenced module by the same session: the first permission set of its
// read method whose privilege the session holds, with that set's
// query_mod resolved for the caller (variables and ValueFuncs). Its
// doc_mod, the module's pre_read hooks and specials in the query_mod other
// than $attrs do not apply. A query_mod that itself runs through a
// reference has that join guarded the same way, at most maxJoinDepth
// levels deep (deeper, and in a cycle of query_mods, the referenced
// documents are hidden). When the query_mod limits $attrs, a condition
// through the reference on any other attr is refused (400
// CORE_REQ_INVALID_QUERY-style <PKG>_<MODULE>_INVALID_QUERY). A call that
// skips permission checks (internal calls) joins without restriction.
//
// Credential digests (the user module's "<auth attr>_hash" attrs) and
// session token digests are secret (schema.Collection.Secret): every query
// naming one, directly or through a reference, in a condition, $sort,
// $group or $attrs is refused with 400 <PKG>_<MODULE>_INVALID_QUERY, for
// every caller including ADMIN, and read replies never carry them.

// maxJoinDepth bounds how deeply permission filters nest inside joins.
const maxJoinDepth = 4

// joinPerm is a caller's read permission on one referenced module, as
// joins apply it.
type joinPerm struct {
	deny   bool
	filter query.Node
	// attrs is the query_mod's $attrs (nil: every attr is readable).
	attrs []string
	// busy marks a permission being resolved: meeting it again is a
	// cycle through query_mods, and hides the documents.
	busy bool
}

var denyAll = &joinPerm{deny: true}

// joinGuardOff turns the join guard off, for the benchmark measuring its
// cost (BENCHMARKS.md); never set outside tests.
var joinGuardOff atomic.Bool

// parseQuery parses the call's query against its module and guards every
// join in it with the caller's read permission on the referenced module.
func (a *App) parseQuery(ctx context.Context, c *Call, q *Query) (*query.Query, error) {
	pq, err := q.parse(c.Module)
	if err != nil {
		return nil, err
	}
	// A permission's query_mod often repeats the client's own condition
	// in a disjunction (status = published OR user = $user on a list of
	// published posts): dropped, the store evaluates one condition per
	// entry of its index instead of the OR again.
	pq.Filter = query.Absorb(pq.Filter)
	if err := a.guardJoins(ctx, c, pq.Filter); err != nil {
		return nil, err
	}
	return pq, nil
}

// guardJoins sets Filter and Deny on every join of n, a filter on c's
// module, for c's caller.
func (a *App) guardJoins(ctx context.Context, c *Call, n query.Node) error {
	if n == nil || c.skip&skipPerm != 0 || !hasJoins(n) || joinGuardOff.Load() {
		return nil
	}
	return a.guard(ctx, c, c.Module, n, 0, map[string]*joinPerm{}, true)
}

func hasJoins(n query.Node) bool {
	switch n := n.(type) {
	case query.And:
		return slices.ContainsFunc(n, hasJoins)
	case query.Or:
		return slices.ContainsFunc(n, hasJoins)
	case *query.Cond:
		return n.Join != nil
	}
	return false
}

// guard sets the joins of n (a filter on m's collection) at nesting depth
// depth. client is true for the client's own query, whose conditions must
// name attrs the referenced module's query_mod lets the caller read.
func (a *App) guard(ctx context.Context, c *Call, m *Module, n query.Node, depth int, perms map[string]*joinPerm, client bool) error {
	switch n := n.(type) {
	case query.And:
		for _, x := range n {
			if err := a.guard(ctx, c, m, x, depth, perms, client); err != nil {
				return err
			}
		}
	case query.Or:
		for _, x := range n {
			if err := a.guard(ctx, c, m, x, depth, perms, client); err != nil {
				return err
			}
		}
	case *query.Cond:
		j := n.Join
		if j == nil {
			return nil
		}
		var target *Module
		if e := m.coll.Extns[j.Local]; e != nil {
			target = a.modules[e.Module]
		}
		p, err := a.joinPermFor(ctx, c, target, depth, perms)
		if err != nil {
			return err
		}
		j.Filter, j.Deny = p.filter, p.deny
		if client && !p.deny && p.attrs != nil {
			top, _, _ := strings.Cut(n.Path, ".")
			if top != "_id" && !slices.Contains(p.attrs, top) {
				return m.Errorf(400, CodeInvalidQuery, "Invalid query step %s.%s: %s/read does not let this session read %q",
					j.Local, n.Path, target.Name, top)
			}
		}
	}
	return nil
}

// joinPermFor resolves c's caller's read permission on target.
func (a *App) joinPermFor(ctx context.Context, c *Call, target *Module, depth int, perms map[string]*joinPerm) (*joinPerm, error) {
	if target == nil || target.coll == nil || depth >= maxJoinDepth {
		return denyAll, nil
	}
	if p := perms[target.Name]; p != nil {
		if p.busy {
			return denyAll, nil
		}
		return p, nil
	}
	meth := target.Methods["read"]
	if meth == nil {
		perms[target.Name] = denyAll
		return denyAll, nil
	}
	p := &joinPerm{busy: true}
	perms[target.Name] = p
	defer func() { p.busy = false }()
	for _, set := range meth.Permissions {
		if !c.Session.HasPrivilege(target, set.Privilege) {
			continue
		}
		if set.QueryMod == nil {
			return p, nil
		}
		sub := &Call{Endpoint: target.Name + "/read", Module: target, Method: meth, Query: &Query{}, Doc: M{},
			Session: c.Session, RemoteAddr: c.RemoteAddr, UserAgent: c.UserAgent, Origin: c.Origin,
			ClientApp: c.ClientApp, app: a, conn: c.conn}
		mod, err := a.resolveMod(ctx, sub, set.QueryMod)
		if errors.Is(err, errForbidden) {
			break // as a read of target would be refused: hidden
		}
		if err != nil {
			return nil, err
		}
		step, err := queryModStep(mod)
		if err != nil {
			return nil, fmt.Errorf("permission query_mod of %s/read: %w", target.Name, err)
		}
		if step == nil {
			return p, nil
		}
		sub.Query.Append(step)
		pq, err := sub.Query.parse(target)
		if err != nil {
			return nil, fmt.Errorf("permission query_mod of %s/read: %w", target.Name, err)
		}
		p.filter, p.attrs = pq.Filter, pq.Attrs
		if err := a.guard(ctx, sub, target, p.filter, depth+1, perms, false); err != nil {
			return nil, err
		}
		return p, nil
	}
	p.deny = true
	return p, nil
}

// stripSecrets removes the module's secret attrs (credential digests) from
// docs read from the store: they never leave the server.
func stripSecrets(m *Module, docs []map[string]any) {
	if m.coll == nil || len(m.coll.Secret) == 0 {
		return
	}
	for _, d := range docs {
		for _, s := range m.coll.Secret {
			delete(d, s)
		}
	}
}

// secretAttr reports whether attr name of m holds a credential digest:
// the core user module's "<auth attr>_hash" attrs and the core session
// module's "token_hash".
func (a *App) secretAttr(m *Module, name string) bool {
	if m.pkg != "core" {
		return false
	}
	switch m.Name {
	case "user":
		return a.isHashAttr(name)
	case "session":
		return name == "token_hash"
	}
	return false
}
