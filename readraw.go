package limp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// The streaming read path (issue 13 item 3).
//
// A client's read over the websocket whose reply nothing but the encoder
// sees (no OnRead hook, no interceptor, no cache set, not a proxy) skips
// the map round trip: the store hands over each document's stored JSON
// text (store.RawReader), which the embedded store writes canonically
// (jsonv.Marshal: sorted keys, Append's escapes and number forms), and
// the reply is assembled from it with only the splices the general path
// would make: "_id" inserted, $attrs kept, secrets and the deletion mark
// dropped, references replaced with the referenced documents (read
// through the target's read method with the caller's session, as
// expandBatch always does), and LOCALE attrs filled to every locale.
//
// The reply is byte for byte the general path's (TestReadRawSame;
// FuzzCanon for the scanner). Whatever the fast path does not cover sends the call down
// the general path before anything is expanded: a document that is not
// canonical text (jsonv.Canon), a 24-hex string with upper-case digits
// where the attr's type holds an ID (an oid.ID is written in lower
// case), dotted $attrs, $group,
// references that are not a top-level ID attr, a realm-scoped store.

// rawReadOff turns the streaming path off (tests compare both paths).
var rawReadOff atomic.Bool

// rawHits counts the reads the streaming path answered (tests).
var rawHits atomic.Int64

// rawReader returns the store's RawReader when every store wrapper
// between the App and it passes reads through unchanged.
func (a *App) rawReader() store.RawReader {
	st := a.store
	for st != nil {
		switch w := st.(type) {
		case realmStore, realmBlobStore:
			return nil // reads are scoped to the realm
		case watchedStore:
			st = w.Store
			continue
		case watchedBlobStore:
			st = w.Store
			continue
		}
		r, _ := st.(store.RawReader)
		return r
	}
	return nil
}

// rawEligible reports whether c's read may take the streaming path.
func (a *App) rawEligible(c *Call, q *query.Query) bool {
	m := c.Module
	if !c.wire || rawReadOff.Load() || c.skip != 0 || m.Hooks.OnRead != nil || m.proxyOf != nil || m.coll == nil ||
		len(q.Group) > 0 || !a.bareChain(m) {
		return false
	}
	for _, at := range q.Attrs {
		if strings.Contains(at, ".") {
			return false
		}
	}
	for path, e := range m.Extns {
		if e.dynamic() || strings.Contains(path, ".") || a.modules[e.Module] == nil {
			return false
		}
		if t := m.coll.Attrs[path]; t == nil || t.Kind != schema.ID {
			return false
		}
	}
	for _, l := range a.cfg.Locales {
		if !plainKey(l) {
			return false
		}
	}
	return true
}

// bareChain reports whether m's chain is App.run itself: no interceptor
// wraps it (one that returns next unchanged, as examples/blog's readOnly
// does when off, leaves it bare). Method values of run share one code
// pointer, which no interceptor's own function has.
func (a *App) bareChain(m *Module) bool {
	return m.chain == nil || reflect.ValueOf(m.chain).Pointer() == reflect.ValueOf(a.run).Pointer()
}

// plainKey reports whether s is written as a JSON string with no escape.
func plainKey(s string) bool {
	b := jsonv.AppendString(nil, s)
	return len(b) == len(s)+2
}

// rawDoc is one stored document checked for the streaming path.
type rawDoc struct {
	id    string
	text  []byte
	spans []jsonv.Span
}

