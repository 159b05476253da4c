package sqlite

import (
	"reflect"
	"testing"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/query"
)

// TestReadRaw: ReadRaw returns the documents Read returns, in its order
// and with its total, as their stored text (decoded, the same values;
// $attrs is left to the caller, $group ignored); outside ReadRaw, Read
// decodes as before.
func TestReadRaw(t *testing.T) {
	s := openTest(t)
	c := testCollection()
	seed(t, s, c)
	ctx := t.Context()
	for _, q := range []*query.Query{
		{},
		{Limit: 2, Skip: 1, Sort: []query.Sort{{Path: "n", Desc: true}}},
		{Filter: &query.Cond{Path: "tags", Op: query.Eq, Value: "b"}, Limit: 1},
		{Attrs: []string{"title"}, Limit: 3},
		{Group: []query.Group{{By: "n", Count: 2}}, Limit: 2},
		{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "none"}},
	} {
		res, err := s.Read(ctx, c, &query.Query{Filter: q.Filter, Sort: q.Sort, Skip: q.Skip, Limit: q.Limit})
		if err != nil {
			t.Fatal(err)
		}
		raws, total, err := s.ReadRaw(ctx, c, q)
		if err != nil {
			t.Fatal(err)
		}
		if total != res.Total || len(raws) != len(res.Docs) {
			t.Fatalf("%+v: ReadRaw %d docs, total %d; Read %d, %d", q, len(raws), total, len(res.Docs), res.Total)
		}
		for i, r := range raws {
			d, err := decodeDoc(c, r.ID, r.JSON)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d, res.Docs[i]) {
				t.Errorf("%+v: doc %d: ReadRaw %v, Read %v", q, i, d, res.Docs[i])
			}
			if _, err := jsonv.Parse(r.JSON); err != nil {
				t.Errorf("stored text %q: %v", r.JSON, err)
			}
		}
	}
}
