package sqlite

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/limp-go/limp/internal/bsonorder"
	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// TestGroupBuckets checks $group against MongoDB's $bucketAuto: round(n/N)
// values per bucket, equal values never split, the last bucket takes the
// rest, null and missing values forming the lowest bucket.
func TestGroupBuckets(t *testing.T) {
	tests := []struct {
		name   string
		values []any
		count  int
		want   []store.Bucket
	}{
		{"even", []any{int64(1), int64(2), int64(3), int64(4)}, 2,
			[]store.Bucket{{Min: int64(1), Max: int64(3), Count: 2}, {Min: int64(3), Max: int64(4), Count: 2}}},
		{"round half up", []any{int64(1), int64(2), int64(3), int64(4), int64(5)}, 2,
			[]store.Bucket{{Min: int64(1), Max: int64(4), Count: 3}, {Min: int64(4), Max: int64(5), Count: 2}}},
		{"last bucket takes the rest", []any{int64(1), int64(2), int64(3), int64(4), int64(5), int64(6), int64(7)}, 3,
			[]store.Bucket{{Min: int64(1), Max: int64(3), Count: 2}, {Min: int64(3), Max: int64(5), Count: 2}, {Min: int64(5), Max: int64(7), Count: 3}}},
		{"equal values stay together", []any{int64(1), int64(2), int64(2), int64(2), int64(3)}, 2,
			[]store.Bucket{{Min: int64(1), Max: int64(3), Count: 4}, {Min: int64(3), Max: int64(3), Count: 1}}},
		{"fewer buckets than asked", []any{int64(1), int64(1), int64(1)}, 3,
			[]store.Bucket{{Min: int64(1), Max: int64(1), Count: 3}}},
		{"more buckets than values", []any{int64(5), int64(1)}, 10,
			[]store.Bucket{{Min: int64(1), Max: int64(5), Count: 1}, {Min: int64(5), Max: int64(5), Count: 1}}},
		{"nulls are the lowest values", []any{nil, nil, 2.5, int64(1)}, 1,
			[]store.Bucket{{Min: nil, Max: 2.5, Count: 4}}},
		{"a null bucket", []any{nil, nil, 2.5, int64(1)}, 2,
			[]store.Bucket{{Min: nil, Max: int64(1), Count: 2}, {Min: int64(1), Max: 2.5, Count: 2}}},
		{"only nulls", []any{nil}, 2, []store.Bucket{{Min: nil, Max: nil, Count: 1}}},
		{"lists in BSON order", []any{[]any{int64(10)}, []any{int64(9), "x"}, []any{2.0}, nil, []any{}}, 5,
			[]store.Bucket{{Min: nil, Max: []any{}, Count: 1}, {Min: []any{}, Max: []any{2.0}, Count: 1},
				{Min: []any{2.0}, Max: []any{int64(9), "x"}, Count: 1}, {Min: []any{int64(9), "x"}, Max: []any{int64(10)}, Count: 1},
				{Min: []any{int64(10)}, Max: []any{int64(10)}, Count: 1}}},
		{"objects field by field", []any{map[string]any{"score": 10.0}, map[string]any{"score": 9.0}}, 2,
			[]store.Bucket{{Min: map[string]any{"score": 9.0}, Max: map[string]any{"score": 10.0}, Count: 1},
				{Min: map[string]any{"score": 10.0}, Max: map[string]any{"score": 10.0}, Count: 1}}},
		{"strings", []any{"b", "a", "c"}, 2,
			[]store.Bucket{{Min: "a", Max: "c", Count: 2}, {Min: "c", Max: "c", Count: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			c := &schema.Collection{Name: "g", Attrs: map[string]*schema.Type{"v": {Kind: schema.Any}}}
			if err := s.Sync(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			for _, v := range tt.values {
				if err := s.Insert(t.Context(), c, map[string]any{"_id": oid.New(), "v": v}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.Read(t.Context(), c, &query.Query{Group: []query.Group{{By: "v", Count: tt.count}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Groups["v"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("buckets %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSortKey checks limp_sortkey's order against MongoDB's: null <
// numbers < strings < objects < arrays < booleans, arrays by their least
// element ascending and greatest descending, an empty array first.
func TestSortKey(t *testing.T) {
	// Objects compare field by field and numbers as numbers at depth:
	// {"score": 9.0} < {"score": 10.0}, and arrays nested in the sorted
	// array element by element ([[2]] < [[10]]).
	asc := []string{`[]`, `null`, `-1.5`, `[0,"z"]`, `1`, `1.5`, `"1"`, `"a"`, `"ab"`, `{"a":1}`, `{"score":9.0}`, `{"score":10.0}`,
		`{"score":10,"x":null}`, `[[2]]`, `[[10]]`, `false`, `true`}
	desc := []string{`true`, `false`, `[[10]]`, `[[2]]`, `{"score":10,"x":null}`, `{"score":10.0}`, `{"score":9.0}`, `{"a":1}`,
		`[0,"z"]`, `"ab"`, `"a"`, `"1"`, `1.5`, `1`, `-1.5`, `null`, `[]`}
	key := func(js string, d bool) []byte {
		v, err := jsonv.Parse([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return sortKey(v, nil, d)
	}
	for _, tt := range []struct {
		order []string
		desc  bool
	}{{asc, false}, {desc, true}} {
		got := slices.Clone(tt.order)
		slices.Reverse(got)
		slices.SortStableFunc(got, func(a, b string) int {
			c := strings.Compare(string(key(a, tt.desc)), string(key(b, tt.desc)))
			if tt.desc {
				c = -c
			}
			return c
		})
		if !slices.Equal(got, tt.order) {
			t.Errorf("desc=%v: order %v, want %v", tt.desc, got, tt.order)
		}
	}
	// Paths through lists: every element's value, a missing one as null.
	doc, _ := jsonv.Parse([]byte(`{"items":[{"q":3},{"q":[7,1]},{}],"d":{"x":"s"}}`))
	for _, tt := range []struct {
		path string
		desc bool
		want []byte
	}{
		{"items.q", false, bsonorder.Key(nil)},
		{"items.q", true, bsonorder.Key(int64(7))},
		{"items.0.q", false, bsonorder.Key(3.0)},
		{"items.5.q", false, bsonorder.Key(nil)},
		{"d.x", false, bsonorder.Key("s")},
		{"d.y", false, bsonorder.Key(nil)},
		{"d.x.z", true, bsonorder.Key(nil)},
	} {
		if got := sortKey(doc, strings.Split(tt.path, "."), tt.desc); !slices.Equal(got, tt.want) {
			t.Errorf("%s desc=%v: key %v, want %v", tt.path, tt.desc, got, tt.want)
		}
	}
}

// FuzzSortKey checks that no stored JSON or path makes sortKey panic, and
// that an array's ascending key is never above any of its elements' keys
// (nor its descending key below).
func FuzzSortKey(f *testing.F) {
	for _, s := range []string{`null`, `[]`, `[1,"a",true]`, `{"a":[{"b":2},{}]}`, `[[1],{"x":null}]`, `-0.0`, `"\u0000"`} {
		f.Add([]byte(s), "a.b", false)
		f.Add([]byte(s), "", true)
	}
	f.Fuzz(func(t *testing.T, js []byte, path string, desc bool) {
		v, err := jsonv.Parse(js)
		if err != nil {
			return
		}
		var segs []string
		if path != "" {
			segs = strings.Split(path, ".")
		}
		k := sortKey(v, segs, desc)
		if len(k) == 0 {
			t.Fatalf("empty key for %s %q", js, path)
		}
		l, ok := v.([]any)
		if !ok || len(segs) > 0 {
			return
		}
		for _, e := range l {
			ek := encodeSortValue(e)
			if !desc && string(k) > string(ek) || desc && string(k) < string(ek) {
				t.Fatalf("%s: key %v beyond element %v", js, k, ek)
			}
		}
	})
}

// TestSearchSQL pins how a `$search` string becomes an FTS5 query and
// phrase conditions (MongoDB's $text parsing, internal/textsearch).
func TestSearchSQL(t *testing.T) {
	for _, tt := range []struct {
		in, want         string
		phrases, negated []string
	}{
		{"red apple", `"red" OR "apple"`, nil, nil},
		{`"red apple" pie`, `"red" OR "apple" OR "pie"`, []string{"red apple"}, nil},
		{`"a b" "c"`, `"a" OR "b" OR "c"`, []string{"a b", "c"}, nil},
		{`apple -banana`, `("apple") NOT ("banana")`, nil, nil},
		{`apple -"green pear" -x-y`, `("apple") NOT ("x" OR "y")`, nil, []string{"green pear"}},
		{`pre-owned`, `"pre" OR "owned"`, nil, nil},
		{`-apple`, ``, nil, nil},
		{`"unclosed phrase`, `"unclosed" OR "phrase"`, nil, nil},
		{`""  -  "" *`, ``, nil, nil},
		{`NEAR( pear* "pear" ^x`, `"near" OR "pear" OR "x"`, []string{"pear"}, nil},
		{"a\x00b c", `"a"`, nil, nil},
		{`a"b"c`, `"a" OR "b" OR "c"`, []string{"b"}, nil},
		{`تفاحة`, `"تفاحة"`, nil, nil},
		{`Crème BRÛLÉE`, `"creme" OR "brulee"`, nil, nil},
		{`مَكْتَبَة`, `"مكتبة"`, nil, nil},
		{`ПРИВЕТ Ёлка`, `"привет" OR "елка"`, nil, nil},
		{`東京タワー`, `"東京タワ"`, nil, nil},
		{"", "", nil, nil},
	} {
		got, ph, neg := searchSQL(tt.in)
		if got != tt.want || !slices.Equal(ph, tt.phrases) || !slices.Equal(neg, tt.negated) {
			t.Errorf("searchSQL(%q) = %q %q %q, want %q %q %q", tt.in, got, ph, neg, tt.want, tt.phrases, tt.negated)
		}
	}
}

// TestArithmetic checks $add and $multiply: ints stay ints, an int64
// overflow is an error, a float operand makes a float.
func TestArithmetic(t *testing.T) {
	const maxI, minI = int64(math.MaxInt64), int64(math.MinInt64)
	for _, tt := range []struct {
		cur, by any
		mul     bool
		want    any // nil: an error
	}{
		{int64(2), int64(3), false, int64(5)},
		{nil, int64(3), true, int64(0)},
		{nil, 2.5, false, 2.5},
		{int64(2), 0.5, true, 1.0},
		{maxI, int64(1), false, nil},
		{minI, int64(-1), false, nil},
		{maxI, int64(-1), false, maxI - 1},
		{minI, int64(-1), true, nil},
		{int64(-1), minI, true, nil},
		{int64(1) << 32, int64(1) << 31, true, nil},
		{int64(1) << 31, int64(1) << 31, true, int64(1) << 62},
		{maxI, int64(0), true, int64(0)},
		{"x", int64(1), false, nil},
		{int64(1), "x", false, nil},
	} {
		got, err := arithmetic(tt.cur, tt.by, tt.mul)
		if tt.want == nil {
			if err == nil {
				t.Errorf("%v op(mul=%v) %v = %v, want an error", tt.cur, tt.mul, tt.by, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v op(mul=%v) %v = %v, %v; want %v", tt.cur, tt.mul, tt.by, got, err, tt.want)
		}
	}
}
