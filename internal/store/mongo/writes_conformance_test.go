package mongo

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/storetest"
)

// TestConformanceWrites runs the bounded and same-path update cases
// (storetest.RunWrites) against LIMP_TEST_MONGO_URI, each on a database
// of its own that it drops.
func TestConformanceWrites(t *testing.T) {
	runWrites(t, false)
}

// TestConformanceWritesReadGuards runs the same cases with the bounds
// checked in Go on the documents read (applyUpdateRead), as on a server
// without aggregation expressions, whatever the server has.
func TestConformanceWritesReadGuards(t *testing.T) {
	runWrites(t, true)
}

func runWrites(t *testing.T, readGuards bool) {
	uri := os.Getenv("LIMP_TEST_MONGO_URI")
	if uri == "" {
		t.Skip("LIMP_TEST_MONGO_URI is not set")
	}
	storetest.RunWrites(t, func(t *testing.T) store.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		name := "limp_test_" + oid.New().Hex()
		s, err := Open(ctx, uri, &Options{Database: name})
		if err != nil {
			t.Fatal(err)
		}
		if readGuards {
			s.readGuards = true
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.db.Drop(ctx); err != nil {
				t.Errorf("drop %s: %v", name, err)
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
		return s
	})
}
