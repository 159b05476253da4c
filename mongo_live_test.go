package limp_test

import (
	"testing"

	"github.com/limp-go/limp"
)

// skipUnsupported skips t when the reply says the database server lacks a
// feature the call needs (501 CORE_STORE_UNSUPPORTED, decided by the
// store's capability probe at start, never by the server's name).
func skipUnsupported(t *testing.T, r reply) {
	t.Helper()
	if r.Status == 501 && r.code() == limp.CodeStoreUnsupported {
		if f, _ := r.Args["feature"].(string); f != "" {
			t.Skip("server lacks " + f)
		}
		t.Fatalf("501 without args.feature: %v", r)
	}
}
