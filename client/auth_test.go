package client

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

const anon = DefaultAnonToken

// Expected values: the first is the worked example of spec §4.2; the others
// were produced with Python's json.dumps(..., separators=(',', ':')) (Hash)
// and Node's JSON.stringify (HashNGLimp), then base64url without padding.
func TestHash(t *testing.T) {
	tests := []struct {
		name                   string
		level                  HashLevel
		authVar, authVal, pass string
		wantPython, wantNGLimp string
	}{
		{
			name: "spec 4.2 worked example", level: HashLevel56,
			authVar: "email", authVal: "ADMIN@LIMP.MASAAR.COM", pass: "__ADMIN",
			wantPython: "eyJoYXNoIjpbImVtYWlsIiwiQURNSU5ATElNUC5NQVNBQVIuQ09NIiwiX19BRE1JTiIsIl9fQU5PTl9UT0tFTl9mMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTIiXX0",
			wantNGLimp: "eyJoYXNoIjpbImVtYWlsIiwiQURNSU5ATElNUC5NQVNBQVIuQ09NIiwiX19BRE1JTiIsIl9fQU5PTl9UT0tFTl9mMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTIiXX0",
		},
		{
			name: "level 5.0 has no anon token", level: HashLevel50,
			authVar: "email", authVal: "ADMIN@LIMP.MASAAR.COM", pass: "__ADMIN",
			wantPython: "eyJoYXNoIjpbImVtYWlsIiwiQURNSU5ATElNUC5NQVNBQVIuQ09NIiwiX19BRE1JTiJdfQ",
			wantNGLimp: "eyJoYXNoIjpbImVtYWlsIiwiQURNSU5ATElNUC5NQVNBQVIuQ09NIiwiX19BRE1JTiJdfQ",
		},
		{
			name: "quotes, backslash, html chars, latin-1", level: HashLevel56,
			authVar: "phone", authVal: "+9665", pass: `pä$$ "q" \ </>&`,
			wantPython: "eyJoYXNoIjpbInBob25lIiwiKzk2NjUiLCJwXHUwMGU0JCQgXCJxXCIgXFwgPC8-JiIsIl9fQU5PTl9UT0tFTl9mMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTIiXX0",
			wantNGLimp: "eyJoYXNoIjpbInBob25lIiwiKzk2NjUiLCJww6QkJCBcInFcIiBcXCA8Lz4mIiwiX19BTk9OX1RPS0VOX2YwMDAwMDAwMDAwMDAwMDAwMDAwMDAxMiJdfQ",
		},
		{
			name: "astral, DEL and control characters", level: HashLevel56,
			authVar: "name", authVal: "é😀\x7f\x01\n\t\b\f\r", pass: "x",
			wantPython: "eyJoYXNoIjpbIm5hbWUiLCJcdTAwZTlcdWQ4M2RcdWRlMDBcdTAwN2ZcdTAwMDFcblx0XGJcZlxyIiwieCIsIl9fQU5PTl9UT0tFTl9mMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTIiXX0",
			wantNGLimp: "eyJoYXNoIjpbIm5hbWUiLCLDqfCfmIB_XHUwMDAxXG5cdFxiXGZcciIsIngiLCJfX0FOT05fVE9LRU5fZjAwMDAwMDAwMDAwMDAwMDAwMDAwMDEyIl19",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Hash(tt.level, tt.authVar, tt.authVal, tt.pass, anon)
			if err != nil || got != tt.wantPython {
				t.Errorf("Hash = %q, %v; want %q", got, err, tt.wantPython)
			}
			got, err = HashNGLimp(tt.level, tt.authVar, tt.authVal, tt.pass, anon)
			if err != nil || got != tt.wantNGLimp {
				t.Errorf("HashNGLimp = %q, %v; want %q", got, err, tt.wantNGLimp)
			}
		})
	}
	if _, err := Hash("6.1", "email", "a", "b", anon); err == nil {
		t.Error("Hash with unknown level: want error")
	}
}

