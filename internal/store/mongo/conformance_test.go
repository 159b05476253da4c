// The shared conformance suite (internal/store/storetest) runs against a
// real deployment named by LIMP_TEST_MONGO_URI (a replica set for the
// transaction tests), e.g. mongodb://127.0.0.1:27017/?replicaSet=rs0.

package mongo

import (
	"context"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	uri := os.Getenv("LIMP_TEST_MONGO_URI")
	if uri == "" {
		t.Skip("LIMP_TEST_MONGO_URI is not set")
	}
	storetest.RunWith(t, func(t *testing.T) store.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		name := "limp_test_" + oid.New().Hex()
		s, err := Open(ctx, uri, &Options{Database: name})
		if err != nil {
			t.Fatal(err)
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
	}, storetest.Options{Known: knownBugs(t)})
}

// knownBugs returns the cases to skip on the server under test: the
// pending fixes, plus KnownServerBugs[$LIMP_TEST_KNOWN_BUGS] when that
// variable names a server build (.ci/run sets it for the FerretDB it
// starts). On any other server — MongoDB itself — nothing else is skipped
// but what the capability probe says is missing.
func knownBugs(t *testing.T) map[string]string {
	known := map[string]string{}
	if name := os.Getenv("LIMP_TEST_KNOWN_BUGS"); name != "" {
		list, ok := KnownServerBugs[name]
		if !ok {
			t.Fatalf("LIMP_TEST_KNOWN_BUGS=%q names no list in KnownServerBugs", name)
		}
		maps.Copy(known, list)
	}
	return known
}

// KnownServerBugs lists, per server build, the conformance cases it
// answers wrongly although it claims the feature (see storetest.Options):
// skipped with the reason, assertions unchanged.
var KnownServerBugs = map[string]map[string]string{
	"ferretdb-v1.24": {
		// Sorting on a path through an array of documents ("items.qty"):
		// MongoDB sorts by the least (asc) / greatest (desc) element.
		"SortPageAttrs/sort_list_of_dict_field": "FerretDB#2618: sort on a path through an array of documents",
		"Nested/list_of_dict_desc":              "FerretDB#2618: sort on a path through an array of documents",
		"MongoRead/sort_through_a_LIST_of_DICT": "FerretDB#2618: sort on a path through an array of documents",
		// Equality with a document ({a: {k: v}}, $ne) ignores arrays
		// holding an equal document; MongoDB matches them.
		"MongoRead/object_equality,_numbers_as_numbers": "FerretDB v1.24: equality with a document does not match an array holding it",
		"MongoRead/LIST_of_DICT_element_equality":       "FerretDB v1.24: equality with a document does not match an array holding it",
		"MongoRead/$ne_object":                          "FerretDB v1.24: equality with a document does not match an array holding it",
		// Conditions on a path through an array of documents ("lines.qty").
		"Update/append_keep":         "FerretDB 1.24 ignores $slice in $push (it keeps every item)",
		"Nested/list_of_dict_all":    "FerretDB#2291: $all/$in/range conditions through an array of documents",
		"Nested/list_of_dict_bet":    "FerretDB#2291: $all/$in/range conditions through an array of documents",
		"Nested/through_list_in_nil": "FerretDB#2291: $all/$in/range conditions through an array of documents",
	},
}
