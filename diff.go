package limp

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store"
)

// DiffFunc decides per call whether a module's update or delete writes
// diffs (LIMP's diff ATTR_MOD condition, spec §6.16). It sees the call
// after the permission check (its Query and Doc modified).
type DiffFunc func(ctx context.Context, c *Call) bool

// SkipDiff makes an internal call write no diff (LIMP's Event.DIFF, spec
// §5.4). Combine with the other Skip flags.
const SkipDiff = Skip(skipDiff)

const skipDiff skipSet = 1 << 8

// coreDiff is the stored shape of one audit record (spec §6.16, with
// LIMP's bug fixed: vars hold the new values and prev the previous values
// of the attrs the write changed, keyed by attr name, never operators).
type coreDiff struct {
	Doc
	// Module is the module written; DocID the document's _id.
	Module string `json:"module"`
	DocID  ID     `json:"doc"`
	// Oper is "update", "delete" (soft) or "purge" ($soft: true).
	Oper string `json:"oper" validate:"oneof=update delete purge"`
	// Vars are the new values of the changed attrs (empty on delete).
	Vars map[string]any `json:"vars" limp:"default={}"`
	// Prev are the values the changed attrs held before the write; on
	// delete, the whole document.
	Prev map[string]any `json:"prev" limp:"default={}"`
	// User is the caller's user _id; Endpoint the call's endpoint.
	User     ID     `json:"user"`
	Endpoint string `json:"endpoint"`
	Remarks  string `json:"remarks" limp:"default="`
}

// newDiffModule declares the core module diff: read and delete for the
// holders of diff.read / diff.delete (admins), create for internal calls
// only.
func newDiffModule() *Module {
	m := NewModule[coreDiff]("diff", Methods{
		"read":   {Permissions: Perms("read")},
		"create": {Permissions: Perms("__sys")},
		"delete": {Permissions: Perms("delete"), QueryArgs: []Args{{"_id": {Type: TypeID}}}},
	})
	m.Desc = "Audit log (spec §6.16): one doc per document changed by an update or delete of a module declaring Diff. " +
		"`vars` holds the new values and `prev` the previous values of the changed attrs. " +
		"A document's history: `diff/read` with `[{\"module\": \"blog\", \"doc\": \"<_id>\"}]` (admins), or `{module}/history` with `[{\"_id\": \"<_id>\"}]` for whoever may read the document."
	m.Indexes = [][]string{{"module", "doc"}}
	return m
}

// diffOn reports whether call c writes diffs.
func (a *App) diffOn(ctx context.Context, c *Call) bool {
	if c.skip&skipDiff != 0 || a.modules["diff"] == nil {
		return false
	}
	switch d := c.Module.Diff.(type) {
	case bool:
		return d
	case DiffFunc:
		return d(ctx, c)
	case func(context.Context, *Call) bool:
		return d(ctx, c)
	}
	return false
}

// checkDiffDecl reports a Diff of the wrong type.
func checkDiffDecl(m *Module) error {
	switch m.Diff.(type) {
	case nil, bool, DiffFunc, func(context.Context, *Call) bool:
		return nil
	}
	return fmt.Errorf("module %q: Diff must be a bool or a DiffFunc, not %T", m.Name, m.Diff)
}

// addHistoryMethod declares {module}/history on a module with Diff, unless
// it declares its own: the module's read privileges, query {_id}.
func addHistoryMethod(a *App, m *Module) {
	if m.Diff == nil || m.Diff == false || m.Collection == "" {
		return
	}
	read := m.Methods["read"]
	if read == nil || m.Methods["history"] != nil {
		return
	}
	var perms []Perm
	for _, p := range read.Permissions {
		if !slices.ContainsFunc(perms, func(q Perm) bool { return q.Privilege == p.Privilege }) {
			perms = append(perms, Perm{Privilege: p.Privilege})
		}
	}
	m.Methods["history"] = &Method{Permissions: perms, Handler: a.diffHistory,
		QueryArgs: []Args{{"_id": {Type: TypeID}}},
		Desc:      "Lists the document's diffs, newest first (`$limit`, `$skip` apply), if the caller may read the document through `read`: `{_id, module, doc, oper, vars, prev, user, endpoint, remarks, create_time}`; none for a document that is missing or that the caller may not read (as `read` answers)."}
}

// diffHistory is {module}/history: the diffs of one document the caller
// may read, newest first; none (200 "Found 0 docs.") for a document that
// is missing or that the caller may not read.
func (a *App) diffHistory(ctx context.Context, c *Call) (*Result, error) {
	id, _ := toID(first(c.Query.Values("_id")))
	r, err := c.Invoke(ctx, c.Module.Name+"/read", NewQuery(M{"_id": id}, M{"$attrs": []any{"_id"}, "$limit": 1}), nil, SkipExtensions)
	if err != nil {
		return nil, err
	}
	if n, _ := r.Args["count"].(int64); n == 0 {
		// A document the caller may not read answers as a missing one,
		// and both as read answers a query matching nothing (spec §7:
		// 200, no docs): the caller learns nothing.
		return OK("Found 0 docs.", M{"total": int64(0), "count": int64(0), "docs": []any{}, "groups": M{}}), nil
	}
	q := &query.Query{Filter: query.AndFilter(
		&query.Cond{Path: "module", Op: query.Eq, Value: c.Module.Name},
		&query.Cond{Path: "doc", Op: query.Eq, Value: id})}
	if v, ok := c.Query.Special("$limit"); ok {
		if n, ok := toInt64(v); ok && n > 0 {
			q.Limit = n
		}
	}
	if v, ok := c.Query.Special("$skip"); ok {
		if n, ok := toInt64(v); ok && n > 0 {
			q.Skip = n
		}
	}
	res, err := a.store.Read(ctx, a.modules["diff"].coll, q)
	if err != nil {
		return nil, err
	}
	docs := make([]any, len(res.Docs))
	for i, d := range res.Docs {
		docs[i] = d
	}
	return OK(fmt.Sprintf("Found %d docs.", len(docs)), M{"total": res.Total, "count": int64(len(docs)), "docs": docs, "groups": M{}}), nil
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), n == float64(int64(n))
	}
	return 0, false
}

