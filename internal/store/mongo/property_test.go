package mongo

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/query"
)

// structural are the operator and stage names the compiler may emit
// outside a literal operand.
var structural = map[string]bool{
	"$match": true, "$sort": true, "$skip": true, "$limit": true, "$project": true, "$count": true,
	"$lookup": true, "$geoNear": true, "$bucketAuto": true, "$and": true, "$or": true, "$text": true,
	"$search": true, "$meta": true, "$regex": true, "$options": true,
	"$eq": true, "$ne": true, "$gt": true, "$gte": true, "$lt": true, "$lte": true,
	"$in": true, "$nin": true, "$all": true,
}

// literalOperand are the operators whose operand MongoDB compares as a
// value, never interprets (for $all: elements are checked not to be
// $-documents).
var literalOperand = map[string]bool{
	"$eq": true, "$ne": true, "$gt": true, "$gte": true, "$lt": true, "$lte": true,
	"$in": true, "$nin": true, "$all": true, "$search": true, "$regex": true,
}

// checkStructure fails when a $-key outside a literal operand is not one
// the compiler builds itself.
func checkStructure(t *testing.T, v any, literal bool) {
	t.Helper()
	switch v := v.(type) {
	case bson.D:
		for _, e := range v {
			if !literal && strings.HasPrefix(e.Key, "$") && !structural[e.Key] {
				t.Fatalf("pipeline holds operator %q outside a literal operand: %v", e.Key, v)
			}
			checkStructure(t, e.Value, literal || literalOperand[e.Key])
		}
	case bson.A:
		for _, x := range v {
			checkStructure(t, x, literal)
		}
	case []bson.D:
		for _, x := range v {
			checkStructure(t, x, literal)
		}
	}
}

// FuzzCompile compiles queries built from arbitrary paths, operators and
// values: Compile must fail cleanly or emit only its own operators.
func FuzzCompile(f *testing.F) {
	f.Add("status", uint8(0), "x", "$where", "a", int64(1))
	f.Add("a.$b", uint8(9), "$x", "$elemMatch", "$natural", int64(0))
	f.Add("title.en_AE", uint8(10), "^a", "k", "b.c", int64(3))
	f.Fuzz(func(t *testing.T, path string, op uint8, val, key, other string, n int64) {
		q := &query.Query{
			Filter: query.And{
				&query.Cond{Path: path, Op: query.Op(op % 12), Value: val, Value2: val},
				&query.Cond{Path: path, Op: query.Op(op % 12), Value: []any{map[string]any{key: val}, val}},
				query.Or{&query.Cond{Path: other, Op: query.Eq, Value: map[string]any{key: []any{val}}}},
				&query.Cond{Path: key, Op: query.Ne, Value: val, Join: &query.Join{Local: other, Collection: val}},
				&query.Access{Path: other},
			},
			Search: val,
			Sort:   []query.Sort{{Path: other}, {Path: path, Desc: true}},
			Skip:   n, Limit: n,
			Attrs: []string{path, other},
			Group: []query.Group{{By: other, Count: int(n % 10)}},
		}
		p, err := Compile(blogColl, q)
		if err != nil {
			return
		}
		checkStructure(t, p.Docs(), false)
		checkStructure(t, p.Count(), false)
		for _, g := range p.Groups {
			checkStructure(t, g.Stages, false)
		}
	})
}
