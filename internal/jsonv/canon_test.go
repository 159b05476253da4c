package jsonv

import (
	"bytes"
	"testing"
)

func TestCanon(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{}`, true},
		{`{"a":1,"b":[1,2.5,-3,"x",null,true,false,{}],"c":{"d":"e"}}`, true},
		{`{"b":1,"a":2}`, false},              // keys out of order
		{`{"a":1,"a":2}`, false},              // repeated key
		{`{"a": 1}`, false},                   // whitespace
		{`{"a":1.50}`, false},                 // float written 1.5
		{`{"a":1e5}`, false},                  // float written 100000.0
		{`{"a":1.0}`, true},                   //
		{`{"a":1e+16}`, true},                 //
		{`{"a":-0}`, false},                   // int 0
		{`{"a":-0.0}`, true},                  //
		{`{"a":12345678901234567890}`, false}, // beyond int64
		{`{"a":-9223372036854775808}`, true},
		{`{"a":"\/"}`, false},     // escape AppendString does not write
		{`{"a":"\u0041"}`, false}, // likewise
		{`{"a":"\b"}`, false},     // written \u0008
		{`{"a":"\u0008\n\"\\"}`, true},
		{`{"a":"\u001F"}`, false}, // upper-case hex
		{`{"a":"\u2028"}`, true},
		{"{\"a\":\"\u2028\"}", false}, // raw U+2028 is escaped
		{"{\"a\":\"\xff\"}", false},   // invalid UTF-8 becomes U+FFFD
		{`{"a":"تدوينة"}`, true},
		{`{"a\"":1}`, false}, // escaped key
		{`{"a":1}x`, false},
		{`[1]`, false}, // Object wants an object
	}
	for _, tt := range tests {
		var c Canon
		spans, ok := c.Object([]byte(tt.in), nil)
		if ok != tt.want {
			t.Errorf("Object(%s) = %t, want %t", tt.in, ok, tt.want)
		}
		if ok {
			checkRoundTrip(t, []byte(tt.in))
			if len(spans) == 0 && tt.in != `{}` {
				t.Errorf("Object(%s): no spans", tt.in)
			}
		}
	}
	var c Canon
	if _, ok := c.Object([]byte(`{"a":"6B0CCD925ED13203EE06E3DD","b":"6b0ccd925ed13203ee06e3dd"}`), nil); !ok || !c.HexUpper {
		t.Errorf("HexUpper not set: %t %t", ok, c.HexUpper)
	}
	c = Canon{}
	if _, ok := c.Object([]byte(`{"a":"6b0ccd925ed13203ee06e3dd","B":"x"}`), nil); ok || c.HexUpper {
		t.Errorf("lower-case id: ok %t (keys out of order), HexUpper %t", ok, c.HexUpper)
	}
}

func checkRoundTrip(t *testing.T, in []byte) {
	t.Helper()
	v, err := Parse(in)
	if err != nil {
		t.Fatalf("Canon accepted %q, Parse fails: %v", in, err)
	}
	out, err := Append(nil, v)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("Canon accepted %q, Append(Parse) = %q (%v)", in, out, err)
	}
}

// FuzzCanon: whatever Canon accepts, Append(Parse(text)) writes back
// byte for byte, and the spans of Object are the object's members; what
// Append writes (without escapes) Canon accepts.
func FuzzCanon(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":[1,2.5,"x",null,{"c":true}]}`, `{"a":"\u0008\n"}`, `{"a":1e+16,"b":-0.0}`,
		`{"t":{"ar_AE":"تدوينة","en_AE":"Post"}}`, `[1,2]`, `"x"`, `{"a":{"b":{"c":[[]]}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var c Canon
		end, ok := c.Value(in, 0)
		if ok && end == len(in) {
			checkRoundTrip(t, in)
		}
		var c2 Canon
		spans, ok := c2.Object(in, nil)
		if ok {
			checkRoundTrip(t, in)
			v, _ := Parse(in)
			m := v.(map[string]any)
			if len(spans) != len(m) {
				t.Fatalf("%q: %d spans, %d members", in, len(spans), len(m))
			}
			for _, s := range spans {
				val, err := Parse(in[s.ValStart:s.ValEnd])
				if err != nil {
					t.Fatalf("%q: span %v: %v", in, s, err)
				}
				a, _ := Append(nil, val)
				b, _ := Append(nil, m[string(in[s.KeyStart:s.KeyEnd])])
				if !bytes.Equal(a, b) {
					t.Fatalf("%q: span %v is %q, member is %q", in, s, a, b)
				}
			}
		}
		// Completeness: Append's own output is canonical (escaped keys
		// aside, which Canon refuses).
		if v, err := Parse(in); err == nil {
			out, err := Append(nil, v)
			if err == nil && !bytes.Contains(out, []byte(`\`)) {
				var c3 Canon
				if end, ok := c3.Value(out, 0); !ok || end != len(out) {
					t.Fatalf("Append wrote %q, Canon refuses it", out)
				}
			}
		}
	})
}
