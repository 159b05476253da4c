package limp

import (
	"encoding/json"
	"slices"
)

// APIDescription is the machine-readable description of an app's
// declarations that the console's /console/api.json endpoint serves and
// that --generate-ts turns into TypeScript types: every module with its
// attrs (LIMP types, constraints, defaults) and methods (privileges and
// args). Credential digests (user "<authVar>_hash") are described as the
// client-computed hash they are sent as.
type APIDescription struct {
	// App is Config.Name; Version is Config.Version.
	App     string `json:"app"`
	Version string `json:"version,omitempty"`
	// LimpGo is limp-go's Version; API is LIMP's APILevel.
	LimpGo string `json:"limp_go"`
	API    string `json:"api"`
	// Locales are Config.Locales; Locale is the default one.
	Locales []string `json:"locales"`
	Locale  string   `json:"locale"`
	// AuthAttrs are Config.AuthAttrs (the authVar values of session/auth).
	AuthAttrs []string `json:"auth_attrs"`
	// Modules in registration order (core first).
	Modules []ModuleDescription `json:"modules"`
}

// ModuleDescription describes one module (spec §6.1).
type ModuleDescription struct {
	Name    string              `json:"name"`
	Package string              `json:"package"`
	Desc    string              `json:"desc,omitempty"`
	Attrs   []AttrDescription   `json:"attrs"`
	Unique  [][]string          `json:"unique,omitempty"`
	Methods []MethodDescription `json:"methods"`
}

// MethodDescription describes one method (spec §6.2): the privileges of
// its permission sets in order, and its query_args and doc_args sets (one
// set must match).
type MethodDescription struct {
	Name        string              `json:"name"`
	Desc        string              `json:"desc,omitempty"`
	Permissions []string            `json:"permissions"`
	QueryArgs   [][]AttrDescription `json:"query_args,omitempty"`
	DocArgs     [][]AttrDescription `json:"doc_args,omitempty"`
	GetMethod   bool                `json:"get_method,omitempty"`
	PostMethod  bool                `json:"post_method,omitempty"`
}

// AttrDescription describes an attr type (spec §6.3) recursively: Items
// for LIST and UNION, Fields or Val for DICT, Literal for LITERAL.
// Required is false for attrs a client may leave out on create (optional,
// defaulted or set by the server).
type AttrDescription struct {
	Name     string            `json:"name,omitempty"`
	Type     string            `json:"type"`
	Desc     string            `json:"desc,omitempty"`
	Required bool              `json:"required"`
	Optional bool              `json:"optional,omitempty"` // may be absent or null when read
	Server   bool              `json:"server,omitempty"`   // set by the server (_id, create_time, user)
	Default  json.RawMessage   `json:"default,omitempty"`
	Items    []AttrDescription `json:"items,omitempty"`
	Fields   []AttrDescription `json:"fields,omitempty"`
	Val      *AttrDescription  `json:"val,omitempty"`
	Literal  []any             `json:"literal,omitempty"`
	Ref      string            `json:"ref,omitempty"`
	Pattern  string            `json:"pattern,omitempty"`
	Min      *float64          `json:"min,omitempty"`
	Max      *float64          `json:"max,omitempty"`
	Unique   bool              `json:"unique,omitempty"`
	Search   bool              `json:"search,omitempty"`
	// FileTypes and MaxSize are a FILE attr's accepted MIME types and size
	// limit in bytes (0: the app's limit).
	FileTypes []string `json:"file_types,omitempty"`
	MaxSize   int64    `json:"max_size,omitempty"`
	// Secret marks a client-computed auth hash (spec §4.2).
	Secret bool `json:"secret,omitempty"`
}

// Describe returns the description of the app's declarations. Like
// GenerateRef it checks the declarations when the app is not started yet
// and opens no store.
func (a *App) Describe() (*APIDescription, error) {
	if len(a.modules) == 0 {
		a.cfg.setDefaults()
		if a.log == nil {
			a.log = a.Logger()
		}
		if err := a.load(); err != nil {
			return nil, err
		}
	}
	d := &APIDescription{App: a.cfg.Name, Version: a.cfg.Version, LimpGo: Version, API: APILevel,
		Locales: a.cfg.Locales, Locale: a.cfg.Locale, AuthAttrs: a.cfg.AuthAttrs, Modules: []ModuleDescription{}}
	for _, m := range a.order {
		md := ModuleDescription{Name: m.Name, Package: m.pkg, Desc: m.Desc, Unique: m.Unique,
			Attrs: []AttrDescription{}, Methods: []MethodDescription{}}
		for _, at := range m.Attrs {
			ad := describeAttr(at)
			if def, ok := m.Defaults[at.Name]; ok {
				if _, isVar := def.(Var); !isVar {
					if b, err := json.Marshal(def); err == nil {
						ad.Default = b
					}
				}
				ad.Required = false
			}
			if slices.Contains([]string{"_id", "create_time", "user"}, at.Name) {
				ad.Server, ad.Required = true, false
			}
			if m.pkg == "core" && a.isHashAttr(at.Name) {
				ad = AttrDescription{Name: at.Name, Type: TypeStr.String(), Required: true, Secret: true,
					Desc: "client-computed auth hash (spec §4.2); stored only as a digest, never returned"}
			}
			if e := m.Extns[at.Name]; e != nil && ad.Ref == "" {
				ad.Ref = e.Module
			}
			md.Attrs = append(md.Attrs, ad)
		}
		for _, name := range sortedKeys(m.Methods) {
			meth := m.Methods[name]
			mm := MethodDescription{Name: name, Desc: meth.Desc, Permissions: []string{},
				GetMethod: meth.GetMethod, PostMethod: meth.PostMethod,
				QueryArgs: describeArgs(meth.QueryArgs), DocArgs: describeArgs(meth.DocArgs)}
			for _, p := range meth.Permissions {
				mm.Permissions = append(mm.Permissions, p.Privilege)
			}
			md.Methods = append(md.Methods, mm)
		}
		d.Modules = append(d.Modules, md)
	}
	return d, nil
}

func describeArgs(sets []Args) [][]AttrDescription {
	var out [][]AttrDescription
	for _, set := range sets {
		ds := []AttrDescription{}
		for _, k := range sortedKeys(set) {
			ad := describeAttr(set[k])
			ad.Name = k
			ds = append(ds, ad)
		}
		out = append(out, ds)
	}
	return out
}

func describeAttr(at *Attr) AttrDescription {
	d := AttrDescription{Name: at.Name, Type: at.Type.String(), Desc: at.Desc, Required: !at.Optional, Optional: at.Optional,
		Ref: at.Ref, Pattern: at.Pattern, Min: at.Min, Max: at.Max, Unique: at.Unique, Search: at.Search,
		Literal: at.Literal}
	if at.Default != nil {
		if b, err := json.Marshal(at.Default); err == nil {
			d.Default = b
			d.Required = false
		}
	}
	for _, it := range at.Items {
		d.Items = append(d.Items, describeAttr(it))
	}
	for _, f := range at.Fields {
		d.Fields = append(d.Fields, describeAttr(f))
	}
	if at.Val != nil {
		v := describeAttr(at.Val)
		d.Val = &v
	}
	if at.File != nil {
		d.FileTypes, d.MaxSize = at.File.Types, at.File.MaxSize
	}
	return d
}
