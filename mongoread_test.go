package limp_test

import (
	"testing"

	"github.com/limp-go/limp"
)

// TestUpdateCountsModified: update's count is MongoDB's modifiedCount, its
// docs the matched ids (spec §8.5, issue 11 item 7).
func TestUpdateCountsModified(t *testing.T) {
	s := testApp(t, limp.Config{})
	c := dial(t, s.WS)
	r := must(t, c.call("post/create", nil, map[string]any{"title": map[string]any{"en_AE": "T"}, "permalink": "p", "rank": 1}))
	id := docs(t, r)[0]["_id"].(string)
	byID := []any{map[string]any{"_id": id}}
	for _, tt := range []struct {
		doc   map[string]any
		count float64
	}{
		{map[string]any{"rank": 2}, 1},
		{map[string]any{"rank": 2}, 0},
		{map[string]any{"rank": 2, "status": "draft"}, 0},
		{map[string]any{"status": "published"}, 1},
	} {
		r := must(t, c.call("post/update", byID, tt.doc))
		d := docs(t, r)
		if r.Args["count"] != tt.count || len(d) != 1 || d[0]["_id"] != id {
			t.Errorf("update %v = %q %v, want count %v and the matched doc", tt.doc, r.Msg, r.Args, tt.count)
		}
	}
}

// TestPurgeSoftDeleted: a `$soft: true` delete (hard, for the module's
// admins) removes matching documents whether live or soft-deleted (issue
// 11 item 8).
func TestPurgeSoftDeleted(t *testing.T) {
	s := testApp(t, limp.Config{})
	c := dial(t, s.WS)
	r := must(t, c.call("post/create", nil, map[string]any{"title": map[string]any{"en_AE": "T"}, "permalink": "p"}))
	id := docs(t, r)[0]["_id"].(string)
	r = must(t, c.call("post/delete", []any{map[string]any{"_id": id}}, nil))
	if r.Args["count"] != 1.0 {
		t.Fatalf("soft delete = %+v", r)
	}
	r = must(t, c.call("post/delete", []any{map[string]any{"_id": id}}, nil))
	if r.Args["count"] != 0.0 {
		t.Fatalf("soft delete of a soft-deleted doc = %+v", r)
	}
	r = must(t, c.call("post/delete", []any{map[string]any{"_id": id, "$soft": true}}, nil))
	if r.Msg != "Deleted 1 docs." || r.Args["count"] != 1.0 {
		t.Fatalf("purge = %+v", r)
	}
	r = must(t, c.call("post/delete", []any{map[string]any{"_id": id, "$soft": true}}, nil))
	if r.Args["count"] != 0.0 {
		t.Fatalf("purge of a purged doc = %+v", r)
	}
}
