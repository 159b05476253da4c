package limp

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Conditional and dynamic extensions (spec §6.7): the referenced module
// and attrs chosen per document.

// DocVarPrefix starts an Extn's Module (or its only Attrs entry) that is
// read from the document being expanded: Module "$__doc.kind" expands
// with the module named by the doc's "kind" attr, Attrs
// []string{"$__doc.fields"} keeps the attrs listed in its "fields" attr
// (LIMP's $__doc.<path>).
const DocVarPrefix = "$__doc."

// ExtnFunc chooses the extension of one document (LIMP's ATTR_MOD extns,
// spec §6.7): it gets the document being read (before expansion) and
// returns the extension to apply to its attr (Module, Attrs, Force; a
// Func or "$__doc." value there is not evaluated again), or nil to leave
// the attr's value unexpanded. An error fails the read.
type ExtnFunc func(ctx context.Context, c *Call, doc M) (*Extn, error)

// dynamic reports whether e is chosen per document.
func (e *Extn) dynamic() bool {
	return e.Func != nil || strings.HasPrefix(e.Module, DocVarPrefix)
}

// resolve returns the static extension e stands for in doc, or nil.
func (e *Extn) resolve(ctx context.Context, c *Call, doc M) (*Extn, error) {
	if e.Func != nil {
		return e.Func(ctx, c, doc)
	}
	mod, _ := docPath(doc, strings.TrimPrefix(e.Module, DocVarPrefix)).(string)
	if mod == "" {
		return nil, nil
	}
	out := &Extn{Module: mod, Attrs: e.Attrs, Force: e.Force}
	if len(e.Attrs) == 1 && strings.HasPrefix(e.Attrs[0], DocVarPrefix) {
		out.Attrs = nil
		list, _ := docPath(doc, strings.TrimPrefix(e.Attrs[0], DocVarPrefix)).([]any)
		for _, v := range list {
			if s, ok := v.(string); ok {
				out.Attrs = append(out.Attrs, s)
			}
		}
		if len(out.Attrs) == 0 {
			out.Attrs = []string{"_id"}
		}
	}
	return out, nil
}

// docPath returns the value at a dotted path of doc, or nil.
func docPath(doc M, path string) any {
	var v any = doc
	for _, seg := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[seg]
	}
	return v
}

// expandDynamic expands path in docs with the extension each document
// chooses: documents are grouped by the resolved module and attrs, and
// each group's references read in batches through the target's read (its
// permissions apply). A module that does not exist or has no documents
// expands to null, as a missing document does.
func (a *App) expandDynamic(ctx context.Context, c *Call, m *Module, path string, e *Extn, docs []map[string]any) error {
	type group struct {
		e    *Extn
		docs []map[string]any
	}
	var groups []*group
	byKey := map[string]*group{}
	segs := strings.Split(path, ".")
	for _, d := range docs {
		r, err := e.resolve(ctx, c, d)
		if err != nil {
			return fmt.Errorf("extn %s.%s: %w", m.Name, path, err)
		}
		if r == nil {
			continue
		}
		t := a.modules[r.Module]
		if t == nil || t.Collection == "" || t.Methods["read"] == nil {
			visitPath(d, segs, func(v any) any {
				if l, ok := v.([]any); ok {
					return make([]any, len(l))
				}
				return nil
			})
			continue
		}
		key := fmt.Sprintf("%s\x00%q\x00%v", r.Module, r.Attrs, r.Force)
		g := byKey[key]
		if g == nil {
			g = &group{e: &Extn{Module: r.Module, Attrs: slices.Clone(r.Attrs), Force: r.Force}}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.docs = append(g.docs, d)
	}
	for _, g := range groups {
		var ids []any
		seen := map[ID]bool{}
		add := func(v any) {
			if id, ok := v.(ID); ok && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		for _, d := range g.docs {
			visitPath(d, segs, func(v any) any {
				if l, ok := v.([]any); ok {
					for _, x := range l {
						add(x)
					}
				} else {
					add(v)
				}
				return v
			})
		}
		if err := a.expandIDs(ctx, c, m, path, g.e, a.modules[g.e.Module], ids, g.docs, segs); err != nil {
			return err
		}
	}
	return nil
}
