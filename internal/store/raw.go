package store

import (
	"context"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// RawDoc is a stored document as the store keeps it: its _id (24 hex
// digits) and its other attrs as JSON text (an object without "_id").
type RawDoc struct {
	ID   string
	JSON []byte
}

// RawReader is an optional Store capability: Read without decoding the
// documents, for replies that can copy the stored text to the wire
// (the root package's read path). The documents are those Read would
// return, in the same order, before any $attrs projection (the caller
// projects); Total is Read's. Groups are not computed: callers use Read
// for a query with $group.
type RawReader interface {
	ReadRaw(ctx context.Context, c *schema.Collection, q *query.Query) (docs []RawDoc, total int64, err error)
}
