package limp

import (
	"bytes"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// FuzzMacCache: a connection's cached verifier agrees with verifyHS256
// on every token, whatever it verified before (header and key reuse):
// two tokens verified in a row with one cache, under keys k1 then k2.
func FuzzMacCache(f *testing.F) {
	key := []byte(DefaultAnonToken)
	signed, err := jws.Sign([]byte(`{"a":1}`), jws.WithKey(jwa.HS256(), key))
	if err != nil {
		f.Fatal(err)
	}
	other, err := jws.Sign([]byte(`{"b":2}`), jws.WithKey(jwa.HS256(), []byte("other")))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(signed), string(signed), DefaultAnonToken, DefaultAnonToken)
	f.Add(string(signed), string(other), DefaultAnonToken, "other")
	f.Add(string(signed), string(other), DefaultAnonToken, DefaultAnonToken)
	f.Add(specToken, specToken[:len(specToken)-1]+"x", DefaultAnonToken, DefaultAnonToken)
	f.Add("eyJhbGciOiJub25lIn0.e30.", string(signed), "x", DefaultAnonToken)
	f.Fuzz(func(t *testing.T, t1, t2, k1, k2 string) {
		var mc macCache
		for _, c := range []struct{ tok, key string }{{t1, k1}, {t2, k2}, {t1, k2}} {
			want, werr := verifyHS256(c.tok, []byte(c.key), nil)
			got, gerr := mc.verify(c.tok, c.key, nil)
			if (werr == nil) != (gerr == nil) || !bytes.Equal(want, got) {
				t.Fatalf("token %q key %q: cached %q, %v; verifyHS256 %q, %v", c.tok, c.key, got, gerr, want, werr)
			}
		}
	})
}
