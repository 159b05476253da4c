package limp

import (
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// The signed conn/verify frame of spec §3.6, produced by ng-limp.
const specToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjYWxsX2lkIjoiYTFiMmMzIiwiZW5kcG9pbnQiOiJjb25uL3ZlcmlmeSIsInNpZCI6ImYwMDAwMDAwMDAwMDAwMDAwMDAwMDAxMiIsInRva2VuIjoiX19BTk9OX1RPS0VOX2YwMDAwMDAwMDAwMDAwMDAwMDAwMDAxMiIsInF1ZXJ5IjpbXSwiZG9jIjp7ImFwcCI6Im15X3dlYl9hcHAifSwiYXdhaXRBdXRoIjpmYWxzZSwiaWF0IjoxNTc4MjIwMDAwLCJleHAiOjE1NzgzMDY0MDB9.N6uxUxG4tUdkHJVliBci7bP3bgXnEshO9_sUq6odvWw"

func TestVerifySpecToken(t *testing.T) {
	key := []byte(DefaultAnonToken)
	cl, err := verifyToken(specToken, key, time.Unix(1578220001, 0), nil)
	if err != nil {
		t.Fatalf("spec example rejected: %v", err)
	}
	if cl.endpoint != "conn/verify" || cl.callID != "a1b2c3" || cl.doc()["app"] != "my_web_app" {
		t.Fatalf("claims = %+v", cl)
	}
	if _, err := verifyToken(specToken, key, time.Unix(1578306400, 0), nil); err == nil {
		t.Fatal("token accepted at its exp")
	}
	if _, err := verifyToken(specToken, []byte("other"), time.Unix(1578220001, 0), nil); err == nil {
		t.Fatal("token accepted with the wrong key")
	}
	tampered := specToken[:len(specToken)-2] + "xx"
	if _, err := verifyToken(tampered, key, time.Unix(1578220001, 0), nil); err == nil {
		t.Fatal("tampered signature accepted")
	}
}

func TestDecodeFrame(t *testing.T) {
	cases := []struct {
		in     string
		ok     bool
		callID any
	}{
		{`{"token":"a.b.c","call_id":"x"}`, true, "x"},
		{`{"token":"a.b.c","call_id":7}`, true, int64(7)},
		{`{"token":"a.b.c","call_id":{"a":1}}`, true, nil},
		{`{"token":"","call_id":"x"}`, false, "x"},
		{`{"token":5,"call_id":"x"}`, false, "x"},
		{`[]`, false, nil},
		{`{`, false, nil},
		{``, false, nil},
	}
	for _, tc := range cases {
		f, err := decodeFrame([]byte(tc.in))
		if (err == nil) != tc.ok || f.callID != tc.callID {
			t.Errorf("decodeFrame(%s) = %+v, %v; want ok=%v call_id=%v", tc.in, f, err, tc.ok, tc.callID)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`{"token":"` + specToken + `","call_id":"a1b2c3"}`))
	f.Add([]byte(`{"token":"a.b.c"}`))
	f.Add([]byte(`[`))
	key := []byte(DefaultAnonToken)
	now := time.Unix(1578220001, 0)
	f.Add([]byte(`{"token":"a.b.c","call_id":"x"}`))
	f.Add([]byte(` { "call_id" : "x" , "token" : "a.b" } `))
	f.Add([]byte(`{"token":"a","token":"b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if fast, ok := decodeFrameFast(data); ok {
			slow, err := decodeFrameSlow(data)
			if err != nil || slow != fast {
				t.Fatalf("fast path %+v disagrees with %+v, %v", fast, slow, err)
			}
		}
		fr, err := decodeFrame(data)
		if err != nil {
			if err != errInvalidToken {
				t.Fatalf("decodeFrame error %v is not the 403 invalid token", err)
			}
			return
		}
		cl, err := verifyToken(fr.token, key, now, nil)
		if err == nil && cl == nil {
			t.Fatal("verifyToken returned neither claims nor error")
		}
	})
}

func TestEncodeReply(t *testing.T) {
	b, err := encodeReply(nil, 200, "Found 0 docs.", M{"docs": []any{}, "total": int64(0), "call_id": "ignored"}, "abc", true)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status":200,"msg":"Found 0 docs.","args":{"call_id":"abc","docs":[],"total":0}}`
	if string(b) != want {
		t.Fatalf("encodeReply = %s\nwant %s", b, want)
	}
	b, _ = encodeReply(nil, 200, "Connection ready", M{"code": CodeConnReady}, nil, false)
	if string(b) != `{"status":200,"msg":"Connection ready","args":{"code":"CORE_CONN_READY"}}` {
		t.Fatalf("greeting = %s", b)
	}
}

func BenchmarkVerifyToken(b *testing.B) {
	key := []byte(DefaultAnonToken)
	now := time.Unix(1578220001, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verifyToken(specToken, key, now, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	data := []byte(`{"token":"` + specToken + `","call_id":"a1b2c3"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeFrame(data); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzVerifyHS256: whatever verifyHS256 accepts, jwx's
// jws.VerifyCompactFast accepts too, with the same payload (ours is
// stricter, never looser).
func FuzzVerifyHS256(f *testing.F) {
	key := []byte(DefaultAnonToken)
	f.Add(specToken, []byte(nil))
	f.Add(specToken[:len(specToken)-1]+"x", []byte(nil))
	f.Add("eyJhbGciOiJub25lIn0.e30.", []byte("x"))
	signed, err := jws.Sign([]byte(`{"a":1}`), jws.WithKey(jwa.HS256(), key))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(signed), []byte(nil))
	f.Fuzz(func(t *testing.T, token string, k []byte) {
		if k == nil {
			k = key
		}
		ours, err := verifyHS256(token, k, nil)
		if err != nil {
			return
		}
		if len(k) == 0 {
			return // jwx refuses empty keys; we never use one
		}
		theirs, err := jws.VerifyCompactFast(k, []byte(token), jwa.HS256())
		if err != nil {
			t.Fatalf("we accept %q, jwx refuses: %v", token, err)
		}
		if string(ours) != string(theirs) {
			t.Fatalf("payloads differ: %q vs %q", ours, theirs)
		}
	})
}

// Tokens jwx signs with HS256 verify; its other algorithms do not.
func TestVerifyHS256AgainstJWX(t *testing.T) {
	key := []byte("k3y")
	for _, alg := range []jwa.SignatureAlgorithm{jwa.HS256(), jwa.HS384(), jwa.HS512()} {
		tok, err := jws.Sign([]byte(`{"endpoint":"x/y"}`), jws.WithKey(alg, key))
		if err != nil {
			t.Fatal(err)
		}
		_, err = verifyHS256(string(tok), key, nil)
		if (err == nil) != (alg == jwa.HS256()) {
			t.Errorf("%s: err = %v", alg, err)
		}
	}
	if _, err := verifyHS256(specToken, []byte(""), nil); err == nil {
		t.Error("empty key accepted")
	}
}
