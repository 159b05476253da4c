// Package bsonorder is MongoDB's comparison and sort order of BSON values
// (the manual's "Comparison/Sort Order"), over the canonical values of
// internal/store: nil, bool, int64, float64, string, oid.ID, []any and
// map[string]any (int is taken as int64).
//
// Across kinds the order is: null < numbers < strings < objects < arrays
// < ObjectIds < booleans. Numbers compare as numbers, exactly (an int64
// and a float64 are equal when they denote the same number, so 2 == 2.0,
// and 2^53+1 > 2^53 as a float); NaN is below every other number and
// equal to itself. Strings compare bytewise (MongoDB's simple binary
// comparison, no collation). Objects compare pair by pair in key order
// (documents here always hold sorted keys, as both stores write them):
// first the kind of the values, then the key, then the value; an object
// that runs out of pairs first is less. Arrays compare element by element
// the same way (without keys); a prefix is less. false < true.
//
// Compare is the reference comparator; Key encodes a value so that
// bytewise order of keys is Compare's order and equal keys mean Compare
// returns 0. The embedded store sorts, groups and tests whole-value
// equality by Key.
package bsonorder

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"sort"

	"github.com/limp-go/limp/internal/oid"
)

// Rank bytes of the kinds, MongoDB's canonical type order (the values are
// those of canonicalizeBSONType). 0 ends an object or an array in a Key.
const (
	RankNull   = 5
	RankNumber = 10
	RankString = 15
	RankObject = 20
	RankArray  = 25
	RankOID    = 35
	RankBool   = 40
)

// Rank returns the rank of v's kind; values of unknown Go types rank as
// null.
func Rank(v any) int {
	switch v.(type) {
	case int64, int, float64:
		return RankNumber
	case string:
		return RankString
	case map[string]any:
		return RankObject
	case []any:
		return RankArray
	case oid.ID:
		return RankOID
	case bool:
		return RankBool
	}
	return RankNull
}

// Compare returns -1, 0 or +1 as a sorts before, with or after b.
func Compare(a, b any) int {
	ra, rb := Rank(a), Rank(b)
	if ra != rb {
		return cmpInt(ra, rb)
	}
	switch x := a.(type) {
	case int64, int, float64:
		return compareNumbers(a, b)
	case string:
		return cmpString(x, b.(string))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case oid.ID:
		y := b.(oid.ID)
		return bytes.Compare(x[:], y[:])
	case []any:
		y := b.([]any)
		for i := 0; i < len(x) && i < len(y); i++ {
			if c := Compare(x[i], y[i]); c != 0 {
				return c
			}
		}
		return cmpInt(len(x), len(y))
	case map[string]any:
		y := b.(map[string]any)
		kx, ky := sortedKeys(x), sortedKeys(y)
		for i := 0; i < len(kx) && i < len(ky); i++ {
			if c := cmpInt(Rank(x[kx[i]]), Rank(y[ky[i]])); c != 0 {
				return c
			}
			if c := cmpString(kx[i], ky[i]); c != 0 {
				return c
			}
			if c := Compare(x[kx[i]], y[ky[i]]); c != 0 {
				return c
			}
		}
		return cmpInt(len(kx), len(ky))
	}
	return 0 // null
}

