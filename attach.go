package limp

// Attaching uploaded files to the call they belong to (spec §9.2, issue
// 10 item 4). LIMP hands a connection's uploads to the next call naming
// the attr, whatever its module; here an upload attaches only to a call
// whose method takes that attr as a FILE (a FILE attr, a LIST of FILE, a
// UNION with a FILE member, or, for {"__file": id} references, a FILE
// nested in a DICT or LIST where the converter accepts one), once.
// Otherwise it stays pending until it expires (Config.UploadTimeout).

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// attachUploads gives the call's doc the files this connection uploaded
// for the attrs it names: doc[attr] becomes the list of the attr's files
// in upload order, and {"__file": id} references (ng-limp 6.1, after POST
// /file/create) are replaced by their files. An upload is used only by a
// call whose target takes it (see docAttr) and that the session may make
// at all (a call its permissions refuse uses nothing up); an attr whose
// upload is unfinished fails the call. Attached or refused by the attr's
// FileSpec, chunked uploads are used up. A file object the client wrote
// itself is then refused unless it may stand (filekeep.go).
func (c *conn) attachUploads(call *Call) error {
	call.markClientFiles()
	if err := c.attachPending(call); err != nil {
		return err
	}
	return call.refuseClientFiles()
}

// attachPending is attachUploads without the client file check.
func (c *conn) attachPending(call *Call) error {
	if len(call.Doc) == 0 || call.Module == nil || call.Method == nil {
		return nil
	}
	if err := c.app.attachHTTPFiles(call); err != nil {
		return err
	}
	u := c.getUploads(false)
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.files) == 0 {
		return nil
	}
	var (
		attach  map[string][]any
		targets map[string]*Attr
	)
	for _, p := range u.files {
		if _, named := call.Doc[p.key.attr]; !named {
			continue
		}
		at, _ := call.docAttr(p.key.attr)
		if at == nil || !acceptsFiles(at) {
			continue // not this upload's target: it stays pending
		}
		if !mayCall(call) {
			return nil // the call will be refused (403): nothing is used up
		}
		if !p.finished() {
			return Errorf(400, CodeFileIncomplete, "The upload of file %s[%s] is not finished (chunk %d of %d expected).", p.key.attr, p.key.index, p.next, p.total)
		}
		if attach == nil {
			attach, targets = map[string][]any{}, map[string]*Attr{}
		}
		attach[p.key.attr] = append(attach[p.key.attr], p.val)
		targets[p.key.attr] = at
	}
	for attr, files := range attach {
		// Attached or refused, the files are used up.
		u.files = slices.DeleteFunc(u.files, func(p *pendingUpload) bool { return p.key.attr == attr })
		if err := c.app.checkFiles(fileLeaf(targets[attr]), attr, files); err != nil {
			return err
		}
		call.Doc[attr] = files
	}
	return nil
}

// mayCall reports whether the session holds a privilege of one of the
// call's permission sets: a call it does not will be refused (403).
func mayCall(call *Call) bool {
	return holdsAny(call.Session, call.Module, call.Method.Permissions)
}

// docAttr returns the attr that declares the call's top-level doc key and
// its attr path (dotted, without list indexes), or nil when the call
// takes no such attr: the method's doc_args, else the module's attr for
// create, update and custom methods; for create_file, doc key "file"
// stands for the FILE attr its query names. Base read, delete and
// delete_file take no doc attrs.
func (c *Call) docAttr(key string) (*Attr, string) {
	m, meth := c.Module, c.Method
	if meth.Handler == nil {
		switch meth.name {
		case "create", "update":
		case "create_file":
			if key != "file" {
				return nil, ""
			}
			name, _ := first(c.Query.Values("attr")).(string)
			at := m.lookupAttr(name)
			if at == nil || !(at.Type == TypeFile || at.Type == TypeList && len(at.Items) == 1 && at.Items[0].Type == TypeFile) {
				return nil, ""
			}
			return at, attrPath(name)
		default:
			return nil, ""
		}
	}
	for _, set := range meth.DocArgs {
		if at := set[key]; at != nil {
			return at, key
		}
	}
	if strings.Contains(key, ".") && meth.Handler == nil && meth.name == "update" {
		if at := m.lookupAttr(key); at != nil {
			return at, attrPath(key)
		}
		return nil, ""
	}
	if at := m.byName[key]; at != nil {
		return at, key
	}
	return nil, ""
}

