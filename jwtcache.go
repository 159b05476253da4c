package limp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"strings"
	"unsafe"
)

// macCache is what one connection's reader goroutine keeps between the
// frames it verifies (spec §2.4 step 3): the HMAC-SHA256 keyed with the
// session token the frames are signed with (its pads are computed once
// per key, not per frame) and the last protected header it accepted (a
// client sends the same one every time). Not safe for concurrent use;
// the zero value is ready.
type macCache struct {
	key    string
	mac    hash.Hash
	header string
	sum    [sha256.Size]byte
	got    [sha256.Size + 3]byte
}

// verify is verifyHS256 with the key as a string and mc's reuse: the same
// checks, the same errors.
func (mc *macCache) verify(token, key string, dst []byte) ([]byte, error) {
	h, rest, ok1 := strings.Cut(token, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") {
		return nil, errors.New("token is not a compact JWS")
	}
	if h != mc.header || h == "" {
		if err := checkJWSHeader(h); err != nil {
			return nil, err
		}
		mc.header = strings.Clone(h) // token may share a reused frame buffer
	}
	if mc.mac == nil || mc.key != key {
		mc.mac = hmac.New(sha256.New, []byte(key))
		mc.key = key
	}
	mc.mac.Reset()
	signed := token[:len(h)+1+len(p)]
	mc.mac.Write(unsafe.Slice(unsafe.StringData(signed), len(signed)))
	want := mc.mac.Sum(mc.sum[:0])
	enc := base64.RawURLEncoding.Strict()
	if enc.DecodedLen(len(sig)) > len(mc.got) {
		return nil, errors.New("signature does not match")
	}
	n, err := enc.Decode(mc.got[:], unsafe.Slice(unsafe.StringData(sig), len(sig)))
	if err != nil || !hmac.Equal(mc.got[:n], want) {
		return nil, errors.New("signature does not match")
	}
	return decodeB64(p, dst)
}
