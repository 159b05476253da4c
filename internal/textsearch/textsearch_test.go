package textsearch

import (
	"slices"
	"testing"
)

func TestWords(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"Red apple-pie, please!", []string{"red", "apple", "pie", "please"}},
		{"Crème Brûlée à la CAFÉ", []string{"creme", "brulee", "a", "la", "cafe"}},
		{"مَكْتَبَةُ المدينة", []string{"مكتبة", "المدينة"}},
		{"ПРИВЕТ, Ёжик", []string{"привет", "ежик"}},
		{"ΣΟΦΊΑ σοφίας", []string{"σοφια", "σοφιασ"}},
		{"東京タワー 東京", []string{"東京タワ", "東京"}},
		{"snake_case a$b x+y", []string{"snake_case", "a", "b", "x", "y"}},
		{"straße STRASSE", []string{"straße", "strasse"}},
		{"İstanbul", []string{"istanbul"}},
		{"head\x00tail", []string{"head\x00tail"}},
		{"  \u0301 ", nil},
	} {
		if got := Words(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Words(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Query
	}{
		{"a b a", Query{Terms: []string{"a", "b"}}},
		{`-a-b c`, Query{Terms: []string{"c"}, Negated: []string{"a", "b"}}},
		{`- a`, Query{Terms: []string{"a"}}},
		{`"Café au" lait`, Query{Terms: []string{"cafe", "au", "lait"}, Phrases: []string{"cafe au"}}},
		{`x -"no way"`, Query{Terms: []string{"x"}, NegatedPhrases: []string{"no way"}}},
		{`x - "yes way"`, Query{Terms: []string{"x", "yes", "way"}, Phrases: []string{"yes way"}}},
		{`"open`, Query{Terms: []string{"open"}}},
		{"ok\x00bad", Query{Terms: []string{"ok"}}},
	} {
		got := Parse(tt.in)
		if !slices.Equal(got.Terms, tt.want.Terms) || !slices.Equal(got.Negated, tt.want.Negated) ||
			!slices.Equal(got.Phrases, tt.want.Phrases) || !slices.Equal(got.NegatedPhrases, tt.want.NegatedPhrases) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`a -"b c" d`, `"x`, "ΣΟΦΊΑ", "-\"\"-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Parse(s)
		for _, w := range append(q.Terms, q.Negated...) {
			if w == "" || Fold(w) != w {
				t.Fatalf("Parse(%q): term %q not folded", s, w)
			}
		}
	})
}
