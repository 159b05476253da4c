package sqlite

import (
	"fmt"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// maxJoinDepth bounds how deeply permission filters nest (a join's Filter
// holding joins whose Filter holds joins ...). The root package stops
// sooner; a deeper filter is refused rather than compiled.
const maxJoinDepth = 8

// joinFilter compiles j.Filter, the caller's read permission on the
// referenced collection c, over the referenced row aliased r, as
// " AND (...)" to append inside the join's EXISTS; "" when j has no
// filter. Its conditions see r's document (unqualified doc and id resolve
// to r, the innermost table of the EXISTS); its own joins nest inside it,
// each with its own filter. Arguments follow the join's in text order.
func (b *builder) joinFilter(j *query.Join, c *schema.Collection, r string) (string, error) {
	if j.Filter == nil {
		return "", nil
	}
	if c == nil {
		return "", fmt.Errorf("join %q: no schema for collection %s to apply its filter", j.Local, j.Collection)
	}
	if b.depth >= maxJoinDepth {
		return "", fmt.Errorf("join %q: permission filters nest deeper than %d", j.Local, maxJoinDepth)
	}
	sub := &builder{c: c, table: r, args: b.args, n: b.n, depth: b.depth + 1, mixed: b.mixed}
	s, err := sub.node(j.Filter)
	b.args, b.n = sub.args, sub.n
	if err != nil {
		return "", fmt.Errorf("join %q permission filter: %w", j.Local, err)
	}
	if s == "1" {
		return "", nil
	}
	return " AND " + s, nil
}
