package schema

import "testing"

func TestLookupLocaleKeys(t *testing.T) {
	loc := &Type{Kind: Locale}
	c := &Collection{Name: "c", Attrs: map[string]*Type{
		"title": loc,
		"meta":  {Kind: Dict, Fields: map[string]*Type{"label": loc}},
		"names": {Kind: List, Items: []*Type{loc}},
	}}
	for _, tt := range []struct {
		locales []string
		path    string
		ok      bool
	}{
		{nil, "title.fr_FR", true},
		{[]string{"ar_AE", "en_AE"}, "title.en_AE", true},
		{[]string{"ar_AE", "en_AE"}, "title.fr_FR", false},
		{[]string{"ar_AE", "en_AE"}, "meta.label.ar_AE", true},
		{[]string{"ar_AE", "en_AE"}, "meta.label.fr_FR", false},
		{[]string{"ar_AE", "en_AE"}, "title", true},
		{[]string{"ar_AE", "en_AE"}, "names.en_AE", true},
		{[]string{"ar_AE", "en_AE"}, "names.0.en_AE", true},
		{[]string{"ar_AE", "en_AE"}, "names.fr_FR", false},
		{[]string{"ar_AE", "en_AE"}, "names.0.fr_FR", false},
	} {
		c.Locales = tt.locales
		if got := c.Lookup(tt.path) != nil; got != tt.ok {
			t.Errorf("locales %v: Lookup(%q) found = %v, want %v", tt.locales, tt.path, got, tt.ok)
		}
	}
}