// updateDiffed is the store update of base update, with the diffs of the
// documents it changed written in the same transaction when the module
// diffs.
func (a *App) updateDiffed(ctx context.Context, c *Call, q *query.Query, u *store.Update) (*store.UpdateResult, error) {
	m := c.Module
	if !a.diffOn(ctx, c) {
		return a.store.Update(ctx, m.coll, q, u)
	}
	var roots []string
	for _, p := range u.Paths() {
		r, _, _ := strings.Cut(p, ".")
		if !slices.Contains(roots, r) && !a.secretAttr(m, r) {
			roots = append(roots, r)
		}
	}
	slices.Sort(roots)
	var res *store.UpdateResult
	err := a.store.Tx(ctx, func(ctx context.Context) error {
		probe := *q
		probe.Attrs = roots
		before, err := a.store.Read(ctx, m.coll, &probe)
		if err != nil {
			return err
		}
		if res, err = a.store.Update(ctx, m.coll, q, u); err != nil {
			return err
		}
		if res.Modified == 0 {
			return nil
		}
		after, err := a.readIDs(ctx, m, res.Matched, roots)
		if err != nil {
			return err
		}
		prevByID := make(map[ID]map[string]any, len(before.Docs))
		for _, d := range before.Docs {
			prevByID[d["_id"].(ID)] = d
		}
		now := time.Now()
		var diffs []map[string]any
		for _, id := range res.Matched {
			prev, next := prevByID[id], after[id]
			if next == nil {
				continue
			}
			pv, nv := M{}, M{}
			for _, r := range roots {
				ov, oOK := prev[r]
				v, ok := next[r]
				if oOK == ok && reflect.DeepEqual(ov, v) {
					continue
				}
				pv[r], nv[r] = ov, v
			}
			if len(nv) == 0 {
				continue
			}
			diffs = append(diffs, a.diffDoc(c, id, "update", nv, pv, now))
		}
		return a.insertDiffs(ctx, diffs)
	})
	return res, err
}

// deleteDiffed is the store delete of base delete, with one diff per
// deleted document (its whole previous value) in the same transaction when
// the module diffs.
func (a *App) deleteDiffed(ctx context.Context, c *Call, q *query.Query, hard bool) ([]ID, error) {
	m := c.Module
	if !a.diffOn(ctx, c) {
		return a.store.Delete(ctx, m.coll, q, hard)
	}
	oper := "delete"
	if hard {
		oper = "purge"
	}
	var ids []ID
	err := a.store.Tx(ctx, func(ctx context.Context) error {
		probe := *q
		probe.Attrs = nil
		before, err := a.store.Read(ctx, m.coll, &probe)
		if err != nil {
			return err
		}
		if ids, err = a.store.Delete(ctx, m.coll, q, hard); err != nil {
			return err
		}
		prevByID := make(map[ID]map[string]any, len(before.Docs))
		for _, d := range before.Docs {
			prevByID[d["_id"].(ID)] = d
		}
		now := time.Now()
		diffs := make([]map[string]any, 0, len(ids))
		for _, id := range ids {
			pv := M{}
			for k, v := range prevByID[id] {
				if k != "_id" && !a.secretAttr(m, k) {
					pv[k] = v
				}
			}
			diffs = append(diffs, a.diffDoc(c, id, oper, M{}, pv, now))
		}
		return a.insertDiffs(ctx, diffs)
	})
	return ids, err
}

func (a *App) diffDoc(c *Call, id ID, oper string, vars, prev M, now time.Time) map[string]any {
	return map[string]any{"_id": oid.NewAt(now), "create_time": FormatDatetime(now), "module": c.Module.Name, "doc": id,
		"oper": oper, "vars": vars, "prev": prev, "user": c.Session.UserID, "endpoint": c.Endpoint, "remarks": ""}
}

func (a *App) insertDiffs(ctx context.Context, diffs []map[string]any) error {
	if len(diffs) == 0 {
		return nil
	}
	for start := 0; start < len(diffs); start += expandBatchSize {
		if err := a.store.Insert(ctx, a.modules["diff"].coll, diffs[start:min(start+expandBatchSize, len(diffs))]...); err != nil {
			return err
		}
	}
	return nil
}

// readIDs reads attrs of the documents ids, by _id, in batches.
func (a *App) readIDs(ctx context.Context, m *Module, ids []ID, attrs []string) (map[ID]map[string]any, error) {
	out := make(map[ID]map[string]any, len(ids))
	for start := 0; start < len(ids); start += expandBatchSize {
		batch := ids[start:min(start+expandBatchSize, len(ids))]
		in := make([]any, len(batch))
		for i, id := range batch {
			in[i] = id
		}
		res, err := a.store.Read(ctx, m.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.In, Value: in}, Attrs: attrs})
		if err != nil {
			return nil, err
		}
		for _, d := range res.Docs {
			out[d["_id"].(ID)] = d
		}
	}
	return out, nil
}
