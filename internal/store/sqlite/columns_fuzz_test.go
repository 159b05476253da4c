package sqlite

import (
	"math"
	"reflect"
	"testing"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// FuzzTypedColumns checks that reads through the typed columns (the side
// table, the side-only plan) answer exactly as the same reads over the
// documents (json_extract, columnsOff), whatever the stored values of the
// declared scalars: missing, null, the declared type, another one, lists,
// objects, NUL bytes.
func FuzzTypedColumns(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, uint8(0), uint8(3), "3", int64(3), 2.5)
	f.Add([]byte{7, 7, 1, 0, 200, 13}, uint8(5), uint8(1), "", int64(-1), math.Copysign(0, -1))
	f.Fuzz(func(t *testing.T, sel []byte, opSel, pathSel uint8, str string, n int64, x float64) {
		if len(sel) > 64 || math.IsNaN(x) || math.IsInf(x, 0) {
			return // no JSON for NaN and infinities
		}
		vals := []any{nil, int64(3), n, x, 2.5, "3", str, true, false, []any{int64(3), "a"}, map[string]any{"a": int64(1)}, "nul\x00", int64(-7), "", []any{}, "published"}
		pick := func(i int) (any, bool) {
			if i >= len(sel) {
				return nil, false
			}
			b := int(sel[i])
			if b%(len(vals)+1) == len(vals) {
				return nil, false // missing
			}
			return vals[b%(len(vals)+1)], true
		}
		s, err := Open(t.Context(), ":memory:", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c := blogCollection()
		if err := s.Sync(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		// status: an indexed path (the side-only plan holds it too).
		paths := []string{"views", "score", "pinned", "body.lead", "body.words", "status"}
		var docs []map[string]any
		for d := 0; d*len(paths) < len(sel) && d < 12; d++ {
			doc := map[string]any{"_id": oid.New(), "title": oid.New().Hex(), "created": "2025-01-0" + string(rune('1'+d%9))}
			body := map[string]any{}
			for j, p := range paths {
				v, ok := pick(d*len(paths) + j)
				if !ok {
					continue
				}
				switch p {
				case "body.lead":
					body["lead"] = v
				case "body.words":
					body["words"] = v
				default:
					doc[p] = v
				}
			}
			if len(body) > 0 {
				doc["body"] = body
			}
			docs = append(docs, doc)
		}
		if len(docs) == 0 {
			return
		}
		if err := s.Insert(t.Context(), c, docs...); err != nil {
			t.Fatal(err)
		}
		ops := []query.Op{query.Eq, query.Ne, query.Gt, query.Gte, query.Lt, query.Lte, query.In, query.Nin, query.Regex}
		op := ops[int(opSel)%len(ops)]
		path := paths[int(pathSel)%len(paths)]
		var operand any = vals[int(opSel/8)%len(vals)]
		switch op {
		case query.In, query.Nin:
			operand = []any{operand, n, str}
		case query.Regex:
			operand = "^" + "3"
		}
		for _, q := range []*query.Query{
			{Filter: &query.Cond{Path: path, Op: op, Value: operand}},
			{Filter: &query.Cond{Path: path, Op: op, Value: operand}, Sort: []query.Sort{{Path: "created", Desc: true}, {Path: path}}, Limit: 3, Skip: 1},
			{Filter: query.Or{&query.Cond{Path: path, Op: op, Value: operand}, &query.Cond{Path: "views", Op: query.Eq, Value: nil}}, Sort: []query.Sort{{Path: "score"}}, Limit: 2},
			// A permission's query_mod (examples/blog, anonymous).
			{Filter: query.And{&query.Cond{Path: path, Op: op, Value: operand}, query.Or{&query.Cond{Path: "status", Op: query.Eq, Value: "published"},
				&query.Cond{Path: "pinned", Op: query.Eq, Value: true}}}, Sort: []query.Sort{{Path: "status", Desc: true}, {Path: "created", Desc: true}}, Limit: 4},
			{Filter: query.And{&query.Cond{Path: "status", Op: query.Eq, Value: "published"}, &query.Cond{Path: path, Op: op, Value: operand}},
				Sort: []query.Sort{{Path: "created", Desc: true}}, Limit: 3, Skip: 1},
		} {
			if _, err := Compile(c, q); err != nil {
				return
			}
			a, err := s.Read(t.Context(), c, q)
			if err != nil {
				t.Fatalf("%+v: %v", q.Filter, err)
			}
			columnsOff.Store(true)
			b, err := s.Read(t.Context(), c, q)
			columnsOff.Store(false)
			if err != nil {
				t.Fatal(err)
			}
			if a.Total != b.Total || !reflect.DeepEqual(a.Docs, b.Docs) {
				t.Fatalf("%s %v %#v: columns %d %v, documents %d %v", path, op, operand, a.Total, docIDs(a.Docs), b.Total, docIDs(b.Docs))
			}
		}
	})
}

func docIDs(docs []map[string]any) []any {
	var out []any
	for _, d := range docs {
		out = append(out, d["_id"])
	}
	return out
}
