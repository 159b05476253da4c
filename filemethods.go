package limp

import (
	"context"
	"strconv"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/store"
)

// createFile is the base method create_file (spec §9.5, which LIMP never
// got working): query {_id, attr}, doc {file: <uploaded file(s)>}; the
// files are appended to a LIST of FILE attr, or set on a FILE attr.
func (a *App) createFile(ctx context.Context, c *Call) (*Result, error) {
	m := c.Module
	at, name, err := fileTarget(c)
	if err != nil {
		return nil, err
	}
	raw, ok := c.Doc["file"]
	if !ok || raw == nil {
		return nil, m.Error(400, CodeMissingAttr, "Missing attr 'file' for 'create_file' request on module '"+m.prefix[:len(m.prefix)-1]+"'.")
	}
	files, ok := raw.([]any)
	if !ok {
		files = []any{raw}
	}
	item := at
	if at.Type == TypeList {
		item = at.Items[0]
	}
	cc := a.convertCtx()
	vals := make([]any, 0, len(files))
	for i, f := range files {
		v, err := item.convert(cc, f, "file."+strconv.Itoa(i))
		if err != nil {
			return nil, m.attrError(err, "create_file")
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return nil, m.Error(400, CodeMissingAttr, "Missing attr 'file' for 'create_file' request on module '"+m.prefix[:len(m.prefix)-1]+"'.")
	}
	u := &store.Update{}
	if at.Type == TypeList {
		if at.Max != nil {
			// The list's size bound is checked against the stored doc.
			doc, err := a.fileDoc(ctx, c)
			if err != nil {
				return nil, err
			}
			cur, _ := lookupPath(doc, name)
			l, _ := cur.([]any)
			if float64(len(l)+len(vals)) > *at.Max {
				return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr '%s': at most %v files.", name, *at.Max)
			}
		}
		u.Append = map[string]store.Append{name: {Values: vals}}
	} else {
		u.Set = map[string]any{name: vals[0]}
	}
	return a.updateOne(ctx, c, u)
}

// deleteFile is the base method delete_file: query {_id, attr, index,
// name}; the file at index must be called name.
func (a *App) deleteFile(ctx context.Context, c *Call) (*Result, error) {
	m := c.Module
	at, name, err := fileTarget(c)
	if err != nil {
		return nil, err
	}
	doc, err := a.fileDoc(ctx, c)
	if err != nil {
		return nil, err
	}
	cur, _ := lookupPath(doc, name)
	var target any
	if at.Type == TypeList {
		l, _ := cur.([]any)
		idx, ok := intArg(first(c.Query.Values("index")))
		if !ok {
			return nil, m.Error(400, "INVALID_INDEX", "Index is invalid.")
		}
		if idx < 0 || idx >= len(l) {
			return nil, m.Error(400, "INVALID_INDEX_VALUE", "Index value is invalid.")
		}
		target = l[idx]
	} else {
		if cur == nil {
			return nil, m.Error(400, "INVALID_INDEX_VALUE", "The attr holds no file.")
		}
		target = cur
	}
	f, err := fileFromValue(target)
	if err != nil {
		return nil, m.Error(400, "INVALID_DOC_ATTR", "The attr does not hold a file.")
	}
	if fn, _ := first(c.Query.Values("name")).(string); fn != f.Name {
		return nil, m.Error(400, "FILE_NAME_MISMATCH", "File name does not match the file at that index.")
	}
	u := &store.Update{}
	if at.Type == TypeList {
		u.Remove = map[string][]any{name: {target}}
	} else {
		if !at.Optional {
			return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr '%s': a required FILE can be replaced, not deleted.", name)
		}
		u.Unset = []string{name}
	}
	return a.updateOne(ctx, c, u)
}

// fileTarget returns the FILE (or LIST of FILE) attr a create_file or
// delete_file call names in query "attr".
func fileTarget(c *Call) (*Attr, string, error) {
	m := c.Module
	name, _ := first(c.Query.Values("attr")).(string)
	at := m.lookupAttr(name)
	if at == nil || !(at.Type == TypeFile || at.Type == TypeList && len(at.Items) == 1 && at.Items[0].Type == TypeFile) {
		return nil, "", m.Error(400, CodeInvalidAttr, "Attr is invalid.")
	}
	if len(c.Query.Values("_id")) != 1 {
		return nil, "", m.Error(400, CodeInvalidQuery, "Could not match query with any of the required query_args. Failed sets:['_id': Missing]")
	}
	return at, name, nil
}

// docQuery returns the call's query without the method's own args (attr,
// index, name), which are not attrs of the module.
func (c *Call) docQuery() *Query {
	out := &Query{legacy: c.Query.legacy}
	for _, s := range c.Query.steps {
		if o, ok := s.(jsonv.Object); ok {
			var keep jsonv.Object
			for _, m := range o {
				if m.Key != "attr" && m.Key != "index" && m.Key != "name" {
					keep = append(keep, m)
				}
			}
			s = keep
		}
		out.steps = append(out.steps, s)
	}
	return out
}

// fileDoc reads the one doc a file call targets, with the call's
// permission filters applied.
func (a *App) fileDoc(ctx context.Context, c *Call) (map[string]any, error) {
	q, err := a.parseQuery(ctx, c, c.docQuery())
	if err != nil {
		return nil, err
	}
	q.Limit = 2
	res, err := a.store.Read(ctx, c.Module.coll, q)
	if err != nil {
		return nil, err
	}
	if len(res.Docs) != 1 {
		return nil, c.Module.Error(400, CodeInvalidDoc, "Doc is invalid.")
	}
	return res.Docs[0], nil
}

// updateOne applies u to the one doc the call targets.
func (a *App) updateOne(ctx context.Context, c *Call, u *store.Update) (*Result, error) {
	q, err := a.parseQuery(ctx, c, c.docQuery())
	if err != nil {
		return nil, err
	}
	q.Limit = 1
	res, err := a.store.Update(ctx, c.Module.coll, q, u)
	if err != nil {
		return nil, c.Module.storeError(err)
	}
	ids := res.Matched
	if len(ids) == 0 {
		return nil, c.Module.Error(400, CodeInvalidDoc, "Doc is invalid.")
	}
	return OK("Updated 1 docs.", M{"count": int64(1), "docs": idDocs(ids)}), nil
}

func intArg(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), true
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}
