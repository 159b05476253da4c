// Package data is the benchmark's data set: the same categories and posts,
// in the same order, for PocketBase and for limp-go's example blog.
package data

import (
	"fmt"
	"strconv"
)

// Cats is the number of categories; post i is in category i % Cats.
const Cats = 10

// Cat is category i's title in the example's two locales.
func Cat(i int) map[string]any {
	return map[string]any{"ar_AE": "تصنيف " + strconv.Itoa(i), "en_AE": "Category " + strconv.Itoa(i)}
}

// Post is post i of the seed (0-based), without its category (the
// servers link Cat(i % Cats)) and without its owner: status "published"
// for half of the posts (in runs of 10), views i % 10 (so each value,
// 3 included, is held by 10% of the posts, half of them published), a
// unique permalink "post-i", a title, a subtitle, content and two tags.
func Post(i int) map[string]any {
	status := "published"
	if (i/10)%2 == 1 {
		status = []string{"draft", "pending", "rejected"}[(i/20)%3]
	}
	return map[string]any{
		"status":    status,
		"title":     map[string]any{"ar_AE": "تدوينة " + strconv.Itoa(i), "en_AE": "Post " + strconv.Itoa(i)},
		"subtitle":  map[string]any{"ar_AE": "عنوان فرعي", "en_AE": "Subtitle of post " + strconv.Itoa(i)},
		"content":   map[string]any{"ar_AE": "نص", "en_AE": fmt.Sprintf("Content of post %d: a paragraph of a few words, repeated to make a post of a realistic size. Lorem ipsum dolor sit amet, consectetur adipiscing elit.", i)},
		"permalink": "post-" + strconv.Itoa(i),
		"tags":      []any{"tag" + strconv.Itoa(i%7), "tag" + strconv.Itoa(i%13)},
		"views":     int64(i % 10),
	}
}

// NewPost is the body of the i-th post a benchmark client creates (as an
// author, not an admin: status and views are the server's to set).
func NewPost(worker, i int) map[string]any {
	return map[string]any{
		"title":     map[string]any{"ar_AE": "جديدة", "en_AE": "New post"},
		"content":   map[string]any{"ar_AE": "نص", "en_AE": "Content of a new post."},
		"permalink": fmt.Sprintf("new-%d-%d", worker, i),
		"tags":      []any{"new"},
	}
}

// ReadyPrefix starts the line a server prints on stdout once it is
// seeded and listening: "READY <base URL>".
const ReadyPrefix = "READY "
