package limp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/limp-go/limp/internal/store"
)

// A call needing a database feature the server lacks answers 501
// CORE_STORE_UNSUPPORTED naming it, not a 500.
func TestWireErrorUnsupported(t *testing.T) {
	a := New(Config{})
	err := fmt.Errorf("read blog: %w", &store.UnsupportedError{Feature: store.FeatureText, Use: "$search"})
	status, msg, args := a.wireError(err, "blog/read")
	if status != 501 || args["code"] != CodeStoreUnsupported || args["feature"] != store.FeatureText ||
		!strings.Contains(msg, "text indexes") || !strings.Contains(msg, "$search") {
		t.Errorf("wireError = %d %q %v", status, msg, args)
	}
}