// readRaw answers c's read from the stored text. It reports false, with
// nothing done but the store read, when a document needs the general
// path.
func (a *App) readRaw(ctx context.Context, c *Call, q *query.Query, rr store.RawReader) (*Result, bool, error) {
	m := c.Module
	raws, total, err := rr.ReadRaw(ctx, m.coll, q)
	if err != nil {
		return nil, false, err
	}
	docs := make([]rawDoc, len(raws))
	var canon jsonv.Canon
	var spans []jsonv.Span
	for i, r := range raws {
		start := len(spans)
		var ok bool
		canon.HexUpper = false
		spans, ok = canon.Object(r.JSON, spans)
		if !ok || !oid.IsHex(r.ID) || strings.ToLower(r.ID) != r.ID {
			return nil, false, nil
		}
		if canon.HexUpper && upperID(m.coll, q.Attrs, r.JSON, spans[start:]) {
			return nil, false, nil
		}
		docs[i] = rawDoc{id: r.ID, text: r.JSON, spans: spans[start:len(spans):len(spans)]}
	}
	// References, as expand does: paths in order, ids in document order.
	var refs map[string]map[ID]any
	if len(docs) > 0 && len(m.Extns) > 0 && (q.Extn == nil || len(q.Extn) > 0) {
		paths := make([]string, 0, len(m.Extns))
		for p := range m.Extns {
			if q.Extn == nil || slices.Contains(q.Extn, p) {
				paths = append(paths, p)
			}
		}
		slices.Sort(paths)
		for _, path := range paths {
			var ids []any
			seen := map[ID]bool{}
			for _, d := range docs {
				v, ok := d.member(path, q.Attrs)
				if !ok {
					continue
				}
				if id, ok := hexID(v); ok && !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
			if len(ids) == 0 {
				continue
			}
			e := m.Extns[path]
			found := map[ID]any{}
			for start := 0; start < len(ids); start += expandBatchSize {
				if err := a.expandBatch(ctx, c, m, path, e, a.modules[e.Module], ids[start:min(start+expandBatchSize, len(ids))], found); err != nil {
					return nil, true, err
				}
			}
			if refs == nil {
				refs = map[string]map[ID]any{}
			}
			refs[path] = found
		}
	}
	size := 2
	for _, d := range docs {
		size += len(d.text) + len(d.text)/4 + 64
	}
	w := rawWriter{a: a, m: m, q: q, refs: refs, encoded: map[ID][]byte{}, buf: make([]byte, 0, size)}
	w.buf = append(w.buf, '[')
	for i := range docs {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		if err := w.doc(&docs[i]); err != nil {
			return nil, true, err
		}
	}
	w.buf = append(w.buf, ']')
	rawHits.Add(1)
	return OK(fmt.Sprintf("Found %d docs.", len(docs)), M{
		"total": total, "count": int64(len(docs)), "docs": json.RawMessage(w.buf), "groups": M{},
	}), true, nil
}

// upperID reports whether a member of a stored document whose type holds
// an ID anywhere has a 24-hex string with an upper-case digit: decoded,
// it would be an oid.ID written back in lower case. Members $attrs
// leaves out do not count.
func upperID(c *schema.Collection, attrs []string, text []byte, spans []jsonv.Span) bool {
	for _, s := range spans {
		name := string(text[s.KeyStart:s.KeyEnd])
		if !typeHasID(c.Attrs[name]) || attrs != nil && !slices.Contains(attrs, name) {
			continue
		}
		var canon jsonv.Canon
		if _, ok := canon.Value(text, s.ValStart); !ok || canon.HexUpper {
			return true
		}
	}
	return false
}

// typeHasID reports whether t is ID or holds one (the types convertIDs
// descends into).
func typeHasID(t *schema.Type) bool {
	if t == nil {
		return false
	}
	if t.Kind == schema.ID {
		return true
	}
	for _, it := range t.Items {
		if typeHasID(it) {
			return true
		}
	}
	for _, f := range t.Fields {
		if typeHasID(f) {
			return true
		}
	}
	return typeHasID(t.Val)
}

// member returns the value text of top-level attr name, if the document
// has it and $attrs keeps it.
func (d *rawDoc) member(name string, attrs []string) ([]byte, bool) {
	if attrs != nil && !slices.Contains(attrs, name) {
		return nil, false
	}
	for _, s := range d.spans {
		if string(d.text[s.KeyStart:s.KeyEnd]) == name {
			return d.text[s.ValStart:s.ValEnd], true
		}
	}
	return nil, false
}

// hexID returns the id a stored string value of an ID attr decodes to
// (lower-case hex, as Canon checked).
func hexID(v []byte) (ID, bool) {
	if len(v) != 26 || v[0] != '"' {
		return ID{}, false
	}
	id, err := oid.Parse(string(v[1:25]))
	return id, err == nil
}

// rawWriter assembles the docs array.
type rawWriter struct {
	a       *App
	m       *Module
	q       *query.Query
	refs    map[string]map[ID]any
	encoded map[ID][]byte // referenced documents, encoded once per reply
	buf     []byte
}

// doc writes one document: its members in key order with "_id" in its
// place, each value as the general path would encode it.
func (w *rawWriter) doc(d *rawDoc) error {
	w.buf = append(w.buf, '{')
	first := true
	idDone := false
	writeID := func() {
		if !first {
			w.buf = append(w.buf, ',')
		}
		first = false
		w.buf = append(w.buf, `"_id":"`...)
		w.buf = append(w.buf, d.id...)
		w.buf = append(w.buf, '"')
		idDone = true
	}
	for _, s := range d.spans {
		key := d.text[s.KeyStart:s.KeyEnd]
		if !idDone && bytes.Compare(key, []byte("_id")) > 0 {
			writeID()
		}
		name := string(key)
		switch {
		case name == "_id" || name == "__deleted":
			continue // the id column's is written; the mark is the store's
		case w.q.Attrs != nil && !slices.Contains(w.q.Attrs, name):
			continue
		case slices.Contains(w.m.coll.Secret, name):
			continue
		}
		if !first {
			w.buf = append(w.buf, ',')
		}
		first = false
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, key...)
		w.buf = append(w.buf, `":`...)
		val := d.text[s.ValStart:s.ValEnd]
		if found, ok := w.refs[name]; ok {
			if id, ok := hexID(val); ok {
				if err := w.ref(id, found); err != nil {
					return err
				}
				continue
			}
		}
		if at := w.m.byName[name]; at != nil && at.Type == TypeLocale && len(val) > 0 && val[0] == '{' {
			w.locale(val)
			continue
		}
		w.buf = append(w.buf, val...)
	}
	if !idDone {
		writeID()
	}
	w.buf = append(w.buf, '}')
	return nil
}

