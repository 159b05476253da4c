package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// BenchmarkBSONOrder measures the reads that go through MongoDB's
// comparison order in Go (limp_sortkey, limp_valkey, limp_exprval) against
// the same reads on a plain scalar attr (the baseline, served by SQL
// values and indexes), over 10,000 documents.
func BenchmarkBSONOrder(b *testing.B) {
	c := &schema.Collection{Name: "bo", Attrs: map[string]*schema.Type{
		"n":    {Kind: schema.Int},
		"tags": {Kind: schema.List, Items: []*schema.Type{{Kind: schema.Str}}},
		"meta": {Kind: schema.Dict, Fields: map[string]*schema.Type{"score": {Kind: schema.Float}, "label": {Kind: schema.Str}}},
	}, Indexes: [][]schema.IndexKey{{{Path: "n"}}}}
	s, err := Open(b.Context(), ":memory:", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(b.Context(), c); err != nil {
		b.Fatal(err)
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	docs := make([]map[string]any, 10000)
	for i := range docs {
		docs[i] = map[string]any{
			"_id":  oid.NewAt(base.Add(time.Duration(i) * time.Second)),
			"n":    int64(i % 1000),
			"tags": []any{fmt.Sprint("t", i%10), fmt.Sprint("u", i%7)},
			"meta": map[string]any{"score": float64(i%1000) / 2, "label": fmt.Sprint("l", i%10)},
		}
	}
	if err := s.Insert(b.Context(), c, docs...); err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		q    *query.Query
	}{
		{"sort/scalar", &query.Query{Sort: []query.Sort{{Path: "n"}}, Limit: 20}},
		{"sort/object", &query.Query{Sort: []query.Sort{{Path: "meta"}}, Limit: 20}},
		{"eq/scalar", &query.Query{Filter: &query.Cond{Path: "meta.label", Op: query.Eq, Value: "l3"}, Limit: 20}},
		{"eq/object", &query.Query{Filter: &query.Cond{Path: "meta", Op: query.Eq, Value: map[string]any{"label": "l3", "score": int64(1)}}, Limit: 20}},
		{"group/scalar", &query.Query{Limit: 1, Group: []query.Group{{By: "n", Count: 10}}}},
		{"group/list", &query.Query{Limit: 1, Group: []query.Group{{By: "tags", Count: 10}}}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Read(b.Context(), c, tt.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
