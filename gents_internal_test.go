package limp

import (
	"encoding/json"
	"regexp"
	"testing"
	"unicode/utf8"
)

var tsIdent = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// FuzzTSKey checks that every attr name becomes a TypeScript property name
// that names exactly that attr: an identifier, or a JSON string literal.
func FuzzTSKey(f *testing.F) {
	for _, s := range []string{"title", "weird-key", "", "a b", "_id", "$x", "1a", "é", "\u2028", "x\"y\\z", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip()
		}
		k := tsKey(s)
		if tsIdent.MatchString(k) {
			if k != s {
				t.Fatalf("tsKey(%q) = %s", s, k)
			}
			return
		}
		var back string
		if err := json.Unmarshal([]byte(k), &back); err != nil || back != s {
			t.Fatalf("tsKey(%q) = %s: not a string literal of it (%v)", s, k, err)
		}
	})
}

func TestTSName(t *testing.T) {
	for in, want := range map[string]string{"blog_cat": "BlogCat", "user": "User", "a.b-c": "ABC", "x__y": "XY"} {
		if got := tsName(in); got != want {
			t.Errorf("tsName(%q) = %q, want %q", in, got, want)
		}
	}
}
