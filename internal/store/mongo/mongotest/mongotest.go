// Package mongotest gives tests a MongoDB database of their own on the
// server named by LIMP_TEST_MONGO_URI (any MongoDB-compatible server; a
// replica set for the transaction tests), dropped when the test ends, so
// every run starts from an empty database and a second run never sees
// the first one's data.
package mongotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// Env is the environment variable naming the test server.
const Env = "LIMP_TEST_MONGO_URI"

// URI returns LIMP_TEST_MONGO_URI naming a fresh database
// "limp_test_<random>", dropped in t.Cleanup, or skips t when the
// variable is unset. The database named in the variable itself is never
// used.
func URI(t testing.TB) string {
	t.Helper()
	base := os.Getenv(Env)
	if base == "" {
		t.Skip(Env + " is not set")
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	db := "limp_test_" + hex.EncodeToString(b[:])
	uri, err := WithDatabase(base, db)
	if err != nil {
		t.Fatalf("mongotest: %s: %v", Env, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			t.Errorf("mongotest: drop %s: %v", db, err)
			return
		}
		defer func() { _ = c.Disconnect(ctx) }()
		if err := c.Database(db).Drop(ctx); err != nil {
			t.Errorf("mongotest: drop %s: %v", db, err)
		}
	})
	return uri
}

// WithDatabase returns uri naming database db instead of the one it names
// (if any); hosts, credentials and options are kept.
func WithDatabase(uri, db string) (string, error) {
	if _, err := connstring.Parse(uri); err != nil {
		return "", fmt.Errorf("parse uri: %w", err)
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "", fmt.Errorf("parse uri: no scheme in %q", uri)
	}
	hosts, opts := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hosts = rest[:i]
		if j := strings.IndexByte(rest, '?'); j >= 0 {
			opts = rest[j:]
		}
	}
	out := scheme + "://" + hosts + "/" + db + opts
	if _, err := connstring.Parse(out); err != nil {
		return "", fmt.Errorf("parse uri: %w", err)
	}
	return out, nil
}
