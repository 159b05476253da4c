package bsonorder

import (
	"bytes"
	"math"
	"testing"

	"github.com/limp-go/limp/internal/oid"
)

// ordered lists values in MongoDB's ascending order; entries in the same
// inner slice are equal.
var ordered = [][]any{
	{nil},
	{math.NaN()},
	{math.Inf(-1)},
	{int64(math.MinInt64), -9223372036854775808.0},
	{-2.5},
	{int64(-2), -2.0},
	{int64(0), 0.0, math.Copysign(0, -1)},
	{0.5},
	{int64(2), 2.0},
	{9.0},
	{int64(10), 10.0},
	{9007199254740992.0, int64(9007199254740992)},
	{int64(9007199254740993)},
	{9007199254740994.0, int64(9007199254740994)},
	{int64(math.MaxInt64)},
	{9223372036854775808.0},
	{math.Inf(1)},
	{""},
	{"\x00"},
	{"\x00a"},
	{"A"},
	{"a"},
	{"a\x00"},
	{"a\x00b"},
	{"a\x01"},
	{"ab"},
	{"b"},
	{"é"},
	{map[string]any{}},
	{map[string]any{"a": nil}},
	{map[string]any{"b": nil}},
	{map[string]any{"a": int64(1)}},
	{map[string]any{"score": 9.0}, map[string]any{"score": int64(9)}},
	{map[string]any{"score": 10.0}, map[string]any{"score": int64(10)}},
	{map[string]any{"score": 10.0, "x": nil}},
	{map[string]any{"a": "x"}},
	{map[string]any{"b": "x"}},
	{map[string]any{"a": map[string]any{}}},
	{map[string]any{"a": []any{}}},
	{map[string]any{"a": true}},
	{[]any{}},
	{[]any{nil}},
	{[]any{int64(1)}},
	{[]any{int64(1), nil}},
	{[]any{int64(1), int64(2)}, []any{1.0, 2.0}},
	{[]any{int64(2)}},
	{[]any{"a"}},
	{[]any{map[string]any{"label": "l", "score": int64(2)}}, []any{map[string]any{"score": 2.0, "label": "l"}}},
	{[]any{[]any{}}},
	{[]any{true}},
	{oid.MustParse("000000000000000000000000")},
	{oid.MustParse("ffffffffffffffffffffffff")},
	{false},
	{true},
}

func TestOrder(t *testing.T) {
	for i, gi := range ordered {
		for j, gj := range ordered {
			want := cmpInt(i, j)
			for _, a := range gi {
				for _, b := range gj {
					if got := Compare(a, b); got != want {
						t.Errorf("Compare(%#v, %#v) = %d, want %d", a, b, got, want)
					}
					if got := bytes.Compare(Key(a), Key(b)); got != want {
						t.Errorf("key order of %#v, %#v = %d, want %d (%x, %x)", a, b, got, want, Key(a), Key(b))
					}
				}
			}
		}
	}
}

func TestEqual(t *testing.T) {
	a := map[string]any{"meta": map[string]any{"score": int64(2), "label": "l"}, "l": []any{int64(1), 2.5}}
	b := map[string]any{"meta": map[string]any{"score": 2.0, "label": "l"}, "l": []any{1.0, 2.5}}
	if !Equal(a, b) {
		t.Errorf("%v and %v differ", a, b)
	}
	if Equal(a, map[string]any{"meta": map[string]any{"score": 2.5, "label": "l"}, "l": []any{1.0, 2.5}}) {
		t.Error("2 == 2.5")
	}
}

// value builds a canonical value from fuzz bytes.
func value(b []byte, depth int) (any, []byte) {
	if len(b) == 0 {
		return nil, b
	}
	k, b := b[0], b[1:]
	take := func(n int) []byte {
		n = min(n, len(b))
		out := b[:n]
		b = b[n:]
		return out
	}
	switch k % 9 {
	case 0:
		return nil, b
	case 1:
		return k&0x10 != 0, b
	case 2:
		x := take(1)
		if len(x) == 0 {
			return int64(0), b
		}
		return int64(int8(x[0])), b
	case 3:
		x := take(1)
		if len(x) == 0 {
			return 0.5, b
		}
		return float64(int8(x[0])) / 2, b
	case 4:
		x := take(8)
		var u uint64
		for _, c := range x {
			u = u<<8 | uint64(c)
		}
		if k&0x10 != 0 {
			return int64(u), b
		}
		return math.Float64frombits(u), b
	case 5:
		x := take(int(k>>4) % 4)
		return string(x), b
	case 6:
		if depth > 3 {
			return nil, b
		}
		n := int(k>>4) % 4
		l := make([]any, 0, n)
		for range n {
			var v any
			v, b = value(b, depth+1)
			l = append(l, v)
		}
		return l, b
	case 7:
		if depth > 3 {
			return nil, b
		}
		n := int(k>>4) % 4
		m := map[string]any{}
		for range n {
			key := string(take(1))
			var v any
			v, b = value(b, depth+1)
			m[key] = v
		}
		return m, b
	default:
		var id oid.ID
		copy(id[:], take(12))
		return id, b
	}
}

// FuzzKey checks that Key's bytewise order is Compare's order, that
// Compare is antisymmetric and that its equality is Equal.
func FuzzKey(f *testing.F) {
	f.Add([]byte{6, 2, 1, 3, 2}, []byte{6, 3, 2, 2, 1})
	f.Add([]byte{4, 0, 0x20, 0, 0, 0, 0, 0, 1}, []byte{0x14, 0x43, 0x40, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x17, 'a', 3, 2}, []byte{0x17, 'a', 2, 2})
	f.Fuzz(func(t *testing.T, x, y []byte) {
		a, _ := value(x, 0)
		b, _ := value(y, 0)
		c := Compare(a, b)
		if k := bytes.Compare(Key(a), Key(b)); k != c {
			t.Fatalf("Compare(%#v, %#v) = %d, keys %d", a, b, c, k)
		}
		if r := Compare(b, a); r != -c {
			t.Fatalf("Compare not antisymmetric on %#v, %#v", a, b)
		}
		if Compare(a, a) != 0 {
			t.Fatalf("%#v != itself", a)
		}
	})
}
