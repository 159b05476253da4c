package storetest

import (
	"strings"
	"sync"
	"testing"

	"github.com/limp-go/limp/internal/store"
)

// Options adjust RunWith to a server that answers some cases wrongly.
type Options struct {
	// Known maps a case, named by its subtest path below the suite
	// ("Nested/list_of_dict_all", as t.Name() spells it) or a check
	// inside one ("Duplicate/update to duplicate"), to the server bug
	// that makes it fail (e.g. "FerretDB#2618: sort through arrays of
	// documents"). Such a case is skipped, reason and all, at the point
	// it would fail: its assertions are never weakened, and every case
	// not listed must pass. Spaces in names are underscores, as in
	// t.Name().
	Known map[string]string
}

var (
	knownMu sync.Mutex
	knownBy = map[string]map[string]string{} // suite test name -> Known
)

// RunWith is Run with opts. Cases needing an optional server feature the
// store lacks (store.Supports) skip with "server lacks <feature>".
func RunWith(t *testing.T, open Opener, opts Options) {
	knownMu.Lock()
	knownBy[t.Name()] = opts.Known
	knownMu.Unlock()
	t.Cleanup(func() {
		knownMu.Lock()
		delete(knownBy, t.Name())
		knownMu.Unlock()
	})
	Run(t, open)
}

// needs skips t when s lacks feature (a store.Feature* name).
func needs(t *testing.T, s store.Store, feature string) {
	t.Helper()
	if !store.Supports(s, feature) {
		t.Skip("server lacks " + feature)
	}
}

// knownBug skips t when the case (t's subtest path below the suite, plus
// "/"+check when check is not empty) is in the suite's Options.Known.
func knownBug(t *testing.T, check string) {
	t.Helper()
	knownMu.Lock()
	defer knownMu.Unlock()
	for root, known := range knownBy {
		rel, ok := strings.CutPrefix(t.Name(), root+"/")
		if !ok {
			continue
		}
		if check != "" {
			rel += "/" + strings.ReplaceAll(check, " ", "_")
		}
		if reason, ok := known[rel]; ok {
			t.Skip("known server bug: " + reason)
		}
	}
}
