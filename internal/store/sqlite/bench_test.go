package sqlite

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
)

// benchSizes are the collection sizes BenchmarkRead runs at:
// $LIMP_BENCH_SIZES (comma-separated), default 10000. BENCHMARKS.md
// records 10000,100000 to show how cost grows.
func benchSizes(b *testing.B) []int {
	v := os.Getenv("LIMP_BENCH_SIZES")
	if v == "" {
		return []int{10000}
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("LIMP_BENCH_SIZES: bad size %q", f)
		}
		out = append(out, n)
	}
	return out
}

// benchStore returns a store holding n documents in c.
func benchStore(b *testing.B, c *schema.Collection, n int) *Store {
	b.Helper()
	s, err := Open(b.Context(), ":memory:", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Sync(b.Context(), c); err != nil {
		b.Fatal(err)
	}
	words := []string{"red", "green", "blue", "apple", "pear", "plum", "fresh", "ripe", "sweet", "sour"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	docs := make([]map[string]any, n)
	for i := range docs {
		docs[i] = map[string]any{
			"_id":   oid.NewAt(base.Add(time.Duration(i) * time.Second)),
			"title": fmt.Sprintf("item %d", i),
			"n":     int64(i % 1000),
			"f":     float64(i) / 7,
			"ok":    i%2 == 0,
			"tags":  []any{words[i%10], words[(i/10)%10]},
			"loc":   map[string]any{"en_AE": words[i%10] + " " + words[(i/7)%10] + " " + words[(i/3)%10] + fmt.Sprintf(" tok%d", i%1000)},
		}
	}
	if err := s.Insert(b.Context(), c, docs...); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRead measures typical reads over 10,000 documents, with the
// collection's indexes and without (baseline).
func BenchmarkRead(b *testing.B) {
	queries := []struct {
		name string
		q    *query.Query
	}{
		{"eq", &query.Query{Filter: &query.Cond{Path: "title", Op: query.Eq, Value: "item 4242"}}},
		{"range_sort_limit_total", &query.Query{Filter: &query.Cond{Path: "n", Op: query.Bet, Value: int64(100), Value2: int64(199)},
			Sort: []query.Sort{{Path: "n", Desc: true}}, Limit: 20}},
		{"list_eq", &query.Query{Filter: &query.Cond{Path: "tags", Op: query.Eq, Value: "plum"}, Limit: 20}},
		{"search", &query.Query{Search: "plum ripe", Limit: 20}},       // common words: ~40% of docs match
		{"search_selective", &query.Query{Search: "tok42", Limit: 20}}, // 0.1% of docs match
		{"group", &query.Query{Limit: 1, Group: []query.Group{{By: "n", Count: 10}}}},
	}
	for _, size := range benchSizes(b) {
		for _, indexed := range []bool{true, false} {
			c := testCollection()
			if !indexed {
				c.Unique, c.Indexes = nil, nil
			}
			s := benchStore(b, c, size)
			for _, tt := range queries {
				name := fmt.Sprintf("n=%d/%s", size, tt.name)
				if !indexed {
					name += "/noindex"
				}
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						if _, err := s.Read(b.Context(), c, tt.q); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkInsert measures single-document inserts (one transaction each).
func BenchmarkInsert(b *testing.B) {
	c := testCollection()
	s, err := Open(b.Context(), ":memory:", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(b.Context(), c); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if err := s.Insert(b.Context(), c, map[string]any{"_id": oid.New(), "title": fmt.Sprint("t", i), "n": int64(i), "loc": map[string]any{"en_AE": "some text"}}); err != nil {
			b.Fatal(err)
		}
	}
}
