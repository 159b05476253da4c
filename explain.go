package limp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/limp-go/limp/internal/jsonv"
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
// Permission modifiers are not applied. Valid after Start (or after
// GenerateRef-style loading).
func (a *App) Explain(module string, q any) (*Explanation, error) {
	m := a.modules[module]
	if m == nil {
		return nil, fmt.Errorf("limp: explain: unknown module %q", module)
	}
	if m.coll == nil {
		return nil, fmt.Errorf("limp: explain: module %q has no collection", module)
	}
	if s, ok := q.(string); ok {
		v, err := jsonv.ParseOrdered([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("limp: explain: query is not JSON: %w", err)
		}
		q = v
	} else {
		q = toOrdered(q)
	}
	wq, err := queryFromWire(q)
	if err != nil {
		return nil, fmt.Errorf("limp: explain: %w", err)
	}
	pq, err := wq.parse(m)
	if err != nil {
		return nil, err
	}
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
