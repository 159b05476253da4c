package query

import (
	"errors"
	"fmt"

	"github.com/limp-go/limp/internal/schema"
)

// Error is a query the parser rejects. The root package turns it into a
// 400 <PKG>_<MODULE>_INVALID_QUERY naming Step.
type Error struct {
	// Step is the offending part of the query, as compact JSON or a path
	// ("status", "$sort").
	Step string
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("invalid query step %s: %s", e.Step, e.Msg) }

// Parse parses a wire query against the collection schema c (spec §7).
// raw is the query as jsonv.ParseOrdered decodes it: a []any of steps whose
// objects are jsonv.Object (nil and an empty list mean "no conditions").
// Permission variables ($__user, ...) are already resolved. Every failure is
// an *Error.
func Parse(raw any, c *schema.Collection) (*Query, error) {
	return nil, errors.ErrUnsupported // TODO(query parser)
}
