package data

import (
	"regexp"
	"testing"
)

// TestPost checks the seed's shape that the benchmark's expected totals
// and both servers' validations rely on.
func TestPost(t *testing.T) {
	const n = 1000
	published, views3, views3Published := 0, 0, 0
	permalink := regexp.MustCompile(`^[a-z0-9-]+$`)
	seen := map[string]bool{}
	for i := range n {
		p := Post(i)
		if p["status"] == "published" {
			published++
		}
		if p["views"] == int64(3) {
			views3++
			if p["status"] == "published" {
				views3Published++
			}
		}
		pl := p["permalink"].(string)
		if !permalink.MatchString(pl) || seen[pl] {
			t.Fatalf("post %d: permalink %q invalid or repeated", i, pl)
		}
		seen[pl] = true
		for _, k := range []string{"title", "subtitle", "content"} {
			if loc, _ := p[k].(map[string]any); loc["ar_AE"] == nil {
				t.Errorf("post %d: %s lacks the default locale ar_AE: %v", i, k, p[k])
			}
		}
	}
	if published != n/2 || views3 != n/10 || views3Published != n/20 {
		t.Errorf("published %d, views=3 %d (published %d); want %d, %d, %d", published, views3, views3Published, n/2, n/10, n/20)
	}
	if np := NewPost(1, 2); !permalink.MatchString(np["permalink"].(string)) || np["status"] != nil || np["views"] != nil {
		t.Errorf("NewPost = %v", np)
	}
}
