// Package oid implements 12-byte ObjectIds as MongoDB and LIMP use them:
// a 4-byte big-endian Unix timestamp, 5 random bytes fixed per process and a
// 3-byte counter, written on the wire as 24 lower-case hex digits.
package oid

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// ID is an ObjectId. The zero ID is "no id".
type ID [12]byte

// Nil is the zero ID.
var Nil ID

var (
	processUnique [5]byte
	counter       atomic.Uint32
)

func init() {
	if _, err := rand.Read(processUnique[:]); err != nil {
		panic(fmt.Sprintf("oid: read random bytes: %v", err))
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("oid: read random bytes: %v", err))
	}
	counter.Store(binary.BigEndian.Uint32(b[:]))
}

// New returns a new ID for the current time. Safe for concurrent use.
func New() ID { return NewAt(time.Now()) }

// NewAt returns a new ID whose timestamp part is t.
func NewAt(t time.Time) ID {
	var id ID
	binary.BigEndian.PutUint32(id[0:4], uint32(t.Unix()))
	copy(id[4:9], processUnique[:])
	c := counter.Add(1)
	id[9], id[10], id[11] = byte(c>>16), byte(c>>8), byte(c)
	return id
}

// ErrInvalid is returned by Parse for a string that is not 24 hex digits.
var ErrInvalid = errors.New("not a 24-hex-digit ObjectId")

// Parse parses 24 hex digits (either case).
func Parse(s string) (ID, error) {
	var id ID
	if len(s) != 24 {
		return id, ErrInvalid
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return Nil, ErrInvalid
	}
	return id, nil
}

// MustParse is Parse for constants; it panics on a malformed id.
func MustParse(s string) ID {
	id, err := Parse(s)
	if err != nil {
		panic("oid: MustParse(" + s + "): " + err.Error())
	}
	return id
}

// IsHex reports whether s is 24 hex digits.
func IsHex(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < 24; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Hex returns the id as 24 lower-case hex digits.
func (id ID) Hex() string { return hex.EncodeToString(id[:]) }

// String returns id.Hex().
func (id ID) String() string { return id.Hex() }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == Nil }

// Time returns the timestamp part of id.
func (id ID) Time() time.Time { return time.Unix(int64(binary.BigEndian.Uint32(id[0:4])), 0).UTC() }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) {
	b := make([]byte, 24)
	hex.Encode(b, id[:])
	return b, nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// AppendHex appends the 24 hex digits of id to dst.
func (id ID) AppendHex(dst []byte) []byte {
	return hex.AppendEncode(dst, id[:])
}
