// Package jsonv decodes and encodes JSON as plain Go values with the
// distinctions LIMP's semantics depend on and encoding/json loses:
//
//   - numbers keep their lexical kind: an integer literal decodes to int64,
//     a literal with a fraction or exponent to float64 (`1` vs `1.0`);
//   - objects can keep their key order ([Object]), which `$sort` needs.
//
// Decoded values are nil, bool, int64, float64, string, []any and either
// map[string]any or [Object]. The encoder accepts those plus [oid.ID],
// [Object], json.Marshaler and, as a fallback, anything encoding/json takes.
package jsonv

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects accepted by the decoder.
const MaxDepth = 256

// Member is one key/value pair of an ordered [Object].
type Member struct {
	Key   string
	Value any
}

// Object is a JSON object that keeps its key order. A repeated key keeps its
// first position and its last value, as in Python and JavaScript.
type Object []Member

// Get returns the value of key k.
func (o Object) Get(k string) (any, bool) {
	for _, m := range o {
		if m.Key == k {
			return m.Value, true
		}
	}
	return nil, false
}

// Keys returns the keys in order.
func (o Object) Keys() []string {
	ks := make([]string, len(o))
	for i, m := range o {
		ks[i] = m.Key
	}
	return ks
}

// SyntaxError is a malformed-JSON error with the byte offset where decoding
// stopped.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

// ErrTooDeep is wrapped by the error for input nested deeper than MaxDepth.
var ErrTooDeep = errors.New("nested too deep")

// Parse decodes exactly one JSON value from data (surrounding whitespace
// allowed). Objects decode to map[string]any.
func Parse(data []byte) (any, error) {
	d := decoder{data: data}
	return d.top()
}

// ParseOrdered is Parse with objects decoded to [Object].
func ParseOrdered(data []byte) (any, error) {
	d := decoder{data: data, ordered: true}
	return d.top()
}

type decoder struct {
	data    []byte
	pos     int
	depth   int
	ordered bool
	// maxDepth bounds nesting (MaxDepth when 0); maxValues, when > 0,
	// bounds object members plus array elements, counted in values.
	maxDepth, maxValues, values int
}

// Limits bound what one document may hold, checked while it is decoded,
// before the value is built: MaxValues counts object members and array
// elements together (0: no bound), MaxDepth the nesting of objects and
// arrays (0 or more than the package's MaxDepth: MaxDepth).
type Limits struct {
	MaxValues, MaxDepth int
}

// ErrTooMany is wrapped by the error for input holding more values than
// Limits.MaxValues.
var ErrTooMany = errors.New("too many values")

// ParseLimited is Parse within l; input past a limit fails with an error
// wrapping ErrTooMany or ErrTooDeep as soon as the limit is reached.
func ParseLimited(data []byte, l Limits) (any, error) {
	d := decoder{data: data, maxDepth: l.MaxDepth, maxValues: l.MaxValues}
	return d.top()
}

// ParseOrderedLimited is ParseOrdered within l (see ParseLimited).
func ParseOrderedLimited(data []byte, l Limits) (any, error) {
	d := decoder{data: data, ordered: true, maxDepth: l.MaxDepth, maxValues: l.MaxValues}
	return d.top()
}

// count counts one member or element against maxValues.
func (d *decoder) count() error {
	if d.maxValues <= 0 {
		return nil
	}
	d.values++
	if d.values > d.maxValues {
		return fmt.Errorf("invalid JSON at offset %d: %w (more than %d keys and elements)", d.pos, ErrTooMany, d.maxValues)
	}
	return nil
}

func (d *decoder) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: d.pos, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) top() (any, error) {
	d.skipSpace()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, d.errorf("unexpected data after the value")
	}
	return v, nil
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.errorf("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.string()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	default:
		return nil, d.errorf("unexpected character %q", c)
	}
}

func (d *decoder) literal(lit string) error {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return d.errorf("invalid literal")
	}
	d.pos += len(lit)
	return nil
}

func (d *decoder) enter() error {
	d.depth++
	limit := MaxDepth
	if d.maxDepth > 0 && d.maxDepth < MaxDepth {
		limit = d.maxDepth
	}
	if d.depth > limit {
		return fmt.Errorf("invalid JSON at offset %d: %w (more than %d levels)", d.pos, ErrTooDeep, limit)
	}
	return nil
}

