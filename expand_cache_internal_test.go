package limp

import (
	"testing"

	"github.com/limp-go/limp/internal/store"
)

// otherStore is a store that is neither the embedded one nor a source of
// cross-node changes (MongoDB without change streams); its methods are
// never called.
type otherStore struct{ store.Store }

// TestExpandCacheNeedsAllWrites: expansion reads are cached only where
// every write reaches the App: not on a shared store without a change feed.
func TestExpandCacheNeedsAllWrites(t *testing.T) {
	a := New(Config{Name: "x"})
	a.store = watchedStore{Store: otherStore{}, a: a}
	if a.writesAllSeen() {
		t.Fatal("writesAllSeen on a shared store without a change feed")
	}
}
