package sqlite

import (
	"testing"

	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/storetest"
)

func TestConformanceWrites(t *testing.T) {
	storetest.RunWrites(t, func(t *testing.T) store.Store { return openTest(t) })
}