// ref writes the referenced document (null when the caller may not read
// it or it is gone), encoded once per reply.
func (w *rawWriter) ref(id ID, found map[ID]any) error {
	b, ok := w.encoded[id]
	if !ok {
		var err error
		if b, err = jsonv.Append(nil, found[id]); err != nil {
			return err
		}
		w.encoded[id] = b
	}
	w.buf = append(w.buf, b...)
	return nil
}

// locale writes a LOCALE attr's object with the locales it lacks filled
// from the default locale's value, as fillLocales does: none when the
// default is missing or null.
func (w *rawWriter) locale(val []byte) {
	var canon jsonv.Canon
	var arr [16]jsonv.Span
	spans, ok := canon.Object(val, arr[:0])
	if !ok { // checked with its document: cannot happen
		w.buf = append(w.buf, val...)
		return
	}
	cfg := &w.a.cfg
	var def []byte
	var missing []string
	for _, l := range cfg.Locales {
		found := false
		for _, s := range spans {
			if string(val[s.KeyStart:s.KeyEnd]) == l {
				found = true
				if l == cfg.Locale {
					def = val[s.ValStart:s.ValEnd]
				}
				break
			}
		}
		if !found {
			missing = append(missing, l)
		}
	}
	if def == nil {
		for _, s := range spans {
			if string(val[s.KeyStart:s.KeyEnd]) == cfg.Locale {
				def = val[s.ValStart:s.ValEnd]
			}
		}
	}
	if len(missing) == 0 || def == nil || string(def) == "null" {
		w.buf = append(w.buf, val...)
		return
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	w.buf = append(w.buf, '{')
	first := true
	put := func(key string, v []byte) {
		if !first {
			w.buf = append(w.buf, ',')
		}
		first = false
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, key...)
		w.buf = append(w.buf, `":`...)
		w.buf = append(w.buf, v...)
	}
	j := 0
	for _, s := range spans {
		key := string(val[s.KeyStart:s.KeyEnd])
		for j < len(missing) && missing[j] < key {
			put(missing[j], def)
			j++
		}
		put(key, val[s.ValStart:s.ValEnd])
	}
	for ; j < len(missing); j++ {
		put(missing[j], def)
	}
	w.buf = append(w.buf, '}')
}
