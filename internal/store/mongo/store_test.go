package mongo

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// offline returns a Store whose client never reached a server (Connect is
// lazy): enough for the paths that need no round trip.
func offline(t *testing.T, txOK bool) *Store {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{client: c, db: c.Database("limp"), log: slog.New(slog.NewTextHandler(io.Discard, nil)), caps: Capabilities{Transactions: txOK}}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestTxStandalone(t *testing.T) {
	s := offline(t, false)
	ctx := context.Background()
	var depth int
	err := s.Tx(ctx, func(ctx context.Context) error {
		depth++
		if ctx.Value(txKey{}) != s {
			t.Error("Tx context does not carry the transaction marker")
		}
		return s.Tx(ctx, func(ctx context.Context) error {
			depth++
			return nil
		})
	})
	if err != nil || depth != 2 {
		t.Fatalf("Tx = %v after %d levels, want nil after 2", err, depth)
	}
	boom := errors.New("boom")
	if err := s.Tx(ctx, func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Tx error = %v, want %v", err, boom)
	}
}

func TestClosed(t *testing.T) {
	s := offline(t, false)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	ctx := context.Background()
	q := &query.Query{}
	if _, err := s.Read(ctx, blogColl, q); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Read after Close = %v", err)
	}
	if err := s.Insert(ctx, blogColl, map[string]any{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Insert after Close = %v", err)
	}
	if _, err := s.Update(ctx, blogColl, q, &store.Update{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close = %v", err)
	}
	if _, err := s.Delete(ctx, blogColl, q, true); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Delete after Close = %v", err)
	}
	if err := s.Sync(ctx, blogColl); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Sync after Close = %v", err)
	}
	if err := s.Tx(ctx, func(context.Context) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Tx after Close = %v", err)
	}
}

func TestInsertRejectsBadDocsWithoutServer(t *testing.T) {
	s := offline(t, false)
	ctx := context.Background()
	if err := s.Insert(ctx, blogColl, map[string]any{"_id": "nope"}); err == nil {
		t.Error("Insert with a string _id succeeded")
	}
	if err := s.Insert(ctx, blogColl); err != nil {
		t.Errorf("Insert of nothing = %v", err)
	}
}

func TestReadHonoursContext(t *testing.T) {
	s := offline(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Read(ctx, blogColl, &query.Query{Limit: 1})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a canceled context = %v, want context.Canceled", err)
	}
}

func TestDatabaseName(t *testing.T) {
	tests := []struct{ uri, name, want string }{
		{"mongodb://127.0.0.1:27017", "", "limp"},
		{"mongodb://127.0.0.1:27017/", "", "limp"},
		{"mongodb://u:p@h1:1,h2:2/blog?replicaSet=rs0", "", "blog"},
		{"mongodb://127.0.0.1/blog", "other", "other"},
	}
	for _, tt := range tests {
		got, err := databaseName(tt.uri, tt.name)
		if err != nil || got != tt.want {
			t.Errorf("databaseName(%q, %q) = %q, %v; want %q", tt.uri, tt.name, got, err, tt.want)
		}
	}
}

// Issue 11 item 16: Tx checks ctx before running fn and before committing.
func TestTxChecksContext(t *testing.T) {
	for _, txOK := range []bool{false, true} {
		s := offline(t, txOK)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		called := false
		if err := s.Tx(ctx, func(context.Context) error { called = true; return nil }); !errors.Is(err, context.Canceled) || called {
			t.Errorf("transactions %v: Tx with an ended context = %v, fn called %v; want context.Canceled, not called", txOK, err, called)
		}
	}
	// A context ending during fn aborts instead of committing (a
	// transaction with no operation commits without a round trip, so
	// only the check can fail it).
	s := offline(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Tx(ctx, func(context.Context) error { cancel(); return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Tx whose context ended during fn = %v, want context.Canceled", err)
	}
}

func TestNeedsCapabilities(t *testing.T) {
	s := offline(t, false)
	tests := []struct {
		q       *query.Query
		feature string
	}{
		{&query.Query{Search: "x"}, store.FeatureText},
		{&query.Query{GeoNear: &query.GeoNear{Attr: "loc", Lng: 1, Lat: 2, MaxDistance: 10}}, store.FeatureGeo},
		{&query.Query{Group: []query.Group{{By: "views", Count: 2}}}, store.FeatureBucketAuto},
	}
	for _, tt := range tests {
		p, err := Compile(blogColl, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		s.caps = AllCapabilities.without(tt.feature)
		var ue *store.UnsupportedError
		if err := s.needs(&p); !errors.As(err, &ue) || ue.Feature != tt.feature {
			t.Errorf("needs(%+v) without %s = %v", tt.q, tt.feature, err)
		}
		s.caps = AllCapabilities
		if err := s.needs(&p); err != nil {
			t.Errorf("needs(%+v) with every feature = %v", tt.q, err)
		}
		if _, err := s.Read(context.Background(), blogColl, tt.q); err == nil {
			t.Errorf("Read offline succeeded")
		}
	}
	s.caps = Capabilities{}
	if got := s.caps.Missing(); len(got) != 7 {
		t.Errorf("Missing() = %v", got)
	}
}

func TestIDStage(t *testing.T) {
	id := oid.New()
	eq := &query.Cond{Path: "_id", Op: query.Eq, Value: id}
	other := &query.Cond{Path: "status", Op: query.Eq, Value: "x"}
	want := bson.D{{Key: "$match", Value: bson.D{{Key: "_id", Value: bson.ObjectID(id)}}}}
	tests := []struct {
		name string
		q    *query.Query
		want bson.D
	}{
		{"top level", &query.Query{Filter: eq}, want},
		{"in and", &query.Query{Filter: query.And{other, query.And{eq}}}, want},
		{"in or", &query.Query{Filter: query.Or{eq, other}}, nil},
		{"ne", &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Ne, Value: id}}, nil},
		{"string value", &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: id.Hex()}}, nil},
		{"search first", &query.Query{Filter: eq, Search: "x"}, nil},
		{"none", &query.Query{}, nil},
	}
	for _, tt := range tests {
		if got := idStage(tt.q); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: idStage = %v, want %v", tt.name, got, tt.want)
		}
	}
}
