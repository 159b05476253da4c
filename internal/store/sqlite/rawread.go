package sqlite

import (
	"context"
	"fmt"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

var _ store.RawReader = (*Store)(nil)

// rawSinkKey carries a *rawSink in a Read's context.
type rawSinkKey struct{}

type rawSink struct{ docs []store.RawDoc }

// ReadRaw is Read keeping each document's stored JSON text instead of
// decoding it (store.RawReader): the same statements, snapshot and
// order, the documents collected where Read decodes them. q.Group is
// ignored (no groups are returned).
func (s *Store) ReadRaw(ctx context.Context, c *schema.Collection, q *query.Query) ([]store.RawDoc, int64, error) {
	if q != nil && len(q.Group) > 0 {
		cp := *q
		cp.Group = nil
		q = &cp
	}
	sink := &rawSink{}
	res, err := s.Read(context.WithValue(ctx, rawSinkKey{}, sink), c, q)
	if err != nil {
		return nil, 0, err
	}
	// Read reruns a read whose mixed attrs changed while it ran (mixed.go):
	// each attempt appended its rows; the answer is the last attempt's.
	docs := sink.docs[len(sink.docs)-len(res.Docs):]
	return docs, res.Total, nil
}

// decodeRow is decodeDoc, or, inside ReadRaw, the row kept as it is
// (doc is the row's own copy) and a placeholder document holding its
// _id returned.
func decodeRow(ctx context.Context, c *schema.Collection, id string, doc []byte) (map[string]any, error) {
	sink, ok := ctx.Value(rawSinkKey{}).(*rawSink)
	if !ok {
		return decodeDoc(c, id, doc)
	}
	oidv, err := oid.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("stored id %q: %w", id, err)
	}
	sink.docs = append(sink.docs, store.RawDoc{ID: id, JSON: doc})
	return map[string]any{"_id": oidv}, nil
}
