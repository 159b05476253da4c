package store

import (
	"fmt"
	"strconv"

	"github.com/limp-go/limp/internal/oid"
)

// Bounds limit the result of an update operator at one path (spec §6.3
// ATTR min/max): the number ($add, $multiply) or the number of list items
// ($append, $remove) after the update must lie in [Min, Max]. A nil end is
// unbounded.
type Bounds struct {
	Min, Max *float64
}

// Holds reports whether n lies within b.
func (b Bounds) Holds(n float64) bool {
	return (b.Min == nil || n >= *b.Min) && (b.Max == nil || n <= *b.Max)
}

// String renders b as "[min, max]" with "-inf"/"+inf" for open ends.
func (b Bounds) String() string {
	lo, hi := "-inf", "+inf"
	if b.Min != nil {
		lo = strconv.FormatFloat(*b.Min, 'g', -1, 64)
	}
	if b.Max != nil {
		hi = strconv.FormatFloat(*b.Max, 'g', -1, 64)
	}
	return "[" + lo + ", " + hi + "]"
}

// OverflowError reports that $add or $multiply on a 64-bit integer at
// Path would overflow (MongoDB refuses it rather than wrap). A store
// that returns it has changed no document.
type OverflowError struct {
	Path string
	Expr string // "9223372036854775807 + 1"
}

func (e *OverflowError) Error() string {
	return fmt.Sprintf("%q: %s overflows a 64-bit integer", e.Path, e.Expr)
}

// BoundsError reports that an update would take the value (or the list
// length) at Path out of its Bounds in at least one selected document.
// A store that returns it has changed no document.
type BoundsError struct {
	// Path is the bounded path (an Update.Bounds key).
	Path string
	// ID is a document that would go out of bounds (oid.Nil when the
	// store could not tell which).
	ID oid.ID
	// Bounds are the violated bounds.
	Bounds Bounds
	// Length is true for a list's number of items, false for a number.
	Length bool
	// Value is the result the update would have produced (NaN when the
	// store could not tell).
	Value float64
}

func (e *BoundsError) Error() string {
	what := "value"
	if e.Length {
		what = "number of items"
	}
	return fmt.Sprintf("update would take the %s at %q out of %s", what, e.Path, e.Bounds)
}
