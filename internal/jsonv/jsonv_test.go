package jsonv

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/limp-go/limp/internal/oid"
)

func TestParseKinds(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`1`, int64(1)},
		{`-0`, int64(0)},
		{`1.0`, 1.0},
		{`1e3`, 1000.0},
		{`true`, true},
		{`null`, nil},
		{`"a\u00e9\ud83d\ude00"`, "aé😀"},
		{`"\ud800x"`, "\ufffdx"},
		{`[1,"x",[]]`, []any{int64(1), "x", []any{}}},
		{`{"a":1,"a":2}`, map[string]any{"a": int64(2)}},
		{`9223372036854775808`, 9223372036854775808.0},
		{" \n{\"k\" : [ 1.5 ] } ", map[string]any{"k": []any{1.5}}},
	}
	for _, tt := range tests {
		got, err := Parse([]byte(tt.in))
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%s) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseOrderedKeepsKeyOrder(t *testing.T) {
	v, err := ParseOrdered([]byte(`{"z":1,"a":{"y":1,"b":2},"z":3}`))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(Object)
	if got := strings.Join(o.Keys(), ","); got != "z,a" {
		t.Fatalf("keys = %s", got)
	}
	if z, _ := o.Get("z"); z != int64(3) {
		t.Fatalf("z = %v", z)
	}
	inner, _ := o.Get("a")
	if got := strings.Join(inner.(Object).Keys(), ","); got != "y,b" {
		t.Fatalf("inner keys = %s", got)
	}
	b, _ := Marshal(o)
	if string(b) != `{"z":3,"a":{"y":1,"b":2}}` {
		t.Fatalf("Marshal = %s", b)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{``, `{`, `[1,]`, `{"a"}`, `01`, `1.`, `-`, `"\x"`, "\"\x01\"", `tru`, `1 2`, `{"a":1,}`, `1e999`, `"abc`} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	if _, err := Parse([]byte(deep)); !errors.Is(err, ErrTooDeep) {
		t.Errorf("deep input: %v", err)
	}
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
}

func TestMarshal(t *testing.T) {
	id := oid.MustParse("f00000000000000000000012")
	tests := []struct {
		in   any
		want string
	}{
		{1.0, `1.0`},
		{0.5, `0.5`},
		{1e16, `1e+16`},
		{1e-5, `1e-05`},
		{123456789.125, `123456789.125`},
		{int64(-3), `-3`},
		{id, `"f00000000000000000000012"`},
		{map[string]any{"b": []any{true, nil}, "a": "x\"\n\u2028"}, `{"a":"x\"\n\u2028","b":[true,null]}`},
		{"\xff", `"` + "\ufffd" + `"`},
		{struct {
			A int `json:"a"`
		}{1}, `{"a":1}`},
	}
	for _, tt := range tests {
		got, err := Marshal(tt.in)
		if err != nil {
			t.Errorf("Marshal(%#v): %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Marshal(%#v) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if _, err := Marshal(math.NaN()); err == nil {
		t.Error("NaN accepted")
	}
}

// FuzzParse checks the decoder never panics, agrees with encoding/json on
// what is valid, and that what it decodes survives an encode/decode cycle.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x",null,true]}`, `"\ud83d\ude00"`, `[[[]]]`, `-0.0e+1`, `{"":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		stdErr := json.Unmarshal(data, new(any))
		if (err == nil) != (stdErr == nil) && !errors.Is(err, ErrTooDeep) {
			// encoding/json accepts numbers beyond float64 range as errors too;
			// the two must agree on validity otherwise.
			t.Fatalf("validity differs on %q: jsonv %v, encoding/json %v", data, err, stdErr)
		}
		if err != nil {
			return
		}
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal of decoded %q: %v", data, err)
		}
		v2, err := Parse(b)
		if err != nil {
			t.Fatalf("re-Parse of %s: %v", b, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip changed %q: %#v vs %#v", data, v, v2)
		}
	})
}

func TestOrderedDuplicateKeysLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 40 {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	b.WriteString(`"k3":"last","k39":"again"}`)
	v, err := ParseOrdered([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(Object)
	if len(o) != 40 || o[3].Key != "k3" || o[3].Value != "last" || o[39].Value != "again" {
		t.Fatalf("dedupe of a large object: len %d, o[3]=%v o[39]=%v", len(o), o[3], o[39])
	}
}

// A frame of many keys parses in linear time (no quadratic dedupe).
func TestOrderedManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 200000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":1`, i)
	}
	b.WriteString("}")
	v, err := ParseOrdered([]byte(b.String()))
	if err != nil || len(v.(Object)) != 200000 {
		t.Fatalf("got %v", err)
	}
}
