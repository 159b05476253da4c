package sqlite

import (
	"reflect"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

var _ store.Imager = (*Store)(nil)

// TestImageIsRead: Image gives, for each document Insert stored, exactly
// what Read returns (types included: Go ints as int64, IDs at ID paths as
// oid.ID and as hex text elsewhere, times as text, nested values), and nil
// for a document inserted soft-deleted; the document given is not
// modified.
func TestImageIsRead(t *testing.T) {
	s := openTest(t)
	c := testCollection()
	if err := s.Sync(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	ref, by := oid.New(), oid.New()
	docs := []map[string]any{
		{"_id": oid.New(), "title": "a", "n": 3, "f": 1.5, "ok": true, "tags": []any{"x", "y"}, "ref": ref,
			"refs": []any{ref, by}, "items": []any{map[string]any{"qty": int64(2), "name": "n", "by": by}},
			"loc": map[string]any{"en_AE": "hi", "ar_AE": "مرحبا"}, "meta": map[string]any{"id": ref, "at": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "n": int32(7)}},
		{"_id": oid.New(), "title": "b", "n": int64(1) << 60, "f": 2.0, "tags": []any{}, "meta": []any{nil, 1.25, "s"}},
		{"_id": oid.New(), "title": "c", "ref": ref.Hex(), "meta": nil},
	}
	for _, d := range docs {
		if err := s.Insert(t.Context(), c, d); err != nil {
			t.Fatal(err)
		}
		before := reflect.ValueOf(d).Len()
		img, err := s.Image(c, d)
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Read(t.Context(), c, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: d["_id"]}})
		if err != nil || len(res.Docs) != 1 {
			t.Fatalf("read %v: %v %v", d["_id"], res, err)
		}
		if !reflect.DeepEqual(img, res.Docs[0]) {
			t.Errorf("image %#v\nread  %#v", img, res.Docs[0])
		}
		if reflect.ValueOf(d).Len() != before {
			t.Errorf("Image modified the document: %v", d)
		}
	}
	gone := map[string]any{"_id": oid.New(), "title": "d", deletedField: true}
	if err := s.Insert(t.Context(), c, gone); err != nil {
		t.Fatal(err)
	}
	if img, err := s.Image(c, gone); img != nil || err != nil {
		t.Errorf("soft-deleted: image %v, err %v; want nil, nil", img, err)
	}
	if _, err := s.Image(c, map[string]any{"_id": "not an id"}); err == nil {
		t.Error("no error for a document without an oid.ID _id")
	}
}