// Equal reports whether a and b are equal in MongoDB's comparison (numbers
// as numbers at every depth).
func Equal(a, b any) bool { return Compare(a, b) == 0 }

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// compareNumbers compares two numbers exactly.
func compareNumbers(a, b any) int {
	ia, aInt := asInt(a)
	ib, bInt := asInt(b)
	switch {
	case aInt && bInt:
		return cmpInt64(ia, ib)
	case aInt:
		return cmpIntFloat(ia, b.(float64))
	case bInt:
		return -cmpIntFloat(ib, a.(float64))
	}
	x, y := a.(float64), b.(float64)
	switch {
	case math.IsNaN(x) && math.IsNaN(y):
		return 0
	case math.IsNaN(x):
		return -1
	case math.IsNaN(y):
		return 1
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpIntFloat compares an int64 with a float64 exactly.
func cmpIntFloat(i int64, f float64) int {
	switch {
	case math.IsNaN(f):
		return 1
	case f >= 1<<63:
		return -1
	case f < -(1 << 63):
		return 1
	}
	t := math.Trunc(f)
	if c := cmpInt64(i, int64(t)); c != 0 {
		return c
	}
	switch {
	case f > t:
		return -1
	case f < t:
		return 1
	}
	return 0
}

// Key returns v's sort key: bytewise order of keys is Compare's order, and
// two keys are equal exactly when Compare returns 0.
func Key(v any) []byte { return AppendKey(nil, v) }

// AppendKey appends v's key (see Key) to dst: its rank byte, then its
// payload.
func AppendKey(dst []byte, v any) []byte {
	dst = append(dst, byte(Rank(v)))
	return appendPayload(dst, v)
}

// appendPayload appends v's value without its rank. Every payload is
// self-delimiting, so keys concatenate without ambiguity.
func appendPayload(dst []byte, v any) []byte {
	switch x := v.(type) {
	case int64:
		return appendNumber(dst, float64(x), x, true)
	case int:
		return appendNumber(dst, float64(x), int64(x), true)
	case float64:
		return appendNumber(dst, x, 0, false)
	case string:
		return appendString(dst, x)
	case bool:
		if x {
			return append(dst, 1)
		}
		return append(dst, 0)
	case oid.ID:
		return append(dst, x[:]...)
	case []any:
		for _, e := range x {
			dst = AppendKey(dst, e)
		}
		return append(dst, 0)
	case map[string]any:
		for _, k := range sortedKeys(x) {
			e := x[k]
			dst = append(dst, byte(Rank(e)))
			dst = appendString(dst, k)
			dst = appendPayload(dst, e)
		}
		return append(dst, 0)
	}
	return dst // null: the rank alone
}

// appendString appends s with each 0x00 escaped as 0x00 0xFF, ended by
// 0x00 0x00: bytewise order of the encodings is the order of the strings.
func appendString(dst []byte, s string) []byte {
	for {
		i := bytesIndexZero(s)
		if i < 0 {
			break
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, 0, 0xff)
		s = s[i+1:]
	}
	dst = append(dst, s...)
	return append(dst, 0, 0)
}

func bytesIndexZero(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return i
		}
	}
	return -1
}

// appendNumber appends a number as 10 bytes: the order-preserving bits of
// f (the number rounded to a float64; NaN lowest), then, for an int64 i,
// the exact difference i - f (|i - f| <= 1024) biased to an unsigned
// 16-bit value, which orders integers rounding to the same float64 and
// equates an integer with the float64 denoting the same number.
func appendNumber(dst []byte, f float64, i int64, isInt bool) []byte {
	var u uint64
	switch {
	case math.IsNaN(f):
		u = 0
	default:
		if f == 0 {
			f = 0 // -0 == 0
		}
		u = math.Float64bits(f)
		if u&(1<<63) != 0 {
			u = ^u
		} else {
			u |= 1 << 63
		}
	}
	dst = binary.BigEndian.AppendUint64(dst, u)
	var diff int64
	if isInt {
		if f >= 1<<63 {
			// float64(i) rounded up to 2^63, outside int64: i - 2^63.
			diff = i - math.MaxInt64 - 1
		} else {
			diff = i - int64(f)
		}
	}
	return binary.BigEndian.AppendUint16(dst, uint16(diff+1<<15))
}

// Less reports whether a sorts before b.
func Less(a, b any) bool { return Compare(a, b) < 0 }

// Sort sorts vs in Compare's order, stably.
func Sort(vs []any) { slices.SortStableFunc(vs, Compare) }
