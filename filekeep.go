package limp

// File objects written by clients (spec §9; a LIMP hole closed here). A
// file value is {name, type, size, lastModified, _id[, width, height]}
// whose _id names stored content, and GET
// /{module}/retrieve_file/{_id}/{attr}/{name} serves whatever file object
// a readable document holds at attr. A client that could write any file
// object could therefore store one it has seen elsewhere (or one naming
// content by its SHA-256) in a document others may read, and retrieval
// would follow that document's permissions instead of the original's.
//
// So a file object in a client's doc, at any depth and in any attr type
// (FILE, LIST of FILE, DICT, UNION, ANY: retrieval serves a file from any
// of them), is accepted only as:
//   - a fresh upload, attached by the framework (file/upload chunks, or a
//     {"__file": id} reference after POST /file/create, see attach.go);
//   - in a base update, the exact value already stored in that top-level
//     attr of every document the update selects (a client sending back
//     the file it read, e.g. with a form, or reordering a gallery).
//
// Anything else is 400 {PKG}_{MODULE}_INVALID_ATTR, before anything is
// written. Internal calls (App.Invoke, Call.Invoke) and values set by
// hooks are trusted: only the maps that arrived in the client's frame or
// HTTP body are checked, by identity.

import (
	"context"
	"slices"
	"strings"

	"github.com/limp-go/limp/internal/blob"
	"github.com/limp-go/limp/internal/query"
)

// markClientFiles records the file objects of a client call's doc as
// sent by the client (before uploads are attached).
func (c *Call) markClientFiles() {
	c.clientFiles = nil
	for _, v := range c.Doc {
		walkFileObjects(v, func(f map[string]any) { c.clientFiles = append(c.clientFiles, f) })
	}
}

// walkFileObjects calls visit for every map in v that is a file object
// (see looksLikeFile); it does not descend into file objects.
func walkFileObjects(v any, visit func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		if looksLikeFile(x) {
			visit(x)
			return
		}
		for _, e := range x {
			walkFileObjects(e, visit)
		}
	case []any:
		for _, e := range x {
			walkFileObjects(e, visit)
		}
	}
}

// looksLikeFile reports whether m is a file object retrieval would serve:
// one that fileFromValue accepts (a name and a content _id at least).
func looksLikeFile(m map[string]any) bool {
	id, ok := m["_id"].(string)
	if !ok || !blob.IsContentID(id) {
		return false
	}
	if _, ok := m["name"]; !ok {
		return false
	}
	_, err := fileFromValue(m)
	return err == nil
}

// clientFile is a client's file object found in a call's doc.
type clientFile struct {
	root string // the top-level attr it was given in
	file *File
}

// clientFilesInDoc returns the client's file objects still in the call's
// doc (hooks may have replaced some; uploads replace the placeholders of
// the attrs they attach to), with their top-level attr.
func (c *Call) clientFilesInDoc() []clientFile {
	if len(c.clientFiles) == 0 {
		return nil
	}
	var out []clientFile
	for key, v := range c.Doc {
		root := key
		if i := strings.IndexAny(key, ".:"); i >= 0 {
			root = key[:i]
		}
		walkFileObjects(v, func(m map[string]any) {
			if !slices.ContainsFunc(c.clientFiles, func(x map[string]any) bool { return sameMap(x, m) }) {
				return // set by a hook: trusted
			}
			if f, err := fileFromValue(m); err == nil {
				out = append(out, clientFile{root: root, file: f})
			}
		})
	}
	return out
}

// keepsStoredFiles reports whether the call's method may carry a client's
// file object that is already stored: base update only (checked against
// the selected documents by checkKeptFiles).
func (c *Call) keepsStoredFiles() bool {
	return c.Method != nil && c.Method.Handler == nil && c.Method.name == "update"
}

// takesDoc reports whether the call's method uses its doc: base read,
// delete, delete_file and watch ignore it.
func (c *Call) takesDoc() bool {
	if c.Method == nil || c.Method.Handler != nil {
		return true
	}
	switch c.Method.name {
	case "create", "update", "create_file":
		return true
	}
	return false
}

// refuseClientFiles refuses a client call whose doc carries a file object
// the client wrote itself, unless the method is a base update (whose
// stored values are checked by checkKeptFiles once its query is known).
func (c *Call) refuseClientFiles() error {
	if len(c.clientFiles) == 0 || c.Module == nil || c.Method == nil || c.keepsStoredFiles() || !c.takesDoc() {
		return nil
	}
	if fs := c.clientFilesInDoc(); len(fs) > 0 {
		return c.forgedFileError(fs[0].root)
	}
	return nil
}

// guardClientFiles marks and checks the file objects of a client call
// that attaches no uploads (the HTTP interface).
func (c *Call) guardClientFiles() error {
	c.markClientFiles()
	return c.refuseClientFiles()
}

func (c *Call) forgedFileError(attr string) error {
	m := c.Module
	method := c.Method.name
	return m.Errorf(400, CodeInvalidAttr, "Invalid attr '%s': a file can only be given as a new upload (file/upload, or {\"__file\": id} after POST /file/create), or as the file already stored in that attr of the doc for '%s' request on module '%s'.",
		attr, method, m.prefix[:len(m.prefix)-1])
}

// maxKeptFileDocs bounds the documents an update that keeps client file
// objects may select: each one is read to compare its stored files.
const maxKeptFileDocs = query.MaxIn

// checkKeptFiles checks, for a base update, that every file object the
// client gave is stored in the same top-level attr of every document q
// selects, and returns q narrowed to those documents (so a document that
// starts matching between the check and the write is not written).
// Without client file objects it returns q as is.
func (a *App) checkKeptFiles(ctx context.Context, c *Call, q *query.Query) (*query.Query, error) {
	fs := c.clientFilesInDoc()
	if len(fs) == 0 {
		return q, nil
	}
	m := c.Module
	var roots []string
	for _, f := range fs {
		if !slices.Contains(roots, f.root) {
			roots = append(roots, f.root)
		}
	}
	probe := *q
	probe.Attrs = roots
	probe.Group = nil
	if probe.Limit == 0 || probe.Limit > maxKeptFileDocs {
		probe.Limit = maxKeptFileDocs + 1
	}
	res, err := a.store.Read(ctx, m.coll, &probe)
	if err != nil {
		return nil, err
	}
	if len(res.Docs) > maxKeptFileDocs {
		return nil, m.Errorf(400, CodeInvalidAttr, "Invalid attr '%s': an update that gives back stored files may select at most %d docs for 'update' request on module '%s'.", fs[0].root, maxKeptFileDocs, m.prefix[:len(m.prefix)-1])
	}
	ids := make([]any, 0, len(res.Docs))
	for _, d := range res.Docs {
		stored := map[string][]File{}
		for _, r := range roots {
			walkFileObjects(d[r], func(x map[string]any) {
				if f, err := fileFromValue(x); err == nil {
					stored[r] = append(stored[r], *f)
				}
			})
		}
		for _, f := range fs {
			if !slices.Contains(stored[f.root], *f.file) {
				return nil, c.forgedFileError(f.root)
			}
		}
		ids = append(ids, d["_id"])
	}
	out := *q
	out.Filter = query.AndFilter(q.Filter, &query.Cond{Path: "_id", Op: query.In, Value: ids})
	return &out, nil
}