func (d *decoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // {
	var m map[string]any
	var o Object
	var index map[string]int // key positions of a large ordered object
	if d.ordered {
		o = make(Object, 0, 8)
	} else {
		m = map[string]any{}
	}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		if d.ordered {
			return o, nil
		}
		return m, nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.errorf("expected a string key")
		}
		if err := d.count(); err != nil {
			return nil, err
		}
		k, err := d.string()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.errorf("expected ':' after key")
		}
		d.pos++
		d.skipSpace()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		if d.ordered {
			// A repeated key keeps its first position and its last
			// value. Small objects are scanned; large ones indexed, so
			// a frame of many keys costs linear time.
			i := -1
			if index != nil {
				if j, ok := index[k]; ok {
					i = j
				}
			} else {
				for j := range o {
					if o[j].Key == k {
						i = j
						break
					}
				}
			}
			if i >= 0 {
				o[i].Value = v
			} else {
				o = append(o, Member{Key: k, Value: v})
				if index != nil {
					index[k] = len(o) - 1
				} else if len(o) > 16 {
					index = make(map[string]int, 32)
					for j, mem := range o {
						index[mem.Key] = j
					}
				}
			}
		} else {
			m[k] = v
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.errorf("unexpected end of input in object")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			d.depth--
			if d.ordered {
				return o, nil
			}
			return m, nil
		default:
			return nil, d.errorf("expected ',' or '}' in object")
		}
	}
}

func (d *decoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // [
	a := []any{}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return a, nil
	}
	for {
		d.skipSpace()
		if err := d.count(); err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.errorf("unexpected end of input in array")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			d.depth--
			return a, nil
		default:
			return nil, d.errorf("expected ',' or ']' in array")
		}
	}
}

func (d *decoder) number() (any, error) {
	start := d.pos
	isFloat := false
	if d.data[d.pos] == '-' {
		d.pos++
	}
	if d.pos >= len(d.data) {
		return nil, d.errorf("invalid number")
	}
	switch c := d.data[d.pos]; {
	case c == '0':
		d.pos++
	case '1' <= c && c <= '9':
		for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
			d.pos++
		}
	default:
		return nil, d.errorf("invalid number")
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		isFloat = true
		d.pos++
		n := d.pos
		for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
			d.pos++
		}
		if d.pos == n {
			return nil, d.errorf("invalid number: no digits after '.'")
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		isFloat = true
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		n := d.pos
		for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
			d.pos++
		}
		if d.pos == n {
			return nil, d.errorf("invalid number: no digits in exponent")
		}
	}
	lit := string(d.data[start:d.pos])
	if !isFloat {
		if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return n, nil
		}
		// Integers beyond int64 are kept as the nearest float.
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, d.errorf("number %s out of range", lit)
	}
	return f, nil
}

// string decodes a JSON string at d.pos. Invalid UTF-8 is replaced with
// U+FFFD, as encoding/json does.
// interned are common keys and values of LIMP frames, returned without
// allocating.
var interned = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"token", "call_id", "endpoint", "sid", "query", "doc", "awaitAuth", "iat", "exp", "nbf",
		"_id", "user", "status", "title", "create_time", "hash", "app", "ar_AE", "en_AE", "$limit", "$skip", "$sort",
		"$search", "$attrs", "$extn", "$group", "heart/beat", "f00000000000000000000012", "__ANON_TOKEN_f00000000000000000000012"} {
		m[k] = k
	}
	return m
}()

const maxInterned = 48

func (d *decoder) string() (string, error) {
	d.pos++ // opening quote
	start := d.pos
	// Fast path: no escapes, plain ASCII or valid UTF-8.
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		if c == '"' {
			s := d.data[start:d.pos]
			d.pos++
			if len(s) <= maxInterned {
				if k, ok := interned[string(s)]; ok { // no allocation
					return k, nil
				}
			}
			if utf8.Valid(s) {
				return string(s), nil
			}
			return string([]rune(string(s))), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.pos++
	}
	buf := make([]byte, 0, d.pos-start+16)
	buf = append(buf, d.data[start:d.pos]...)
	for {
		if d.pos >= len(d.data) {
			return "", d.errorf("unterminated string")
		}
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			if utf8.Valid(buf) {
				return string(buf), nil
			}
			return string([]rune(string(buf))), nil
		case c < 0x20:
			return "", d.errorf("control character in string")
		case c == '\\':
			d.pos++
			if d.pos >= len(d.data) {
				return "", d.errorf("unterminated escape")
			}
			e := d.data[d.pos]
			d.pos++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", d.errorf("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(utf8.RuneError)
					if d.pos+1 < len(d.data) && d.data[d.pos] == '\\' && d.data[d.pos+1] == 'u' {
						save := d.pos
						d.pos += 2
						lo, ok := d.hex4()
						if ok {
							if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
								r2 = dec
							} else {
								d.pos = save
							}
						} else {
							return "", d.errorf("invalid \\u escape")
						}
					}
					r = r2
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", d.errorf("invalid escape '\\%c'", e)
			}
		default:
			buf = append(buf, c)
			d.pos++
		}
	}
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.data)-d.pos < 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := d.data[d.pos+i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.pos += 4
	return r, true
}
