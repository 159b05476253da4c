package limp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/mongo"
)

// Explanation is what a query compiles to on each store.
type Explanation struct {
	// Mongo is the MongoDB aggregation, canonical Extended JSON:
	// {"pipeline": [...], "count": [...], "groups": [...]}.
	Mongo json.RawMessage `json:"mongo"`
	// SQL and Args are the embedded store's statement and its arguments.
	SQL  string `json:"sql"`
	Args []any  `json:"args"`
}

// Explain returns what a wire query (a JSON string, or the decoded list
// of steps) on module compiles to on both stores, without running it.
// The module's own permission modifiers are not applied, but every
// condition through a reference carries the guard the store runs for an
// anonymous caller: the referenced module's read permission (privilege
// and query_mod) for ANON (joinperm.go), so a join to a module ANON may
// not read shows as matching nothing. ExplainFor shows a given session's
// query with its permission modifiers. Valid after Start (or after
// GenerateRef-style loading).
func (a *App) Explain(module string, q any) (*Explanation, error) {
	m, wq, err := a.explainQuery(module, q)
	if err != nil {
		return nil, err
	}
	c := &Call{Endpoint: module + "/read", Module: m, Method: m.Methods["read"], Query: wq, Doc: M{}, Session: a.newAnonSession(),
		RemoteAddr: "127.0.0.1", UserAgent: "limp-go", ClientApp: "__sys", app: a}
	pq, err := a.parseQuery(context.Background(), c, wq)
	if err != nil {
		return nil, err
	}
	return a.explainParsed(m, pq)
}

// ExplainFor returns what module/read runs for session s (nil: ANON) with
// wire query q (as Explain takes it): q with the modifiers of the first
// permission set of read that s passes (spec §5.3), its joins guarded for
// s, and in realm mode limited to the realm of ctx (GlobalRealm when ctx
// names none). A session that may not read the module gets the 403 error
// (CORE_SESSION_FORBIDDEN) the call would.
func (a *App) ExplainFor(ctx context.Context, s *Session, module string, q any) (*Explanation, error) {
	m, wq, err := a.explainQuery(module, q)
	if err != nil {
		return nil, err
	}
	if s == nil {
		s = a.newAnonSession()
	}
	meth := m.Methods["read"]
	if meth == nil {
		return nil, fmt.Errorf("limp: explain: module %q has no read method", module)
	}
	c := &Call{Endpoint: module + "/read", Module: m, Method: meth, Query: wq, Doc: M{}, Session: s,
		RemoteAddr: "127.0.0.1", UserAgent: "limp-go", ClientApp: "__sys", app: a}
	ctx = a.enterRealm(ctx, c)
	if err := a.checkPermissions(ctx, c); err != nil {
		return nil, err
	}
	pq, err := a.parseQuery(ctx, c, c.Query)
	if err != nil {
		return nil, err
	}
	return a.explainParsed(m, a.realmScope(ctx, m.coll, pq))
}

// explainQuery finds module and decodes the wire query q.
func (a *App) explainQuery(module string, q any) (*Module, *Query, error) {
	m := a.modules[module]
	if m == nil {
		return nil, nil, fmt.Errorf("limp: explain: unknown module %q", module)
	}
	if m.coll == nil {
		return nil, nil, fmt.Errorf("limp: explain: module %q has no collection", module)
	}
	if s, ok := q.(string); ok {
		v, err := jsonv.ParseOrdered([]byte(s))
		if err != nil {
			return nil, nil, fmt.Errorf("limp: explain: query is not JSON: %w", err)
		}
		q = v
	} else {
		q = toOrdered(q)
	}
	wq, err := queryFromWire(q)
	if err != nil {
		return nil, nil, fmt.Errorf("limp: explain: %w", err)
	}
	return m, wq, nil
}

// explainParsed compiles a parsed query for both stores.
func (a *App) explainParsed(m *Module, pq *query.Query) (*Explanation, error) {
	p, err := mongo.Compile(m.coll, pq)
	if err != nil {
		return nil, fmt.Errorf("limp: explain mongo: %w", err)
	}
	pipeline, err := p.ExtJSON()
	if err != nil {
		return nil, err
	}
	var sqlPlan *store.Plan
	if a.store != nil && !isMongo(a.cfg.Data) {
		sqlPlan, err = a.store.Explain(m.coll, pq)
	} else {
		sqlPlan, err = explainSQL(m.coll, pq)
	}
	if err != nil {
		return nil, fmt.Errorf("limp: explain sql: %w", err)
	}
	args := sqlPlan.Args
	if args == nil {
		args = []any{}
	}
	return &Explanation{Mongo: pipeline, SQL: sqlPlan.SQL, Args: args}, nil
}

// explainCLI serves --explain MODULE QUERY_JSON: it loads the modules
// (opening no store), prints the Explanation as JSON and returns.
func (a *App) explainCLI(ctx context.Context, module, q string, out io.Writer) error {
	if len(a.modules) == 0 {
		a.cfg.setDefaults()
		if a.log == nil {
			a.log = a.Logger()
		}
		if err := a.load(); err != nil {
			return err
		}
	}
	e, err := a.Explain(module, q)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}
