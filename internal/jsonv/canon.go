package jsonv

import (
	"bytes"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Canon recognises canonical JSON text: exactly the bytes Append writes
// for the value Parse decodes from it. Such text can go to the wire as it
// is, with no decoding and re-encoding in between (the read path's
// streaming of stored documents). Canonical means:
//
//   - no whitespace;
//   - object keys strictly ascending byte-wise (so none repeated), with
//     no escapes;
//   - strings of valid UTF-8 without a raw U+2028 or U+2029, escaped only
//     as AppendString escapes: \" \\ \n \r \t, \u00xx (lower-case hex)
//     for the other control characters, \u2028 and \u2029;
//   - integers as strconv writes an int64 (no -0, none beyond int64);
//     floats as AppendFloat writes them (1.0, 1e+16, -0.0);
//   - nesting within MaxDepth.
//
// Anything else is reported as not canonical, never as an error: the
// caller then takes the general path (Parse, then Append), which reports
// malformed text. FuzzCanon checks that Append(Parse(text)) == text for
// whatever Canon accepts.
type Canon struct {
	// HexUpper is set when a string value of 24 hex digits with an
	// upper-case one was seen: oid.Parse accepts it, and an oid.ID
	// encodes in lower case, so where such a string is an ID the
	// general path writes it differently.
	HexUpper bool
	depth    int
}

// Span locates one member of an object in its text: the key's bytes
// (without quotes) are text[KeyStart:KeyEnd], the value's
// text[ValStart:ValEnd].
type Span struct {
	KeyStart, KeyEnd, ValStart, ValEnd int
}

// Object checks that text is one canonical object and appends its
// members' spans to dst, in order.
func (c *Canon) Object(text []byte, dst []Span) ([]Span, bool) {
	if len(text) < 2 || text[0] != '{' {
		return dst, false
	}
	c.depth = 1
	if text[1] == '}' {
		return dst, len(text) == 2
	}
	var prev []byte
	i := 1
	for {
		ks := i + 1
		ke, ok := c.key(text, i)
		if !ok || (prev != nil && bytes.Compare(prev, text[ks:ke]) >= 0) {
			return dst, false
		}
		prev = text[ks:ke]
		if ke+1 >= len(text) || text[ke+1] != ':' {
			return dst, false
		}
		vs := ke + 2
		ve, ok := c.Value(text, vs)
		if !ok || ve >= len(text) {
			return dst, false
		}
		dst = append(dst, Span{KeyStart: ks, KeyEnd: ke, ValStart: vs, ValEnd: ve})
		switch text[ve] {
		case ',':
			i = ve + 1
		case '}':
			return dst, ve+1 == len(text)
		default:
			return dst, false
		}
	}
}

// Value checks the canonical value starting at text[i] and returns the
// index after it.
func (c *Canon) Value(text []byte, i int) (int, bool) {
	if i >= len(text) {
		return i, false
	}
	switch ch := text[i]; {
	case ch == '"':
		return c.str(text, i, false)
	case ch == '{':
		return c.object(text, i)
	case ch == '[':
		return c.array(text, i)
	case ch == 't':
		return literalAt(text, i, "true")
	case ch == 'f':
		return literalAt(text, i, "false")
	case ch == 'n':
		return literalAt(text, i, "null")
	case ch == '-' || '0' <= ch && ch <= '9':
		return numberAt(text, i)
	}
	return i, false
}

func literalAt(text []byte, i int, lit string) (int, bool) {
	if len(text)-i < len(lit) || string(text[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

func (c *Canon) enter() bool {
	c.depth++
	return c.depth <= MaxDepth
}

func (c *Canon) object(text []byte, i int) (int, bool) {
	if !c.enter() {
		return i, false
	}
	i++
	if i < len(text) && text[i] == '}' {
		c.depth--
		return i + 1, true
	}
	var prev []byte
	for {
		ks := i + 1
		ke, ok := c.key(text, i)
		if !ok || (prev != nil && bytes.Compare(prev, text[ks:ke]) >= 0) {
			return i, false
		}
		prev = text[ks:ke]
		if ke+1 >= len(text) || text[ke+1] != ':' {
			return i, false
		}
		ve, ok := c.Value(text, ke+2)
		if !ok || ve >= len(text) {
			return i, false
		}
		switch text[ve] {
		case ',':
			i = ve + 1
		case '}':
			c.depth--
			return ve + 1, true
		default:
			return i, false
		}
	}
}

func (c *Canon) array(text []byte, i int) (int, bool) {
	if !c.enter() {
		return i, false
	}
	i++
	if i < len(text) && text[i] == ']' {
		c.depth--
		return i + 1, true
	}
	for {
		ve, ok := c.Value(text, i)
		if !ok || ve >= len(text) {
			return i, false
		}
		switch text[ve] {
		case ',':
			i = ve + 1
		case ']':
			c.depth--
			return ve + 1, true
		default:
			return i, false
		}
	}
}

// key checks a key at text[i] (a string without escapes) and returns the
// index of its closing quote.
func (c *Canon) key(text []byte, i int) (int, bool) {
	end, ok := c.str(text, i, true)
	return end - 1, ok
}

// str checks the string at text[i] and returns the index after its
// closing quote; key strings may hold no escape.
func (c *Canon) str(text []byte, i int, key bool) (int, bool) {
	if i >= len(text) || text[i] != '"' {
		return i, false
	}
	start := i + 1
	i = start
	hex, upper := true, false
	for i < len(text) {
		ch := text[i]
		switch {
		case ch == '"':
			if !key && hex && upper && i-start == 24 {
				c.HexUpper = true
			}
			return i + 1, true
		case ch < 0x20:
			return i, false
		case ch == '\\':
			if key || i+1 >= len(text) {
				return i, false
			}
			hex = false
			switch text[i+1] {
			case '"', '\\', 'n', 'r', 't':
				i += 2
				continue
			case 'u':
				if len(text)-i < 6 || !canonU(text[i+2:i+6]) {
					return i, false
				}
				i += 6
				continue
			}
			return i, false
		case ch < utf8.RuneSelf:
			switch {
			case '0' <= ch && ch <= '9', 'a' <= ch && ch <= 'f':
			case 'A' <= ch && ch <= 'F':
				upper = true
			default:
				hex = false
			}
			i++
		default:
			hex = false
			r, size := utf8.DecodeRune(text[i:])
			if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
				return i, false
			}
			i += size
		}
	}
	return i, false
}

// canonU reports whether the 4 hex digits of a \u escape are one
// AppendString writes: 00xx (lower case) for a control character other
// than \n, \r and \t, 2028 or 2029.
func canonU(h []byte) bool {
	if string(h) == "2028" || string(h) == "2029" {
		return true
	}
	if h[0] != '0' || h[1] != '0' || (h[2] != '0' && h[2] != '1') {
		return false
	}
	d := h[3]
	var v byte
	switch {
	case '0' <= d && d <= '9':
		v = d - '0'
	case 'a' <= d && d <= 'f':
		v = d - 'a' + 10
	default:
		return false
	}
	v += (h[2] - '0') << 4
	return v != '\n' && v != '\r' && v != '\t'
}

// numberAt checks the number at text[i]: it must read back as Append
// writes it.
func numberAt(text []byte, i int) (int, bool) {
	start := i
	isFloat := false
	if text[i] == '-' {
		i++
	}
	if i >= len(text) {
		return i, false
	}
	switch ch := text[i]; {
	case ch == '0':
		i++
	case '1' <= ch && ch <= '9':
		for i < len(text) && '0' <= text[i] && text[i] <= '9' {
			i++
		}
	default:
		return i, false
	}
	if i < len(text) && text[i] == '.' {
		isFloat = true
		i++
		n := i
		for i < len(text) && '0' <= text[i] && text[i] <= '9' {
			i++
		}
		if i == n {
			return i, false
		}
	}
	if i < len(text) && (text[i] == 'e' || text[i] == 'E') {
		isFloat = true
		i++
		if i < len(text) && (text[i] == '+' || text[i] == '-') {
			i++
		}
		n := i
		for i < len(text) && '0' <= text[i] && text[i] <= '9' {
			i++
		}
		if i == n {
			return i, false
		}
	}
	lit := text[start:i]
	if !isFloat {
		digits := len(lit)
		if lit[0] == '-' {
			digits--
		}
		switch {
		case string(lit) == "-0":
			return i, false // decodes to 0
		case digits <= 18:
			return i, true // an int64, written back as it is
		}
	}
	// unsafe.String: the parsers keep no reference past the call that
	// matters (an error's copy is dropped).
	s := unsafe.String(&lit[0], len(lit))
	var buf [32]byte
	var out []byte
	if !isFloat {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return i, false // beyond int64: decoded as a float
		}
		out = strconv.AppendInt(buf[:0], n, 10)
	} else {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return i, false
		}
		if out, err = AppendFloat(buf[:0], f); err != nil {
			return i, false
		}
	}
	return i, bytes.Equal(out, lit)
}