// attrPath drops list indexes (numeric segments, ":n" suffixes) from a
// dotted doc path: "gallery.photos.0" is "gallery.photos".
func attrPath(p string) string {
	segs := strings.Split(p, ".")
	out := segs[:0]
	for _, s := range segs {
		s, _, _ = strings.Cut(s, ":")
		if _, err := strconv.Atoi(s); err == nil {
			continue
		}
		out = append(out, s)
	}
	return strings.Join(out, ".")
}

// takesFile reports whether one file value converts at an attr of at: a
// FILE, or a UNION with such a member.
func takesFile(at *Attr) bool {
	switch at.Type {
	case TypeFile:
		return true
	case TypeUnion:
		return slices.ContainsFunc(at.Items, takesFile)
	}
	return false
}

// acceptsFiles reports whether a list of uploaded files converts at an
// attr of at: a FILE (which keeps the first), a LIST with an item that
// takes a file, or a UNION with such a member.
func acceptsFiles(at *Attr) bool {
	switch at.Type {
	case TypeFile:
		return true
	case TypeList:
		return slices.ContainsFunc(at.Items, takesFile)
	case TypeUnion:
		return slices.ContainsFunc(at.Items, acceptsFiles)
	}
	return false
}

// fileLeaf returns the FILE attr whose FileSpec a file given at at is
// checked against (nil: none).
func fileLeaf(at *Attr) *Attr {
	if at == nil {
		return nil
	}
	switch at.Type {
	case TypeFile:
		return at
	case TypeList, TypeUnion:
		for _, it := range at.Items {
			if f := fileLeaf(it); f != nil {
				return f
			}
		}
	}
	return nil
}

// checkFiles checks attached files against their FILE attr, with LIMP
// codes for the failures (413 CORE_FILE_TOO_LARGE, 400
// CORE_FILE_INVALID_TYPE, ...).
func (a *App) checkFiles(leaf *Attr, name string, files []any) error {
	var spec *FileSpec
	if leaf != nil {
		spec = leaf.File
	}
	for _, v := range files {
		f, err := fileFromValue(v)
		if err != nil {
			return Errorf(400, CodeFileInvalidDoc, "File of attr '%s' is invalid: %v.", name, err)
		}
		if status, code, msg := spec.check(f, a.cfg.MaxFileSize); msg != "" {
			return Errorf(status, "CORE_FILE_"+code, "Invalid attr '%s': %s.", name, msg)
		}
	}
	return nil
}

// fileRef is an {"__file": id} reference found in a call's doc.
type fileRef struct {
	id   string
	path string        // the attr path it stands at
	leaf *Attr         // the FILE attr it is checked against
	set  func(v any)   // puts the file (or a list of it) in its place
	one  func(v M) any // what set receives for the file
}

