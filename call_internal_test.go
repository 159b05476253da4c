package limp

import (
	"testing"
	"time"
)

// The signed conn/verify frame of spec §3.6, produced by ng-limp.
const specToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjYWxsX2lkIjoiYTFiMmMzIiwiZW5kcG9pbnQiOiJjb25uL3ZlcmlmeSIsInNpZCI6ImYwMDAwMDAwMDAwMDAwMDAwMDAwMDAxMiIsInRva2VuIjoiX19BTk9OX1RPS0VOX2YwMDAwMDAwMDAwMDAwMDAwMDAwMDAxMiIsInF1ZXJ5IjpbXSwiZG9jIjp7ImFwcCI6Im15X3dlYl9hcHAifSwiYXdhaXRBdXRoIjpmYWxzZSwiaWF0IjoxNTc4MjIwMDAwLCJleHAiOjE1NzgzMDY0MDB9.N6uxUxG4tUdkHJVliBci7bP3bgXnEshO9_sUq6odvWw"

func TestVerifySpecToken(t *testing.T) {
	key := []byte(DefaultAnonToken)
	cl, err := verifyToken(specToken, key, time.Unix(1578220001, 0))
	if err != nil {
		t.Fatalf("spec example rejected: %v", err)
	}
	if cl.endpoint != "conn/verify" || cl.callID != "a1b2c3" || cl.doc["app"] != "my_web_app" {
		t.Fatalf("claims = %+v", cl)
	}
	if _, err := verifyToken(specToken, key, time.Unix(1578306400, 0)); err == nil {
		t.Fatal("token accepted at its exp")
	}
	if _, err := verifyToken(specToken, []byte("other"), time.Unix(1578220001, 0)); err == nil {
		t.Fatal("token accepted with the wrong key")
	}
	tampered := specToken[:len(specToken)-2] + "xx"
	if _, err := verifyToken(tampered, key, time.Unix(1578220001, 0)); err == nil {
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
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeFrame(data)
		if err != nil {
			if err != errInvalidToken {
				t.Fatalf("decodeFrame error %v is not the 403 invalid token", err)
			}
			return
		}
		cl, err := verifyToken(fr.token, key, now)
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
