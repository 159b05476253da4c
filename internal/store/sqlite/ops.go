package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// indexPrefix prefixes every index Sync maintains; Sync drops "limp_"
// indexes the schema no longer asks for and leaves others alone.
const indexPrefix = "limp_"

// IndexSQL returns the CREATE INDEX statements Sync maintains for c, keyed
// by index name, in a fixed order: unique sets then plain indexes.
func IndexSQL(c *schema.Collection) (names []string, stmts map[string]string, err error) {
	t := tableName(c.Name)
	stmts = map[string]string{}
	add := func(name, create string, keys []string) {
		if _, dup := stmts[name]; dup {
			return
		}
		names = append(names, name)
		stmts[name] = create + " " + quoteIdent(name) + " ON " + t + " (" + strings.Join(keys, ", ") + ") WHERE deleted = 0"
	}
	for _, set := range c.Unique {
		keys := make([]string, len(set))
		for i, a := range set {
			if keys[i], err = scalarExpr(c, "doc", "id", a); err != nil {
				return nil, nil, fmt.Errorf("unique index: %w", err)
			}
		}
		add(uniqueName(c, set), "CREATE UNIQUE INDEX", keys)
	}
	for _, ix := range c.Indexes {
		if len(ix) == 1 && isMultikey(c, ix[0].Path) {
			continue // a side table (multikey.go)
		}
		keys := make([]string, len(ix))
		var parts []string
		for i, k := range ix {
			if keys[i], err = scalarExpr(c, "doc", "id", k.Path); err != nil {
				return nil, nil, fmt.Errorf("index: %w", err)
			}
			part := k.Path
			if k.Desc {
				keys[i] += " DESC"
				part += "_desc"
			}
			parts = append(parts, part)
		}
		if len(keys) > 0 {
			// id last: the default tie-break of every sort, so that
			// "ORDER BY key, id" walks the index without sorting.
			add(indexPrefix+c.Name+"_i_"+strings.Join(parts, "_"), "CREATE INDEX", append(keys, "id"))
		}
	}
	return names, stmts, nil
}

func uniqueName(c *schema.Collection, set []string) string {
	return indexPrefix + c.Name + "_u_" + strings.Join(set, "_")
}

// Sync creates c's table, its indexes and its FTS table, dropping "limp_"
// indexes no longer declared and re-indexing the FTS table when c.Search
// changed.
func (s *Store) Sync(ctx context.Context, c *schema.Collection) error {
	if err := s.check(); err != nil {
		return err
	}
	names, stmts, err := IndexSQL(c)
	if err != nil {
		return fmt.Errorf("sync %s: %w", c.Name, err)
	}
	t := tableName(c.Name)
	var adaptHave map[string][]string // adaptive.go
	var adaptOrder []string
	err = s.Tx(ctx, func(ctx context.Context) error {
		q := s.q(ctx)
		if _, err := q.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS limp_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"); err != nil {
			return err
		}
		if err := migrateTable(ctx, q, c); err != nil {
			return fmt.Errorf("migrate table: %w", err)
		}
		if _, err := q.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+t+tableColumns); err != nil {
			return err
		}
		have := map[string]string{}
		rows, err := q.QueryContext(ctx, "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND substr(name, 1, 5) = ?",
			"c_"+c.Name, indexPrefix)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name string
			var def sql.NullString
			if err := rows.Scan(&name, &def); err != nil {
				rows.Close()
				return err
			}
			have[name] = def.String
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for name, def := range have {
			if want, ok := stmts[name]; !ok || want != def {
				if _, err := q.ExecContext(ctx, "DROP INDEX "+quoteIdent(name)); err != nil {
					return err
				}
				delete(have, name)
			}
		}
		for _, name := range names {
			if _, ok := have[name]; ok {
				continue
			}
			if _, err := q.ExecContext(ctx, stmts[name]); err != nil {
				if isUnique(err) {
					return fmt.Errorf("create index %s: stored documents already repeat a value: %w", name, err)
				}
				return fmt.Errorf("create index %s: %w", name, err)
			}
		}
		if err := syncMultikey(ctx, q, c); err != nil {
			return err
		}
		if err := syncColumns(ctx, q, c); err != nil {
			return err
		}
		if err := s.syncMixed(ctx, q, c); err != nil {
			return err
		}
		if adaptHave, adaptOrder, err = s.syncAdaptive(ctx, q, c); err != nil {
			return err
		}
		return s.syncFTS(ctx, q, c)
	})
	if err != nil {
		return fmt.Errorf("sync %s: %w", c.Name, err)
	}
	s.adaptSynced(c, adaptHave, adaptOrder)
	return nil
}

