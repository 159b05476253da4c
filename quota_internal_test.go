package limp

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterBounded: a table never holds more than its bound, whatever
// the spread of keys (addresses an attacker controls).
func TestLimiterBounded(t *testing.T) {
	l := limiter{max: 100}
	for i := range 10_000 {
		l.hitN(fmt.Sprintf("ip:10.%d.%d.%d", i>>16, i>>8&255, i&255), time.Hour)
	}
	if n := len(l.wins); n > 100 {
		t.Fatalf("limiter holds %d keys, bound 100", n)
	}
	// The newest key is always counted.
	if n := l.hitN("ip:new", time.Hour); n != 1 {
		t.Fatalf("new key count %d", n)
	}
}

func TestThrottleIP(t *testing.T) {
	cases := []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::ffff:10.0.0.1", "::ffff:10.0.0.1"},
		{"not an ip", "not an ip"},
	}
	for _, tc := range cases {
		if got := throttleIP(tc.in); got != tc.want {
			t.Errorf("throttleIP(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