// attachHTTPFiles replaces the {"__file": id} references in the call's
// doc by the files uploaded with POST /file/create, by the same user (and
// IP, for ANON), for the same module and attr path. A reference is
// replaced only where the call's target takes a file (see docAttr and
// collectRefs); others are left as they are, so that the converter
// refuses them and the upload stays pending. All of a call's references
// are checked before any is used up: a refused call uses none.
func (a *App) attachHTTPFiles(call *Call) error {
	if !hasRef(call.Doc) {
		return nil // the usual call: nothing to look up
	}
	var refs []fileRef
	for k, v := range call.Doc {
		at, path := call.docAttr(k)
		if at == nil {
			continue
		}
		collectRefs(v, at, path, func(nv any) { call.Doc[k] = nv }, &refs)
	}
	if len(refs) == 0 || !mayCall(call) {
		return nil
	}
	owner := uploaderKey(call.Session, call.RemoteAddr)
	fs := &a.files
	fs.mu.Lock()
	defer fs.mu.Unlock()
	now := time.Now()
	vals := make([]M, len(refs))
	seen := make(map[string]bool, len(refs))
	for i, r := range refs {
		u := fs.http[r.id]
		if u == nil || seen[r.id] || now.After(u.until) || u.owner != owner || u.module != call.Module.Name || u.attr != r.path {
			return Errorf(400, CodeFileNotFound, "Uploaded file %q was not found (unknown, expired, already used, uploaded by someone else or for another attr).", truncate(r.id))
		}
		seen[r.id] = true
		if err := a.checkFiles(r.leaf, r.path, []any{u.val}); err != nil {
			return err
		}
		vals[i] = u.val
	}
	for i, r := range refs {
		delete(fs.http, r.id)
		r.set(r.one(vals[i]))
	}
	return nil
}

// collectRefs finds the {"__file": id} references in v, the value of an
// attr of at at attr path path, where the converter accepts a file: at a
// FILE (or UNION with a FILE member), as an item of a LIST of FILE, or
// nested in DICT fields and LIST items down to such an attr. set replaces
// v in its parent.
func collectRefs(v any, at *Attr, path string, set func(any), out *[]fileRef) {
	if at == nil {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if isFileRef(x) {
			id, _ := x["__file"].(string)
			switch {
			case takesFile(at):
				*out = append(*out, fileRef{id: id, path: path, leaf: fileLeaf(at), set: set, one: func(f M) any { return f }})
			case acceptsFiles(at): // one file for a LIST of FILE
				*out = append(*out, fileRef{id: id, path: path, leaf: fileLeaf(at), set: set, one: func(f M) any { return []any{f} }})
			}
			return
		}
		d := memberOf(at, func(m *Attr) bool { return m.Type == TypeDict })
		if d == nil {
			return
		}
		for k, e := range x {
			collectRefs(e, d.child(k), path+"."+k, func(nv any) { x[k] = nv }, out)
		}
	case []any:
		if takesFile(at) { // ng-limp sends a FILE attr's file in a list
			for i, e := range x {
				if m, ok := e.(map[string]any); ok && isFileRef(m) {
					collectRefs(m, at, path, func(nv any) { x[i] = nv }, out)
				}
			}
			return
		}
		l := memberOf(at, func(m *Attr) bool { return m.Type == TypeList })
		if l == nil {
			return
		}
		for i, e := range x {
			collectRefs(e, listItem(l, e), path, func(nv any) { x[i] = nv }, out)
		}
	}
}

// memberOf returns at if ok(at), else the first member of a UNION at that
// is.
func memberOf(at *Attr, ok func(*Attr) bool) *Attr {
	if ok(at) {
		return at
	}
	if at.Type == TypeUnion {
		for _, m := range at.Items {
			if ok(m) {
				return m
			}
		}
	}
	return nil
}

// listItem returns the item attr of LIST l that a value shaped like e
// converts against: one taking a file for a reference, a DICT for an
// object, a LIST for a list.
func listItem(l *Attr, e any) *Attr {
	for _, it := range l.Items {
		switch x := e.(type) {
		case map[string]any:
			if isFileRef(x) && takesFile(it) || !isFileRef(x) && memberOf(it, func(m *Attr) bool { return m.Type == TypeDict }) != nil {
				return it
			}
		case []any:
			if memberOf(it, func(m *Attr) bool { return m.Type == TypeList }) != nil {
				return it
			}
		}
	}
	return nil
}

// hasRef reports whether v holds a {"__file": id} reference anywhere.
func hasRef(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if isFileRef(x) {
			return true
		}
		for _, e := range x {
			if hasRef(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasRef(e) {
				return true
			}
		}
	}
	return false
}

func isFileRef(m map[string]any) bool {
	_, ok := m["__file"]
	return ok && len(m) == 1
}
