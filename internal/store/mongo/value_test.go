package mongo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/limp-go/limp/internal/store"
)

func TestValueRoundTrip(t *testing.T) {
	id := mustID(t, "f00000000000000000000010")
	docs := []map[string]any{
		{"_id": id},
		{
			"_id": id, "s": "x", "i": int64(-7), "f": 1.0, "b": false, "n": nil,
			"l":  []any{int64(1), 2.5, "a", nil, id, []any{}, map[string]any{}},
			"m":  map[string]any{"z": map[string]any{"deep": []any{id}}, "a": true},
			"el": []any{},
		},
	}
	for _, d := range docs {
		bd, err := (&Store{}).writeDoc(d)
		if err != nil {
			t.Fatal(err)
		}
		// Through real BSON bytes, as the driver does.
		raw, err := bson.Marshal(bd)
		if err != nil {
			t.Fatal(err)
		}
		var back bson.D
		if err := bson.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if lookup(back, deletedField) != false {
			t.Errorf("stored document lacks %s: false: %v", deletedField, back)
		}
		got, err := readDoc(blogColl, back)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Errorf("round trip:\n got %#v\nwant %#v", got, d)
		}
	}
}

func TestWriteDocTypes(t *testing.T) {
	id := mustID(t, "f00000000000000000000010")
	bd, err := (&Store{}).writeDoc(map[string]any{"_id": id, "i": int64(3), "f": 3.0, "__deleted": true})
	if err != nil {
		t.Fatal(err)
	}
	// A caller's "__deleted": true is kept (issue 11 item 15), with the
	// document's own _id as its "__deleted_key".
	want := bson.D{{Key: "__deleted", Value: true}, {Key: "__deleted_key", Value: bson.ObjectID(id)}, {Key: "_id", Value: bson.ObjectID(id)}, {Key: "f", Value: 3.0}, {Key: "i", Value: int64(3)}}
	if !reflect.DeepEqual(bd, want) {
		t.Errorf("writeDoc = %#v, want %#v", bd, want)
	}
	for _, bad := range []map[string]any{{"$set": int64(1)}, {"a.b": int64(1)}, {"": int64(1)}, {"x": struct{}{}}, {"x": []any{make(chan int)}},
		{"__deleted": "yes"}, {"__deleted_key": int64(1)}} {
		if _, err := (&Store{}).writeDoc(bad); err == nil {
			t.Errorf("writeDoc(%v) succeeded, want an error", bad)
		}
	}
}

