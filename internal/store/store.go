// Package store defines the interface every LIMP data store implements: the
// embedded SQLite store (internal/store/sqlite) and the MongoDB store
// (internal/store/mongo). The root package talks only to this interface.
//
// Documents cross it as map[string]any holding canonical values: nil, bool,
// int64, float64, string, oid.ID, []any and map[string]any. "_id" is always
// an oid.ID. On read, a store returns every value at a path the
// collection's schema types as ID (or LIST of ID) as an oid.ID, whatever its
// storage form, so both stores hand back identical values.
//
// Soft deletion: a document with "__deleted": true is invisible to Read,
// Update, soft Delete and unique checks; a hard Delete removes it too.
// Stores never return "__deleted".
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// Store is a document store. Implementations are safe for concurrent use.
// Every method honours ctx's deadline and cancellation: a query still
// running when ctx ends is interrupted and returns ctx.Err() (wrapped).
type Store interface {
	// Sync creates the collection if needed and brings its indexes in line
	// with c: unique indexes for c.Unique (partial: deleted documents are
	// excluded), plain indexes for c.Indexes, a full-text index over
	// c.Search. It is called once per collection at start.
	Sync(ctx context.Context, c *schema.Collection) error

	// Read runs q: Total counts every match before Skip/Limit, Docs holds
	// the page in order, Groups the `$group` buckets keyed by attr path.
	// Docs hold every stored attr, or only "_id" and q.Attrs when set.
	Read(ctx context.Context, c *schema.Collection, q *query.Query) (*Result, error)

	// Insert stores new documents, each with its "_id" set by the caller,
	// atomically: all or none. A unique violation returns a
	// *DuplicateError naming the violated attrs.
	Insert(ctx context.Context, c *schema.Collection, docs ...map[string]any) error

	// Update applies u to the documents matching q.Filter (at most q.Limit
	// of them in q.Sort order when q.Limit > 0), atomically, and returns
	// the ids of the documents it matched and how many it changed. A
	// unique violation returns a *DuplicateError and changes nothing.
	Update(ctx context.Context, c *schema.Collection, q *query.Query, u *Update) (*UpdateResult, error)

	// Delete removes the documents matching q.Filter (at most q.Limit when
	// q.Limit > 0) and returns their ids. Soft deletion sets "__deleted"
	// on live documents; hard deletion removes matching documents whether
	// live or soft-deleted (a purge).
	Delete(ctx context.Context, c *schema.Collection, q *query.Query, hard bool) ([]oid.ID, error)

	// Tx runs fn in a transaction: every store call made with the context
	// fn receives is part of it; fn's error (or a panic) rolls it back.
	// Nested calls join the outer transaction.
	Tx(ctx context.Context, fn func(ctx context.Context) error) error

	// Explain returns what q compiles to, for App.Explain and golden tests.
	Explain(c *schema.Collection, q *query.Query) (*Plan, error)

	// Close releases the store's resources.
	Close() error
}

// Result is what Read returns.
type Result struct {
	Total  int64
	Docs   []map[string]any
	Groups map[string][]Bucket
}

// UpdateResult is what Update returns.
type UpdateResult struct {
	// Matched lists the ids of the documents the query selected, in its
	// order.
	Matched []oid.ID
	// Modified counts the matched documents whose stored value the update
	// changed (MongoDB's modifiedCount, LIMP's update count, spec §8.5):
	// setting a value a document already holds, appending with $unique a
	// value already present or removing an absent one changes nothing.
	// The kinds of numbers count: setting 2.0 where 2 is stored changes it.
	Modified int64
}

// Bucket is one `$group` bucket: the values of the attr in [Min, Max]
// (MongoDB $bucketAuto: Max is exclusive except for the last bucket).
type Bucket struct {
	Min   any   `json:"min"`
	Max   any   `json:"max"`
	Count int64 `json:"count"`
}