// tableColumns define a collection's table. rid is the rowid, made an
// INTEGER PRIMARY KEY so that it never changes (VACUUM renumbers implicit
// rowids): the full-text table refers to documents by it.
const tableColumns = " (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)"

// migrateTable rebuilds a table of the first layout (id TEXT PRIMARY KEY,
// implicit rowid) into tableColumns' layout, keeping the documents; its
// indexes go with the old table (Sync recreates them) and its full-text
// table is marked for re-indexing.
func migrateTable(ctx context.Context, q querier, c *schema.Collection) error {
	name := "c_" + c.Name
	var tables, rids int
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", name).Scan(&tables); err != nil {
		return err
	}
	if tables == 0 {
		return nil
	}
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info(?) WHERE name = 'rid'", name).Scan(&rids); err != nil {
		return err
	}
	if rids > 0 {
		return nil
	}
	old := quoteIdent(name + "__old")
	for _, st := range []string{
		"ALTER TABLE " + quoteIdent(name) + " RENAME TO " + old,
		"CREATE TABLE " + quoteIdent(name) + tableColumns,
		"INSERT INTO " + quoteIdent(name) + " (id, doc, deleted) SELECT id, doc, deleted FROM " + old + " ORDER BY rowid",
		"DROP TABLE " + old,
		"DELETE FROM limp_meta WHERE key IN ('search:' || " + sqlString(c.Name) + ", 'multikey:' || " + sqlString(c.Name) + ", 'columns:' || " + sqlString(c.Name) + ")",
	} {
		if _, err := q.ExecContext(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (s *Store) syncFTS(ctx context.Context, q querier, c *schema.Collection) error {
	f := ftsName(c.Name)
	key := "search:" + c.Name
	if len(c.Search) == 0 {
		if _, err := q.ExecContext(ctx, "DROP TABLE IF EXISTS "+f); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, "DELETE FROM limp_meta WHERE key = ?", key)
		return err
	}
	want := ftsVersion + strings.Join(c.Search, ",")
	var have string
	err := q.QueryRowContext(ctx, "SELECT value FROM limp_meta WHERE key = ?", key).Scan(&have)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if have == want {
		if _, err := q.ExecContext(ctx, "CREATE VIRTUAL TABLE IF NOT EXISTS "+f+ftsColumns); err != nil {
			return fmt.Errorf("create full-text table: %w", err)
		}
		return nil
	}
	// Another layout or other attrs: rebuild the table.
	if _, err := q.ExecContext(ctx, "DROP TABLE IF EXISTS "+f); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, "CREATE VIRTUAL TABLE "+f+ftsColumns); err != nil {
		return fmt.Errorf("create full-text table: %w", err)
	}
	rows, err := q.QueryContext(ctx, "SELECT rowid, doc FROM "+tableName(c.Name))
	if err != nil {
		return err
	}
	type entry struct {
		rowid int64
		text  ftsEntry
	}
	var todo []entry
	for rows.Next() {
		var e entry
		var doc []byte
		if err := rows.Scan(&e.rowid, &doc); err != nil {
			rows.Close()
			return err
		}
		d, err := decodeDoc(c, oid.Nil.Hex(), doc)
		if err != nil {
			rows.Close()
			return err
		}
		e.text = searchText(c, d)
		todo = append(todo, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, e := range todo {
		if _, err := q.ExecContext(ctx, ftsInsert(c), e.rowid, e.text.terms, e.text.raw); err != nil {
			return err
		}
	}
	_, err = q.ExecContext(ctx, "INSERT INTO limp_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, want)
	return err
}

// dupError maps a UNIQUE violation to a *store.DuplicateError naming the
// violated set.
func dupError(c *schema.Collection, err error) error {
	if !isUnique(err) {
		return err
	}
	msg := err.Error()
	for _, set := range c.Unique {
		if strings.Contains(msg, "'"+uniqueName(c, set)+"'") {
			return &store.DuplicateError{Attrs: append([]string(nil), set...)}
		}
	}
	if strings.Contains(msg, "c_"+c.Name+".id") || len(c.Unique) == 0 {
		return &store.DuplicateError{Attrs: []string{"_id"}}
	}
	return &store.DuplicateError{Attrs: append([]string(nil), c.Unique[0]...)}
}

// read runs q, compiled with the mixed attrs of mixed (see Read).
func (s *Store) read(ctx context.Context, c *schema.Collection, q *query.Query, mixed mixedFn) (*store.Result, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if q == nil {
		q = &query.Query{}
	}
	p, err := compile(c, q, false, mixed)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.Name, err)
	}
	s.adaptRead(c, q, p)
	res := &store.Result{Docs: []map[string]any{}}
	if len(q.Group) > 0 {
		res.Groups = make(map[string][]store.Bucket, len(q.Group))
		for _, g := range q.Group {
			res.Groups[g.By] = []store.Bucket{}
		}
	}
	stmt, args := p.Select("id, doc")
	if paged := q.Skip > 0 || q.Limit > 0; paged || len(q.Group) > 0 {
		// Page, total and buckets from one snapshot (readtx.go).
		texts := []string{stmt}
		if paged {
			cstmt, _ := p.Count()
			texts = append(texts, cstmt)
		}
		var end func()
		if ctx, end, err = s.readSnapshot(ctx, texts...); err != nil {
			return nil, fmt.Errorf("read %s: %w", c.Name, err)
		}
		defer end()
	}
	db := s.q(ctx)
	rows, err := s.query(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.Name, err)
	}
	for rows.Next() {
		var id string
		var doc []byte
		if err := rows.Scan(&id, &doc); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read %s: %w", c.Name, err)
		}
		d, err := decodeRow(ctx, c, id, doc) // rawread.go: ReadRaw keeps the text
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("read %s: decode document %s: %w", c.Name, id, err)
		}
		if q.Attrs != nil {
			d = project(d, q.Attrs)
		}
		res.Docs = append(res.Docs, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", c.Name, err)
	}
	if q.Skip > 0 || q.Limit > 0 {
		stmt, args := p.Count()
		if err := s.queryRow(ctx, stmt, args...).Scan(&res.Total); err != nil {
			return nil, fmt.Errorf("read %s: count: %w", c.Name, err)
		}
	} else {
		res.Total = int64(len(res.Docs))
	}
	if res.Total == 0 {
		return res, nil
	}
	for _, g := range q.Group {
		bs, err := s.group(ctx, db, c, p, g)
		if err != nil {
			return nil, fmt.Errorf("read %s: $group %s: %w", c.Name, g.By, err)
		}
		res.Groups[g.By] = bs
	}
	return res, nil
}

