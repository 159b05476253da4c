package sqlite

import (
	"fmt"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
)

// oldLayoutFile is a database written by the store before typed columns
// (tables "c_<name>"(rid, id, doc TEXT, deleted) with json_extract
// expression indexes), made by oldlayout_gen_test.go (build tag
// oldlayout) from oldLayoutDocs.
const oldLayoutFile = "testdata/oldlayout.db"

// blogCollection is a collection like examples/blog's blog: declared
// scalars, a compound index on (status, created), a unique title.
func blogCollection() *schema.Collection {
	str := &schema.Type{Kind: schema.Str}
	return &schema.Collection{
		Name:   "blog",
		Module: "blog",
		Attrs: map[string]*schema.Type{
			"title":   str,
			"status":  str,
			"created": {Kind: schema.Datetime},
			"views":   {Kind: schema.Int},
			"score":   {Kind: schema.Float},
			"pinned":  {Kind: schema.Bool},
			"cat":     {Kind: schema.ID},
			"tags":    {Kind: schema.List, Items: []*schema.Type{str}},
			"body":    {Kind: schema.Dict, Fields: map[string]*schema.Type{"lead": str, "words": {Kind: schema.Int}}},
			"extra":   {Kind: schema.Any},
		},
		Unique:  [][]string{{"title"}},
		Indexes: [][]schema.IndexKey{{{Path: "status"}, {Path: "created", Desc: true}}, {{Path: "tags"}}},
		Search:  []string{"title"},
	}
}

// oldLayoutDocs returns the documents of oldLayoutFile by collection:
// every kind of value a declared scalar may meet in a store (missing,
// null, the declared type, another type), lists, DICTs, soft-deleted
// documents.
func oldLayoutDocs() map[string][]map[string]any {
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	id := func(i int) oid.ID { // deterministic: the file must match
		var o oid.ID
		t := oid.NewAt(base.Add(time.Duration(i) * time.Minute))
		copy(o[:4], t[:4])
		o[8], o[9], o[10], o[11] = 0xab, byte(i>>16), byte(i>>8), byte(i)
		return o
	}
	var blog []map[string]any
	statuses := []any{"published", "draft", nil, "published", "archived"}
	for i := range 60 {
		d := map[string]any{
			"_id":     id(i),
			"title":   fmt.Sprintf("post %02d", i),
			"status":  statuses[i%len(statuses)],
			"created": base.Add(time.Duration(i*37%60) * time.Hour).Format("2006-01-02T15:04:05"),
			"views":   int64(i % 7),
			"score":   float64(i) / 4,
			"pinned":  i%3 == 0,
			"cat":     id(1000 + i%4),
			"tags":    []any{fmt.Sprint("t", i%5), fmt.Sprint("t", i%3)},
			"body":    map[string]any{"lead": fmt.Sprintf("lead \u00e9 %d \"q\"\n", i), "words": int64(i * 10)},
		}
		switch i % 10 {
		case 1:
			delete(d, "views") // missing
		case 2:
			d["views"] = nil
		case 3:
			d["views"] = "3" // another type than declared
		case 4:
			d["score"] = int64(i) // an int in a FLOAT attr
		case 5:
			d["extra"] = []any{int64(1), "x", map[string]any{"k": true}}
		case 6:
			d["__deleted"] = true
		case 7:
			delete(d, "body")
		case 8:
			d["body"] = map[string]any{"lead": nil}
		case 9:
			d["extra"] = "nul\x00inside"
		}
		blog = append(blog, d)
	}
	return map[string][]map[string]any{"blog": blog}
}
