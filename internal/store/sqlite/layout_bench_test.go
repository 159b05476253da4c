package sqlite

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp/internal/oid"
)

// BenchmarkLayout compares candidate table layouts in raw SQL, in one run,
// over blog-like documents (title, status, created, views, cat, content)
// with an index on (status, created): the old layout (JSON text,
// json_extract), JSONB storage (jsonb(), ->>), STORED generated columns
// for the declared scalars (filled by SQLite at write, before doc in the
// row), and the columns with a deferred join (the page's rowids first,
// documents fetched for those only). Sizes: $LIMP_BENCH_SIZES (default
// 10000). BENCHMARKS.md records the figures and the choice.
func BenchmarkLayout(b *testing.B) {
	type layout struct {
		name     string
		create   []string
		insert   string // ?1 id, ?2 doc text
		fetch    string // columns read for a document
		status   string // the expression of each attr
		created  string
		views    string
		deferred bool
	}
	cols := "(rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, deleted INTEGER NOT NULL DEFAULT 0, " +
		"\"a:title\" GENERATED ALWAYS AS (json_extract(doc, '$.title')) STORED, " +
		"\"a:status\" GENERATED ALWAYS AS (json_extract(doc, '$.status')) STORED, " +
		"\"a:created\" GENERATED ALWAYS AS (json_extract(doc, '$.created')) STORED, " +
		"\"a:views\" GENERATED ALWAYS AS (json_extract(doc, '$.views')) STORED, " +
		"\"a:cat\" GENERATED ALWAYS AS (json_extract(doc, '$.cat')) STORED, doc TEXT NOT NULL)"
	colIdx := []string{
		"CREATE UNIQUE INDEX u ON t (\"a:title\") WHERE deleted = 0",
		"CREATE INDEX i ON t (\"a:status\", \"a:created\" DESC, id) WHERE deleted = 0",
	}
	layouts := []layout{
		{name: "text", create: []string{
			"CREATE TABLE t (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)",
			"CREATE UNIQUE INDEX u ON t (json_extract(doc, '$.title')) WHERE deleted = 0",
			"CREATE INDEX i ON t (json_extract(doc, '$.status'), json_extract(doc, '$.created') DESC, id) WHERE deleted = 0"},
			insert: "INSERT INTO t (id, doc) VALUES (?, ?)", fetch: "id, doc",
			status: "json_extract(doc, '$.status')", created: "json_extract(doc, '$.created')", views: "json_extract(doc, '$.views')"},
		{name: "jsonb", create: []string{
			"CREATE TABLE t (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc BLOB NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)",
			"CREATE UNIQUE INDEX u ON t (doc ->> '$.title') WHERE deleted = 0",
			"CREATE INDEX i ON t (doc ->> '$.status', doc ->> '$.created' DESC, id) WHERE deleted = 0"},
			insert: "INSERT INTO t (id, doc) VALUES (?, jsonb(?))", fetch: "id, json(doc)",
			status: "doc ->> '$.status'", created: "doc ->> '$.created'", views: "doc ->> '$.views'"},
		{name: "columns", create: append([]string{"CREATE TABLE t " + cols}, colIdx...),
			insert: "INSERT INTO t (id, doc) VALUES (?, ?)", fetch: "id, doc",
			status: `"a:status"`, created: `"a:created"`, views: `"a:views"`},
		{name: "columns+deferred", create: append([]string{"CREATE TABLE t " + cols}, colIdx...),
			insert: "INSERT INTO t (id, doc) VALUES (?, ?)", fetch: "id, doc",
			status: `"a:status"`, created: `"a:created"`, views: `"a:views"`, deferred: true},
		// narrow: the columns in one table, the documents in another.
		{name: "narrow", create: []string{
			"CREATE TABLE d (rid INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
			"CREATE TABLE n (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, deleted INTEGER NOT NULL DEFAULT 0, " +
				"\"a:title\", \"a:status\", \"a:created\", \"a:views\", \"a:cat\")",
			"CREATE TRIGGER dn AFTER INSERT ON d BEGIN INSERT INTO n (rid, id, \"a:title\", \"a:status\", \"a:created\", \"a:views\", \"a:cat\") " +
				"VALUES (new.rid, new.doc ->> '$.id', new.doc ->> '$.title', new.doc ->> '$.status', new.doc ->> '$.created', new.doc ->> '$.views', new.doc ->> '$.cat'); END",
			"CREATE VIEW t AS SELECT n.*, d.doc FROM n JOIN d USING (rid)",
			"CREATE UNIQUE INDEX u ON n (\"a:title\") WHERE deleted = 0",
			"CREATE INDEX i ON n (\"a:status\", \"a:created\" DESC, id) WHERE deleted = 0"},
			insert: "INSERT INTO d (doc) VALUES (json_set(?2, '$.id', ?1))", fetch: "id, doc",
			status: `"a:status"`, created: `"a:created"`, views: `"a:views"`},
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	statuses := []string{"published", "draft", "published", "archived"}
	doc := func(i int) (string, string) {
		id := oid.NewAt(base.Add(time.Duration(i) * time.Second)).Hex()
		return id, fmt.Sprintf(`{"title":{"ar_AE":"عنوان %d","en_AE":"Title %d"},"status":%q,"created":%q,"views":%d,"cat":%q,`+
			`"user":"65f1c2a9e4b0a1b2c3d4e5f6","permalink":"post-%d","content":{"ar_AE":%q},"tags":["go","db"]}`,
			i, i, statuses[i%len(statuses)], base.Add(time.Duration(i*7919%100000)*time.Minute).Format("2006-01-02T15:04:05"),
			i%10, "65f1c2a9e4b0a1b2c3d4e5f7", i, strings.Repeat("محتوى ", 30))
	}
	for _, size := range benchSizes(b) {
		for _, l := range layouts {
			db, err := sql.Open("sqlite", fmt.Sprintf("file:/layout%d?vfs=memdb", memSeq.Add(1)))
			if err != nil {
				b.Fatal(err)
			}
			db.SetMaxOpenConns(1)
			for _, st := range l.create {
				if _, err := db.Exec(st); err != nil {
					b.Fatal(l.name, err)
				}
			}
			tx, _ := db.Begin()
			var ids []string
			for i := range size {
				id, d := doc(i)
				ids = append(ids, id)
				if _, err := tx.Exec(l.insert, id, d); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			list := func(where string, arg any) func(b *testing.B) {
				order := l.created + " DESC, id DESC"
				stmt := "SELECT " + l.fetch + " FROM t WHERE deleted = 0 AND " + where + " ORDER BY " + order + " LIMIT 20"
				if l.deferred {
					stmt = "SELECT " + l.fetch + " FROM (SELECT rid, row_number() OVER (ORDER BY " + order + ") AS o FROM t WHERE deleted = 0 AND " +
						where + " ORDER BY " + order + " LIMIT 20) AS k JOIN t ON t.rid = k.rid ORDER BY k.o"
				}
				count := "SELECT count(*) FROM t WHERE deleted = 0 AND " + where
				return func(b *testing.B) {
					for b.Loop() {
						rows, err := db.Query(stmt, arg)
						if err != nil {
							b.Fatal(err)
						}
						n := 0
						for rows.Next() {
							var id string
							var d []byte
							if err := rows.Scan(&id, &d); err != nil {
								b.Fatal(err)
							}
							n++
						}
						rows.Close()
						var total int
						if err := db.QueryRow(count, arg).Scan(&total); err != nil {
							b.Fatal(err)
						}
						if n != 20 || total == 0 {
							b.Fatalf("%d rows, total %d", n, total)
						}
					}
				}
			}
			pre := fmt.Sprintf("n=%d/%s/", size, l.name)
			b.Run(pre+"read_id", func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					var id string
					var d []byte
					if err := db.QueryRow("SELECT "+l.fetch+" FROM t WHERE id = ? AND deleted = 0", ids[i*7%len(ids)]).Scan(&id, &d); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(pre+"list_published", list(l.status+" = ?", "published"))
			b.Run(pre+"list_views", list(l.views+" = ?", 3))
			b.Run(pre+"create", func(b *testing.B) {
				i := size
				for b.Loop() {
					i++
					id, d := doc(i)
					if _, err := db.Exec(l.insert, id, d); err != nil {
						b.Fatal(err)
					}
				}
			})
			db.Close()
		}
	}
}