func (s *Store) group(ctx context.Context, db querier, c *schema.Collection, p *Compiled, g query.Group) ([]store.Bucket, error) {
	stmt, args, err := p.Group(c, g)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	t := groupType(c, g.By)
	plain := p.groupPlain(c, g.By)
	var bad error
	conv := func(v any) any {
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		if js, ok := v.(string); ok && !plain {
			x, err := jsonv.Parse([]byte(js))
			if err != nil {
				bad = err
			}
			v = x
		}
		if t != nil && t.Kind == schema.Bool {
			if n, ok := v.(int64); ok {
				return n != 0
			}
		}
		return convertIDs(t, v)
	}
	bs := []store.Bucket{}
	var maxes []any
	for rows.Next() {
		var b store.Bucket
		var mx any
		if err := rows.Scan(&b.Min, &mx, &b.Count); err != nil {
			return nil, err
		}
		b.Min = conv(b.Min)
		bs = append(bs, b)
		maxes = append(maxes, conv(mx))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, fmt.Errorf("decode bucket bound: %w", bad)
	}
	for i := range bs {
		if i+1 < len(bs) {
			bs[i].Max = bs[i+1].Min
		} else {
			bs[i].Max = maxes[i]
		}
	}
	return bs, nil
}

// Insert stores docs atomically.
func (s *Store) Insert(ctx context.Context, c *schema.Collection, docs ...map[string]any) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(docs) == 0 {
		return nil
	}
	type row struct {
		id      string
		body    []byte
		text    ftsEntry
		deleted bool
	}
	rows := make([]row, len(docs))
	for i, d := range docs {
		id, body, err := encodeDoc(d)
		if err != nil {
			return fmt.Errorf("insert into %s: document %d: %w", c.Name, i, err)
		}
		rows[i] = row{id: id.Hex(), body: body, deleted: d[deletedField] == true}
		if len(c.Search) > 0 {
			rows[i].text = searchText(c, d)
		}
	}
	mixed := s.noteMixed(c, docs...)
	t := tableName(c.Name)
	insert := "INSERT INTO " + t + " (id, doc, deleted) VALUES (?, ?, ?)"
	if len(c.Search) > 0 {
		s.warm(ctx, insert, ftsInsert(c))
	} else {
		s.warm(ctx, insert)
	}
	err := s.grouped(ctx, func(ctx context.Context) error {
		if err := s.persistMixed(ctx, c, mixed); err != nil {
			return err
		}
		for _, r := range rows {
			res, err := s.exec(ctx, insert, r.id, string(r.body), r.deleted)
			if err != nil {
				return dupError(c, err)
			}
			if len(c.Search) > 0 {
				rowid, err := res.LastInsertId()
				if err != nil {
					return err
				}
				if _, err := s.exec(ctx, ftsInsert(c), rowid, r.text.terms, r.text.raw); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("insert into %s: %w", c.Name, err)
	}
	return nil
}

type match struct {
	rowid int64
	id    oid.ID
	doc   []byte
}

// matches selects the documents q.Filter matches, at most q.Limit in
// q.Sort order.
func (s *Store) matches(ctx context.Context, c *schema.Collection, q *query.Query, withDoc bool) ([]match, error) {
	return s.selectRows(ctx, c, q, withDoc, false)
}

// selectRows is matches; purge selects soft-deleted documents too.
func (s *Store) selectRows(ctx context.Context, c *schema.Collection, q *query.Query, withDoc, purge bool) ([]match, error) {
	if q == nil {
		q = &query.Query{}
	}
	sel := &query.Query{Filter: q.Filter, Search: q.Search, Sort: q.Sort, Limit: q.Limit, GeoNear: q.GeoNear}
	p, err := compile(c, sel, purge, s.mixedFor(ctx, c, false))
	if err != nil {
		return nil, err
	}
	cols := p.Table + ".rowid, id, NULL"
	if withDoc {
		cols = p.Table + ".rowid, id, doc"
	}
	stmt, args := p.Select(cols)
	rows, err := s.query(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []match
	for rows.Next() {
		var m match
		var id string
		if err := rows.Scan(&m.rowid, &id, &m.doc); err != nil {
			return nil, err
		}
		if m.id, err = oid.Parse(id); err != nil {
			return nil, fmt.Errorf("stored id %q: %w", id, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func ids(ms []match) []oid.ID {
	out := make([]oid.ID, len(ms))
	for i, m := range ms {
		out[i] = m.id
	}
	return out
}

// Update applies u to the matching documents atomically; a document the
// update leaves as it was is not written (nor counted modified).
func (s *Store) Update(ctx context.Context, c *schema.Collection, q *query.Query, u *store.Update) (*store.UpdateResult, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []oid.ID
	var modified int64
	t := tableName(c.Name)
	s.warm(ctx, "UPDATE "+t+" SET doc = ? WHERE rowid = ?")
	err := s.Tx(ctx, func(ctx context.Context) error {
		ms, err := s.matches(ctx, c, q, true)
		if err != nil {
			return err
		}
		out = ids(ms)
		if u.Empty() {
			return nil
		}
		db := s.q(ctx)
		for _, m := range ms {
			v, err := jsonv.Parse(m.doc)
			if err != nil {
				return fmt.Errorf("decode document %s: %w", m.id, err)
			}
			doc, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("stored document %s is %T", m.id, v)
			}
			before, err := jsonv.Marshal(doc)
			if err != nil {
				return fmt.Errorf("document %s: %w", m.id, err)
			}
			if err := applyUpdate(doc, u); err != nil {
				return fmt.Errorf("document %s: %w", m.id, err)
			}
			if err := checkBounds(m.id, doc, u); err != nil {
				return err
			}
			body, err := jsonv.Marshal(doc)
			if err != nil {
				return fmt.Errorf("document %s: %w", m.id, err)
			}
			if bytes.Equal(body, before) {
				continue // unchanged: MongoDB neither writes nor counts it
			}
			if err := s.persistMixed(ctx, c, s.noteMixed(c, doc)); err != nil {
				return err
			}
			modified++
			if _, err := s.exec(ctx, "UPDATE "+t+" SET doc = ? WHERE rowid = ?", string(body), m.rowid); err != nil {
				return dupError(c, err)
			}
			if len(c.Search) > 0 {
				f := ftsName(c.Name)
				if _, err := db.ExecContext(ctx, "DELETE FROM "+f+" WHERE rowid = ?", m.rowid); err != nil {
					return err
				}
				e := searchText(c, doc)
				if _, err := db.ExecContext(ctx, ftsInsert(c), m.rowid, e.terms, e.raw); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", c.Name, err)
	}
	return &store.UpdateResult{Matched: out, Modified: modified}, nil
}

// Delete removes (hard: live and soft-deleted documents alike, a purge)
// or marks deleted (soft: live documents) the matching documents.
func (s *Store) Delete(ctx context.Context, c *schema.Collection, q *query.Query, hard bool) ([]oid.ID, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []oid.ID
	t := tableName(c.Name)
	err := s.Tx(ctx, func(ctx context.Context) error {
		ms, err := s.selectRows(ctx, c, q, false, hard)
		if err != nil || len(ms) == 0 {
			return err
		}
		out = ids(ms)
		var list strings.Builder
		list.WriteByte('[')
		for i, m := range ms {
			if i > 0 {
				list.WriteByte(',')
			}
			list.WriteString(strconv.FormatInt(m.rowid, 10))
		}
		list.WriteByte(']')
		in := " WHERE rowid IN (SELECT value FROM json_each(?))"
		stmt := "UPDATE " + t + " SET deleted = 1" + in
		if hard {
			stmt = "DELETE FROM " + t + in
		}
		db := s.q(ctx)
		if _, err := s.exec(ctx, stmt, list.String()); err != nil {
			return err
		}
		// The full-text table covers soft-deleted documents too (as
		// MongoDB's text index), so that a purge can $search them.
		if len(c.Search) > 0 && hard {
			if _, err := db.ExecContext(ctx, "DELETE FROM "+ftsName(c.Name)+in, list.String()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete from %s: %w", c.Name, err)
	}
	return out, nil
}