// TestHashIsJWTPayload checks the spec's definition: the hash is the payload
// segment of an HS256 JWT of {"hash": [...]} signed with the password.
func TestHashIsJWTPayload(t *testing.T) {
	parts := []string{"email", "admin@example.com", "s3cret", anon}
	payload, err := json.Marshal(map[string]any{"hash": parts})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.HS256(), []byte("s3cret")))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(string(tok), ".")[1]
	got, err := Hash(HashLevel56, parts[0], parts[1], parts[2], anon)
	if err != nil || got != want {
		t.Errorf("Hash = %q, %v; want JWT payload %q", got, err, want)
	}
}

func TestReauthHash(t *testing.T) {
	// Python: base64url(json.dumps({"token": "abc-_XYZ"}, separators=(',', ':'))).
	if got, want := ReauthHash("abc-_XYZ"), "eyJ0b2tlbiI6ImFiYy1fWFlaIn0"; got != want {
		t.Errorf("ReauthHash = %q; want %q", got, want)
	}
}

// TestSignSpecExample reproduces the concrete signed conn/verify frame of
// spec §3.6 byte for byte (ng-limp claims, fixed iat/exp).
func TestSignSpecExample(t *testing.T) {
	tok, f := anon, false
	cl := &claims{
		CallID: "a1b2c3", Endpoint: "conn/verify", SID: AnonSessionID, Token: &tok,
		Query: []any{}, Doc: map[string]any{"app": "my_web_app"}, AwaitAuth: &f,
		IAT: 1578220000, EXP: 1578306400,
	}
	got, err := signClaims(cl, anon)
	if err != nil {
		t.Fatal(err)
	}
	const want = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjYWxsX2lkIjoiYTFiMmMzIiwiZW5kcG9pbnQiOiJjb25uL3ZlcmlmeSIsInNpZCI6ImYwMDAwMDAwMDAwMDAwMDAwMDAwMDAxMiIsInRva2VuIjoiX19BTk9OX1RPS0VOX2YwMDAwMDAwMDAwMDAwMDAwMDAwMDAxMiIsInF1ZXJ5IjpbXSwiZG9jIjp7ImFwcCI6Im15X3dlYl9hcHAifSwiYXdhaXRBdXRoIjpmYWxzZSwiaWF0IjoxNTc4MjIwMDAwLCJleHAiOjE1NzgzMDY0MDB9.N6uxUxG4tUdkHJVliBci7bP3bgXnEshO9_sUq6odvWw"
	if got != want {
		t.Errorf("signed frame:\n got %s\nwant %s", got, want)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", `"\`, "é😀\x7f\x01", "\xff\xfe", "</>&\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var sb strings.Builder
		for _, r := range s { // one U+FFFD per invalid byte, as range decodes
			sb.WriteRune(r)
		}
		want := sb.String()
		for _, ascii := range []bool{true, false} {
			b := appendJSONString(nil, s, ascii)
			var got string
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("ascii=%v: %q is not a JSON string: %v", ascii, b, err)
			}
			if got != want {
				t.Fatalf("ascii=%v: round trip %q -> %q -> %q", ascii, s, b, got)
			}
			if ascii {
				for _, c := range b {
					if c < 0x20 || c >= 0x7f {
						t.Fatalf("ascii output %q has byte %#x", b, c)
					}
				}
			} else if !utf8.Valid(b) {
				t.Fatalf("output %q is not UTF-8", b)
			}
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"status":200,"msg":"Connection ready","args":{"code":"CORE_CONN_READY"}}`,
		`{"status":200,"msg":"ok","args":{"call_id":"1","session":{"_id":"x","token":"y"}}}`,
		`{"status":500}`, `{"status":1,"args":null}`, `[]`, `{"args":{}}`, `{"status":200,"args":{"docs":[1,2.0]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeResponse(data)
		if err != nil {
			return
		}
		if r.Args == nil {
			t.Fatal("nil Args on success")
		}
		_ = r.CallID() + r.Code()
		if raw, ok := r.rawArg("session"); ok {
			_, _ = decodeSession(raw)
		}
	})
}