// Plan is a compiled query. SQL stores fill SQL and Args, MongoDB stores
// Pipeline (canonical Extended JSON of the aggregation pipeline).
type Plan struct {
	SQL      string `json:"sql,omitempty"`
	Args     []any  `json:"args,omitempty"`
	Pipeline []byte `json:"-"`
}

// Update is a partial update (spec §8.5). Paths are dotted attr paths.
// Validation happened before: a store applies it as given.
type Update struct {
	Set   map[string]any // set path to value
	Unset []string       // remove path (set an optional attr back to null)
	Add   map[string]any // $add: increment by an int64 or float64
	Mul   map[string]any // $multiply
	// Append adds Values to the list at the path, skipping values already
	// present when Unique ($append / $append with $unique).
	Append map[string]Append
	// Remove removes every occurrence of each value from the list ($remove).
	Remove map[string][]any
	// Bounds limit the results of Add, Mul, Append and Remove by path:
	// when the update would take one selected document's value (or list
	// length) at such a path out of its bounds, Update returns a
	// *BoundsError and changes no document. The check and the write are
	// one atomic step (no other write comes between them).
	Bounds map[string]Bounds
}

// Append is one `$append`.
//
// Keep, when above zero, bounds the list: after appending, only its last
// Keep items stay (MongoDB's `$push` with `$each` and `$slice: -Keep`).
// It applies to plain appends only; with Unique it is ignored.
type Append struct {
	Values []any
	Unique bool
	Keep   int
}

// Empty reports whether u changes nothing.
func (u *Update) Empty() bool {
	return u == nil || len(u.Set) == 0 && len(u.Unset) == 0 && len(u.Add) == 0 && len(u.Mul) == 0 &&
		len(u.Append) == 0 && len(u.Remove) == 0
}

// Paths returns every path u touches.
func (u *Update) Paths() []string {
	var ps []string
	for p := range u.Set {
		ps = append(ps, p)
	}
	ps = append(ps, u.Unset...)
	for p := range u.Add {
		ps = append(ps, p)
	}
	for p := range u.Mul {
		ps = append(ps, p)
	}
	for p := range u.Append {
		ps = append(ps, p)
	}
	for p := range u.Remove {
		ps = append(ps, p)
	}
	return ps
}

// DuplicateError reports a unique-index violation.
type DuplicateError struct {
	// Attrs is the violated unique set (one attr, or a compound).
	Attrs []string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("duplicate value for unique attrs (%s)", strings.Join(e.Attrs, ", "))
}

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("store is closed")

// UnsupportedError reports a call that needs an optional server feature the
// deployment lacks (found when the store was opened), e.g. "text indexes"
// for a `$search` on a server without them. The call changes nothing; the
// root package answers it with 501 CORE_STORE_UNSUPPORTED naming Feature.
type UnsupportedError struct {
	// Feature names what is missing: "transactions", "text indexes",
	// "2dsphere indexes", "$lookup", "$bucketAuto", "change streams" or
	// "nested arrays".
	Feature string
	// Use names what needed it, e.g. "$search".
	Use string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s needs %s, which the database server does not support", e.Use, e.Feature)
}

// Optional server features a store may lack, as named in UnsupportedError
// and Features.
const (
	FeatureTransactions  = "transactions"
	FeatureText          = "text indexes"
	FeatureGeo           = "2dsphere indexes"
	FeatureLookup        = "$lookup"
	FeatureBucketAuto    = "$bucketAuto"
	FeatureChangeStreams = "change streams"
	// FeatureNestedArrays is storing a list directly inside a list
	// ([[1, 2]]), which FerretDB v1.x refuses.
	FeatureNestedArrays = "nested arrays"
)

// Features is implemented by stores whose server may lack optional
// features (the MongoDB store, found by probing at Open). Supports reports
// whether the feature (one of the Feature constants) is available; a store
// that does not implement Features supports them all.
type Features interface {
	Supports(feature string) bool
}

// Supports reports whether s supports feature (see Features).
func Supports(s Store, feature string) bool {
	if f, ok := s.(Features); ok {
		return f.Supports(feature)
	}
	return true
}
