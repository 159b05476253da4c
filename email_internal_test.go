package limp

import (
	"bytes"
	"encoding/base64"
	"testing"
)

func TestFoldHash(t *testing.T) {
	h := func(level, val string) string {
		s, err := AuthHash(level, "email", val, "pw", DefaultAnonToken)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name, in, want, stored string
	}{
		{"other case 5.6", h("5.6", "Bob@X.com"), h("5.6", "bob@x.com"), "bob@x.com"},
		{"other case 5.0", h("5.0", "BOB@X.COM"), h("5.0", "bob@x.com"), "bob@x.com"},
		{"to upper stored", h("5.6", "admin@x"), h("5.6", "ADMIN@x"), "ADMIN@x"},
		{"same value", h("5.6", "bob@x.com"), h("5.6", "bob@x.com"), "bob@x.com"},
		{"another value", h("5.6", "eve@x.com"), h("5.6", "eve@x.com"), "bob@x.com"},
		{"longer value", h("5.6", "bob@x.comm"), h("5.6", "bob@x.comm"), "bob@x.com"},
		{"non-ASCII untouched", h("5.6", "É@x.com"), h("5.6", "É@x.com"), "é@x.com"},
		{"not base64", "%%%", "%%%", "bob@x.com"},
	}
	for _, tc := range cases {
		if got := foldHash(tc.in, "email", tc.stored); got != tc.want {
			t.Errorf("%s: foldHash = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// FuzzFoldHash: foldHash never panics, returns the hash unchanged or a
// hash that differs only in the case of the embedded value, which then
// equals the stored value.
func FuzzFoldHash(f *testing.F) {
	h, _ := AuthHash("5.6", "email", "Bob@X.com", "pw", DefaultAnonToken)
	f.Add(h, "bob@x.com")
	f.Add("eyJoYXNoIjpbImVtYWlsIiwi", "a")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, hash, stored string) {
		got := foldHash(hash, "email", stored)
		if got == hash {
			return
		}
		in, err1 := base64.RawURLEncoding.DecodeString(hash)
		out, err2 := base64.RawURLEncoding.DecodeString(got)
		if err1 != nil || err2 != nil || len(in) != len(out) || !bytes.EqualFold(in, out) {
			t.Fatalf("foldHash(%q, %q) = %q: not the same hash up to case", hash, stored, got)
		}
		if !bytes.Contains(out, []byte(`"`+stored+`"`)) {
			t.Fatalf("rebased hash %s does not embed %q", out, stored)
		}
	})
}
