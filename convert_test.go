package limp

import (
	"errors"
	"strings"
	"testing"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
)

func f64(f float64) *float64 { return &f }

var testCC = &convertCtx{locales: []string{"ar_AE", "en_AE"}, locale: "ar_AE", types: map[string]TypeFunc{
	"even": func(v any) (any, error) {
		n, ok := v.(int64)
		if !ok || n%2 != 0 {
			return nil, errors.New("expected an even integer")
		}
		return n, nil
	},
}}

func mustCheck(t *testing.T, a *Attr) *Attr {
	t.Helper()
	if err := a.check(); err != nil {
		t.Fatalf("check %+v: %v", a, err)
	}
	return a
}

// TestConvert runs every attr type against good values (with the stored
// form) and bad ones (with the code).
func TestConvert(t *testing.T) {
	type tc struct {
		in   string // JSON
		want string // JSON of the stored value, or the error code
	}
	cases := []struct {
		name string
		attr *Attr
		tcs  []tc
	}{
		{"ID", &Attr{Type: TypeID}, []tc{
			{`"5e1d1e0c0a1b2c3d4e5f6071"`, `"5e1d1e0c0a1b2c3d4e5f6071"`},
			{`"xyz"`, CodeConvertInvalidAttr}, {`12`, CodeInvalidAttr}, {`null`, CodeMissingAttr}}},
		{"STR pattern", &Attr{Type: TypeStr, Pattern: "[a-z]+"}, []tc{
			{`"abc"`, `"abc"`}, {`"ab1"`, CodeInvalidAttr}, {`1`, CodeInvalidAttr}, {`true`, CodeInvalidAttr}}},
		{"STR length", &Attr{Type: TypeStr, Min: f64(2), Max: f64(3)}, []tc{
			{`"ab"`, `"ab"`}, {`"أبج"`, `"أبج"`}, {`"a"`, CodeInvalidAttr}, {`"abcd"`, CodeInvalidAttr}}},
		{"INT", &Attr{Type: TypeInt, Min: f64(0), Max: f64(10)}, []tc{
			{`1`, `1`}, {`"7"`, `7`}, {`0`, `0`}, {`10`, `10`},
			{`-1`, CodeInvalidAttr}, {`11`, CodeInvalidAttr}, {`1.0`, CodeInvalidAttr}, {`true`, CodeInvalidAttr},
			{`"1x"`, CodeConvertInvalidAttr}, {`"99999999999999999999"`, CodeConvertInvalidAttr}}},
		{"FLOAT", &Attr{Type: TypeFloat, Min: f64(0.5), Max: f64(1.5)}, []tc{
			{`1.0`, `1.0`}, {`1`, `1.0`}, {`"1.25"`, `1.25`}, {`0.4`, CodeInvalidAttr}, {`1.6`, CodeInvalidAttr}, {`false`, CodeInvalidAttr}}},
		{"BOOL", &Attr{Type: TypeBool}, []tc{{`true`, `true`}, {`1`, CodeInvalidAttr}, {`"true"`, CodeInvalidAttr}}},
		{"LOCALE", &Attr{Type: TypeLocale}, []tc{
			{`{"ar_AE":"a"}`, `{"ar_AE":"a","en_AE":"a"}`}, {`{"ar_AE":"a","en_AE":"b"}`, `{"ar_AE":"a","en_AE":"b"}`},
			{`{"en_AE":"b"}`, CodeMissingAttr}, {`{"ar_AE":"a","fr_FR":"x"}`, CodeInvalidAttr}, {`{"ar_AE":1}`, CodeInvalidAttr}, {`"a"`, CodeInvalidAttr}}},
		{"LOCALES", &Attr{Type: TypeLocales}, []tc{{`"en_AE"`, `"en_AE"`}, {`"fr_FR"`, CodeInvalidAttr}}},
		{"EMAIL", &Attr{Type: TypeEmail, Domains: []string{"example.com"}, BlockedDomains: []string{"spam.example.com"}}, []tc{
			{`"a@example.com"`, `"a@example.com"`}, {`"a@mail.example.com"`, `"a@mail.example.com"`},
			{`"a@other.com"`, CodeInvalidAttr}, {`"a@spam.example.com"`, CodeInvalidAttr}, {`"not-an-email"`, CodeInvalidAttr}}},
		{"PHONE", &Attr{Type: TypePhone, Codes: []string{"971"}}, []tc{
			{`"+971501234567"`, `"+971501234567"`}, {`"+14155550100"`, CodeInvalidAttr}, {`"0501234567"`, CodeInvalidAttr}, {`"+97"`, CodeInvalidAttr}}},
		{"IP", &Attr{Type: TypeIP}, []tc{{`"10.0.0.1"`, `"10.0.0.1"`}, {`"::1"`, `"::1"`}, {`"10.0.0.256"`, CodeInvalidAttr}}},
		{"URI_WEB", &Attr{Type: TypeURIWeb, Domains: []string{"example.com"}}, []tc{
			{`"https://www.example.com/a?b=c"`, `"https://www.example.com/a?b=c"`},
			{`"https://evil.com/"`, CodeInvalidAttr}, {`"ftp://example.com/"`, CodeInvalidAttr}, {`"javascript:alert(1)"`, CodeInvalidAttr}}},
		{"DATETIME", &Attr{Type: TypeDatetime, Ranges: [][2]string{{"2020-01-01T00:00", "2020-12-31T23:59:59"}}}, []tc{
			{`"2020-05-01T10:00:00"`, `"2020-05-01T10:00:00"`},
			{`"2020-05-01T14:00:00+04:00"`, `"2020-05-01T10:00:00.000000"`},
			{`"2020-05-01T10:00:00Z"`, `"2020-05-01T10:00:00.000000"`},
			{`"2021-01-01T00:00:00"`, CodeInvalidAttr}, {`"2020-13-01T00:00"`, CodeInvalidAttr}, {`"yesterday"`, CodeInvalidAttr}}},
		{"DATE", &Attr{Type: TypeDate}, []tc{{`"2020-02-29"`, `"2020-02-29"`}, {`"2021-02-29"`, CodeInvalidAttr}, {`"2020-2-1"`, CodeInvalidAttr}}},
		{"TIME", &Attr{Type: TypeTime, Ranges: [][2]string{{"08:00", "17:00"}}}, []tc{
			{`"09:30"`, `"09:30"`}, {`"12:30+04:00"`, `"08:30:00"`}, {`"18:00"`, CodeInvalidAttr}, {`"25:00"`, CodeInvalidAttr}}},
		{"LIST", &Attr{Type: TypeList, Items: []*Attr{{Type: TypeStr}}, Min: f64(1), Max: f64(2)}, []tc{
			{`["a"]`, `["a"]`}, {`[]`, CodeInvalidAttr}, {`["a","b","c"]`, CodeInvalidAttr}, {`["a",1]`, CodeInvalidAttr}, {`"a"`, CodeInvalidAttr}}},
		{"LIST of ID", &Attr{Type: TypeList, Items: []*Attr{{Type: TypeID}}}, []tc{
			{`["5e1d1e0c0a1b2c3d4e5f6071"]`, `["5e1d1e0c0a1b2c3d4e5f6071"]`}, {`["nope"]`, CodeConvertInvalidAttr}}},
		{"typed DICT", &Attr{Type: TypeDict, Fields: []*Attr{{Name: "a", Type: TypeInt}, {Name: "b", Type: TypeStr, Optional: true}}}, []tc{
			{`{"a":1}`, `{"a":1}`}, {`{"a":1,"b":"x"}`, `{"a":1,"b":"x"}`}, {`{"b":"x"}`, CodeMissingAttr},
			{`{"a":1,"c":2}`, CodeInvalidAttr}, {`{"a":"x"}`, CodeConvertInvalidAttr}}},
		{"kv DICT", &Attr{Type: TypeDict, Val: &Attr{Type: TypeInt}, Required: []string{"x"}, Max: f64(2)}, []tc{
			{`{"x":1}`, `{"x":1}`}, {`{"y":1}`, CodeMissingAttr}, {`{"x":1,"y":2,"z":3}`, CodeInvalidAttr}, {`{"x":1.5}`, CodeInvalidAttr}}},
		{"LITERAL", &Attr{Type: TypeLiteral, Literal: []any{"a", int64(1)}}, []tc{{`"a"`, `"a"`}, {`1`, `1`}, {`1.0`, CodeInvalidAttr}, {`"b"`, CodeInvalidAttr}}},
		{"UNION", &Attr{Type: TypeUnion, Items: []*Attr{{Type: TypeInt}, {Type: TypeID}}}, []tc{
			{`3`, `3`}, {`"5e1d1e0c0a1b2c3d4e5f6071"`, `"5e1d1e0c0a1b2c3d4e5f6071"`}, {`true`, CodeInvalidAttr}}},
		{"ACCESS", &Attr{Type: TypeAccess}, []tc{
			{`{"anon":false,"users":["5e1d1e0c0a1b2c3d4e5f6071"],"groups":[]}`, `{"anon":false,"groups":[],"users":["5e1d1e0c0a1b2c3d4e5f6071"]}`},
			{`{"anon":1,"users":[],"groups":[]}`, CodeInvalidAttr}, {`{"anon":true}`, CodeInvalidAttr}}},
		{"GEO", &Attr{Type: TypeGeo}, []tc{
			{`{"coordinates":[55,25.5],"type":"Point"}`, `{"coordinates":[55.0,25.5],"type":"Point"}`},
			{`{"type":"Point","coordinates":[55]}`, CodeInvalidAttr}, {`{"type":"Line","coordinates":[1,2]}`, CodeInvalidAttr}}},
		{"TYPE", &Attr{Type: TypeCustom, Custom: "even"}, []tc{{`4`, `4`}, {`3`, CodeInvalidAttr}}},
		{"validate tag", &Attr{Type: TypeStr, Validate: "oneof=draft published"}, []tc{{`"draft"`, `"draft"`}, {`"x"`, CodeInvalidAttr}}},
		{"optional", &Attr{Type: TypeStr, Optional: true}, []tc{{`null`, `null`}, {`"a"`, `"a"`}}},
	}
	for _, c := range cases {
		mustCheck(t, c.attr)
		for _, x := range c.tcs {
			v, err := jsonv.Parse([]byte(x.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.attr.convert(testCC, v, "attr")
			if strings.HasPrefix(x.want, "MISSING") || strings.HasPrefix(x.want, "INVALID") || strings.HasPrefix(x.want, "CONVERT") {
				var ae *attrError
				if !errors.As(err, &ae) || ae.code() != x.want {
					t.Errorf("%s: convert(%s) = %v, %v; want %s", c.name, x.in, got, err, x.want)
				} else if !strings.Contains(ae.Error(), "'attr") {
					t.Errorf("%s: error %q does not name the path", c.name, ae.Error())
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: convert(%s): %v", c.name, x.in, err)
				continue
			}
			b, _ := jsonv.Marshal(got)
			if string(b) != x.want {
				t.Errorf("%s: convert(%s) = %s, want %s", c.name, x.in, b, x.want)
			}
		}
	}
}

func TestConvertIDsAreIDs(t *testing.T) {
	a := mustCheck(t, &Attr{Type: TypeDict, Fields: []*Attr{{Name: "refs", Type: TypeList, Items: []*Attr{{Type: TypeID}}}}})
	got, err := a.convert(testCC, map[string]any{"refs": []any{"5e1d1e0c0a1b2c3d4e5f6071"}}, "d")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.(map[string]any)["refs"].([]any)[0].(oid.ID); !ok {
		t.Fatalf("nested ID not converted: %#v", got)
	}
}

func TestConvertErrorsNameNoGoTypes(t *testing.T) {
	a := mustCheck(t, &Attr{Type: TypeList, Items: []*Attr{{Type: TypeDict, Fields: []*Attr{{Name: "n", Type: TypeInt}}}}})
	_, err := a.convert(testCC, []any{map[string]any{"n": int64(1)}, map[string]any{"n": true}}, "items")
	if err == nil || !strings.Contains(err.Error(), "'items.1.n'") || !strings.Contains(err.Error(), "INT (an integer)") || strings.Contains(err.Error(), "int64") {
		t.Fatalf("error = %v; want the full path, the type in words, no Go type names", err)
	}
}

func TestConvertHugeValues(t *testing.T) {
	long := strings.Repeat("x", 10<<20)
	a := mustCheck(t, &Attr{Type: TypeStr, Max: f64(1000)})
	if _, err := a.convert(testCC, long, "s"); err == nil {
		t.Fatal("10 MB string accepted past max")
	}
	l := make([]any, 100000)
	for i := range l {
		l[i] = int64(i)
	}
	la := mustCheck(t, &Attr{Type: TypeList, Items: []*Attr{{Type: TypeInt}}, Max: f64(1000)})
	if _, err := la.convert(testCC, l, "l"); err == nil {
		t.Fatal("100,000-item list accepted past max")
	}
}

// FuzzConvert: no panic on any JSON value for any attr type, and every
// failure is an attr error (a 400).
func FuzzConvert(f *testing.F) {
	for _, s := range []string{`1`, `"a"`, `{"a":1}`, `[1,"x"]`, `null`, `1.5`, `{"type":"Point","coordinates":[1,2]}`, `"2020-01-01T00:00:00+04:00"`} {
		f.Add([]byte(s), uint8(0))
	}
	attrs := []*Attr{
		{Type: TypeAny}, {Type: TypeAccess}, {Type: TypeID}, {Type: TypeStr, Pattern: "[a-z]*", Max: f64(5)}, {Type: TypeInt, Min: f64(0)},
		{Type: TypeFloat}, {Type: TypeBool}, {Type: TypeLocale}, {Type: TypeLocales}, {Type: TypeEmail}, {Type: TypePhone},
		{Type: TypeIP}, {Type: TypeURIWeb}, {Type: TypeDatetime, Ranges: [][2]string{{"2000-01-01T00:00", ""}}}, {Type: TypeDate}, {Type: TypeTime},
		{Type: TypeGeo}, {Type: TypeList, Items: []*Attr{{Type: TypeInt}, {Type: TypeStr}}},
		{Type: TypeDict, Fields: []*Attr{{Name: "a", Type: TypeInt}}}, {Type: TypeDict, Val: &Attr{Type: TypeID}, Required: []string{"k"}},
		{Type: TypeLiteral, Literal: []any{"a"}}, {Type: TypeUnion, Items: []*Attr{{Type: TypeBool}, {Type: TypeDate}}}, {Type: TypeCustom, Custom: "even"},
	}
	for _, a := range attrs {
		if err := a.check(); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		v, err := jsonv.Parse(data)
		if err != nil {
			return
		}
		a := attrs[int(which)%len(attrs)]
		_, err = a.convert(testCC, v, "x")
		var ae *attrError
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("%s: non-attr error %v", a.Type, err)
		}
	})
}
