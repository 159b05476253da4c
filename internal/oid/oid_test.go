package oid

import (
	"testing"
	"time"
)

func TestParseRoundTrip(t *testing.T) {
	for _, s := range []string{"f00000000000000000000012", "5E1F00000000000000000001"} {
		id, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if IsHex(s) != true {
			t.Fatalf("IsHex(%q) = false", s)
		}
		back, _ := Parse(id.Hex())
		if back != id {
			t.Fatalf("round trip of %q: %v", s, back)
		}
	}
	for _, s := range []string{"", "f0000000000000000000001", "f0000000000000000000001g", "f000000000000000000000120"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
		if IsHex(s) {
			t.Errorf("IsHex(%q) = true", s)
		}
	}
}

func TestNewIsUniqueAndOrdered(t *testing.T) {
	seen := map[ID]bool{}
	prev, decreases := Nil, 0
	for i := 0; i < 1000; i++ {
		id := New()
		if seen[id] {
			t.Fatalf("duplicate id %v", id)
		}
		seen[id] = true
		if i > 0 && id.Hex() <= prev.Hex() {
			decreases++ // the 24-bit counter may wrap once
		}
		prev = id
	}
	if decreases > 1 {
		t.Fatalf("ids decreased %d times", decreases)
	}
	if d := time.Since(New().Time()); d > time.Minute || d < -time.Minute {
		t.Fatalf("timestamp off by %v", d)
	}
}