func TestFromBSON(t *testing.T) {
	id := mustID(t, "f00000000000000000000010")
	dec, err := bson.ParseDecimal128("2.5")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   any
		want any
	}{
		{int32(5), int64(5)},
		{int64(5), int64(5)},
		{2.5, 2.5},
		{bson.ObjectID(id), id},
		{bson.NewDateTimeFromTime(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)), "2020-01-02T03:04:05"},
		{bson.NewDateTimeFromTime(time.Date(2020, 1, 2, 3, 4, 5, 6e6, time.UTC)), "2020-01-02T03:04:05.006000"},
		{dec, 2.5},
		{bson.Null{}, nil},
		{bson.M{"a": int32(1)}, map[string]any{"a": int64(1)}},
		{bson.A{int32(1), bson.D{{Key: "x", Value: "y"}}}, []any{int64(1), map[string]any{"x": "y"}}},
	}
	for _, tt := range tests {
		got, err := fromBSON(tt.in)
		if err != nil {
			t.Errorf("fromBSON(%#v): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("fromBSON(%#v) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	if _, err := fromBSON(bson.Binary{Data: []byte{1}}); err == nil {
		t.Error("fromBSON(Binary) succeeded, want an error")
	}
}

func TestReadDocInternalFieldsAndIDs(t *testing.T) {
	id := mustID(t, "f00000000000000000000010")
	in := bson.D{
		{Key: "_id", Value: bson.ObjectID(id)},
		{Key: "__deleted", Value: false},
		{Key: "__distance", Value: 1.5},
		{Key: "__join_cat", Value: bson.A{}},
		{Key: "cat", Value: id.Hex()},                      // ID stored as a hex string
		{Key: "cats", Value: bson.A{id.Hex(), "not-hex"}},  // LIST of ID
		{Key: "status", Value: "f00000000000000000000010"}, // STR: stays a string
	}
	got, err := readDoc(blogColl, in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"_id": id, "cat": id, "cats": []any{id, "not-hex"}, "status": "f00000000000000000000010"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readDoc = %#v, want %#v", got, want)
	}
}

func TestBucket(t *testing.T) {
	d := bson.D{{Key: "_id", Value: bson.D{{Key: "min", Value: int32(1)}, {Key: "max", Value: 9.5}}}, {Key: "count", Value: int32(4)}}
	b, err := bucket(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.Bucket{Min: int64(1), Max: 9.5, Count: 4}); !reflect.DeepEqual(b, want) {
		t.Errorf("bucket = %#v, want %#v", b, want)
	}
	if _, err := bucket(bson.D{{Key: "count", Value: int32(1)}}); err == nil {
		t.Error("bucket without _id succeeded")
	}
}

func TestDupError(t *testing.T) {
	// Index names map back to the unique set, including names with "_".
	for _, set := range blogColl.Unique {
		if got := uniqueName(set); !strings.HasPrefix(got, "limp_u_") {
			t.Errorf("uniqueName(%v) = %q", set, got)
		}
	}
	wex := func(msg string) error {
		return fmt.Errorf("wrapped: %w", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000, Message: msg}}})
	}
	// A server that names no index (FerretDB: "E11000 duplicate key error
	// collection: db.coll") is recognised by code; its keyPattern, or
	// else the resolver asking the database, names the set.
	coded := func(code int, raw bson.D) error {
		b, _ := bson.Marshal(raw)
		return mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: code, Message: "duplicate", Raw: b}}}
	}
	ferret := mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000, Message: "E11000 duplicate key error collection: limp.blogs"}}}
	tests := []struct {
		err     error
		resolve func() []string
		want    []string
	}{
		{coded(11000, bson.D{{Key: "keyPattern", Value: bson.D{{Key: "slug", Value: 1}, {Key: "__deleted_key", Value: 1}}}}), nil, []string{"slug"}},
		{coded(11000, bson.D{{Key: "keyPattern", Value: bson.D{{Key: "user", Value: 1}, {Key: "title.en_AE", Value: 1}, {Key: "__deleted_key", Value: 1}}}}), nil, []string{"user", "title.en_AE"}},
		{coded(11000, bson.D{{Key: "keyPattern", Value: bson.D{{Key: "_id", Value: 1}}}}), nil, []string{"_id"}},
		{coded(11001, bson.D{}), func() []string { return []string{"slug"} }, []string{"slug"}},
		{ferret, func() []string { return []string{"user", "title.en_AE"} }, []string{"user", "title.en_AE"}},
		{ferret, func() []string { return nil }, []string{"_id"}},
		{mongo.CommandError{Code: 11000, Message: "E11000 duplicate key error collection: limp.blogs"}, func() []string { return []string{"_id"} }, []string{"_id"}},
		// A SQL-backed server's generic error on update, naming its index
		// (ours with its own prefix): FerretDB v1.24 on SQLite.
		{mongo.CommandError{Code: 1, Name: "InternalError", Message: "constraint failed: UNIQUE constraint failed: index 'blogs_60bcabf1_" + uniqueName([]string{"slug"}) + "' (2067)"}, nil, []string{"slug"}},
	}
	tests = append(tests, []struct {
		err     error
		resolve func() []string
		want    []string
	}{
		{wex("E11000 duplicate key error collection: limp.blogs index: limp_u_slug dup key: { slug: \"a\" }"), nil, []string{"slug"}},
		{wex("E11000 duplicate key error collection: limp.blogs index: limp_u_user_title.en_AE dup key: { }"), nil, []string{"user", "title.en_AE"}},
		{wex("E11000 duplicate key error collection: limp.blogs index: _id_ dup key: { }"), nil, []string{"_id"}},
		{mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Index: 1, Code: 11000,
			Message: "E11000 duplicate key error collection: limp.blogs index: limp_u_slug dup key: { }"}}}}, nil, []string{"slug"}},
	}...)
	for _, tt := range tests {
		var de *store.DuplicateError
		if err := dupError(blogColl, tt.err, tt.resolve); !errors.As(err, &de) || !reflect.DeepEqual(de.Attrs, tt.want) {
			t.Errorf("dupError(%v) = %v, want attrs %v", tt.err, err, tt.want)
		}
	}
	other := context.DeadlineExceeded
	if err := dupError(blogColl, other, nil); err != other {
		t.Errorf("dupError passed %v as %v", other, err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Open(ctx, "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200", nil)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on an unreachable server")
	}
	if !strings.HasPrefix(err.Error(), "open mongodb: ") {
		t.Errorf("error %q lacks context", err)
	}
}

func TestOpenBadURI(t *testing.T) {
	if _, err := Open(context.Background(), "http://x", nil); err == nil || !strings.Contains(err.Error(), "parse uri") {
		t.Fatalf("Open(bad uri) error = %v", err)
	}
}

// FuzzReadDoc feeds arbitrary BSON documents through the read conversion:
// it must return a value or an error, never panic.
func FuzzReadDoc(f *testing.F) {
	id := bson.ObjectID(mustID(f, "f00000000000000000000010"))
	for _, d := range []bson.D{
		{{Key: "_id", Value: id}, {Key: "cat", Value: "f00000000000000000000010"}},
		{{Key: "cats", Value: bson.A{int32(1), bson.D{{Key: "a", Value: 1.5}}}}, {Key: "t", Value: bson.NewDateTimeFromTime(time.Unix(0, 0))}},
	} {
		b, err := bson.Marshal(d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d bson.D
		if err := bson.Unmarshal(b, &d); err != nil {
			return
		}
		doc, err := readDoc(blogColl, d)
		if err != nil {
			return
		}
		if _, ok := doc[deletedField]; ok {
			t.Errorf("readDoc kept %s", deletedField)
		}
		if _, err := docToBSON(doc); err != nil {
			t.Errorf("read document does not convert back: %v", err)
		}
	})
}
