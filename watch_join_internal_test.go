package limp

import (
	"reflect"
	"testing"

	"github.com/limp-go/limp/internal/query"
)

// TestRefPaths: the reference paths of a filter, nested joins (a
// permission's query_mod through a reference of the referenced module)
// included, each once; denied joins and plain conditions have none.
func TestRefPaths(t *testing.T) {
	sec := &query.Cond{Path: "open", Op: query.Eq, Value: true, Join: &query.Join{Local: "section", Collection: "sec"}}
	cat := &query.Cond{Path: "name", Op: query.Eq, Value: "news", Join: &query.Join{Local: "cat", Collection: "cat", Filter: sec}}
	cat2 := &query.Cond{Path: "kind", Op: query.Eq, Value: "x", Join: &query.Join{Local: "cat", Collection: "cat", Filter: sec}}
	denied := &query.Cond{Path: "name", Op: query.Eq, Value: "x", Join: &query.Join{Local: "owner", Collection: "user", Deny: true}}
	plain := &query.Cond{Path: "status", Op: query.Eq, Value: "published"}
	tests := []struct {
		name string
		f    query.Node
		want []refPath
	}{
		{"none", plain, nil},
		{"nil", nil, nil},
		{"denied", denied, nil},
		{"one level", &query.Cond{Path: "name", Op: query.Eq, Value: "n", Join: &query.Join{Local: "cat", Collection: "cat"}},
			[]refPath{{{"cat", "cat"}}}},
		{"chain, twice, under and/or", query.And{plain, query.Or{cat, cat2}, denied},
			[]refPath{{{"cat", "cat"}}, {{"cat", "cat"}, {"section", "sec"}}}},
	}
	for _, tt := range tests {
		if got := refPaths(nil, tt.f, nil); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
