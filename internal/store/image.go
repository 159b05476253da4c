package store

import "github.com/limp-go/limp/internal/schema"

// Imager is implemented by a Store that can tell, without a read, what
// Read returns for a document it has just stored: the change feed
// (issue 14 item 5) then takes a create's after-image from the write
// path instead of reading each written document back.
type Imager interface {
	// Image returns doc, as given to an Insert that succeeded, as Read
	// returns it (stored types: numbers as int64 or float64, IDs as
	// oid.ID, nested values copied), or nil when Read does not return it
	// (a document inserted soft-deleted). doc is neither modified nor
	// kept.
	Image(c *schema.Collection, doc map[string]any) (map[string]any, error)
}
