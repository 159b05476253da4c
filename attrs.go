package limp

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/limp-go/limp/internal/jsonv"
	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
)

// ID is a 12-byte ObjectId, written on the wire as 24 hex digits.
type ID = oid.ID

// NewID returns a new ObjectId.
func NewID() ID { return oid.New() }

// ParseID parses a 24-hex-digit ObjectId.
func ParseID(s string) (ID, error) { return oid.Parse(s) }

// Locale is a LOCALE value: one string per app locale ("ar_AE": "...").
type Locale map[string]string

// Doc is embedded in a module's struct to declare the attrs every document
// has: _id and create_time (set by the framework, never by clients).
type Doc struct {
	ID         ID     `json:"_id"`
	CreateTime string `json:"create_time" limp:"type=DATETIME"`
}

// OwnedDoc is Doc plus user: the _id of the user who created the document,
// set by the framework on create.
type OwnedDoc struct {
	Doc
	User ID `json:"user"`
}

// Type is a LIMP attr type (spec §6.3).
type Type uint8

// The attr types. The names follow LIMP's ATTR.* (TypeURIWeb is URI_WEB).
const (
	TypeAny      = Type(schema.Any)
	TypeAccess   = Type(schema.Access)
	TypeID       = Type(schema.ID)
	TypeStr      = Type(schema.Str)
	TypeInt      = Type(schema.Int)
	TypeFloat    = Type(schema.Float)
	TypeBool     = Type(schema.Bool)
	TypeLocale   = Type(schema.Locale)
	TypeLocales  = Type(schema.Locales)
	TypeEmail    = Type(schema.Email)
	TypePhone    = Type(schema.Phone)
	TypeIP       = Type(schema.IP)
	TypeURIWeb   = Type(schema.URIWeb)
	TypeDatetime = Type(schema.Datetime)
	TypeDate     = Type(schema.Date)
	TypeTime     = Type(schema.Time)
	TypeFile     = Type(schema.File)
	TypeGeo      = Type(schema.Geo)
	TypeList     = Type(schema.List)
	TypeDict     = Type(schema.Dict)
	TypeLiteral  = Type(schema.Literal)
	TypeUnion    = Type(schema.Union)
	TypeCustom   = Type(schema.Custom)
)

// String returns LIMP's name of the type ("URI_WEB").
func (t Type) String() string { return schema.Kind(t).String() }

// typeByName maps `limp:"type=..."` names to types.
var typeByName = map[string]Type{}

func init() {
	for t := TypeAny; t <= TypeCustom; t++ {
		typeByName[t.String()] = t
	}
}

// Attr describes one attribute: its name, type, constraints and options.
// Module attrs are derived from struct fields; method args are declared
// directly (Args{"_id": {Type: TypeID}}). Must not be modified after
// Start.
type Attr struct {
	// Name is the attr's name on the wire (the `json` tag name).
	Name string
	// Type is the LIMP type.
	Type Type
	// Desc documents the attr.
	Desc string
	// Optional attrs may be missing or null; others are required on
	// create unless they have a Default.
	Optional bool
	// Default is used on create when the value is missing: a constant,
	// VarDatetime/VarDate/VarTime, or a ValueFunc.
	Default any
	// Unique attrs are unique among the module's documents.
	Unique bool
	// Index asks the store for an index on the attr.
	Index bool
	// Search includes the attr in `$search` (STR and LOCALE attrs).
	Search bool
	// Ref is the module an ID attr (or LIST of ID) references; its
	// documents are expanded on read (an Extn).
	Ref string

	// Items are a LIST's allowed item types, or a UNION's members.
	Items []*Attr
	// Fields are a typed DICT's keys.
	Fields []*Attr
	// Val is a key/value DICT's value type.
	Val *Attr
	// Literal lists a LITERAL's allowed values.
	Literal []any

	// Pattern is a STR's regular expression (matched whole).
	Pattern string
	// Min and Max bound INT and FLOAT values, STR lengths, LIST and DICT
	// sizes.
	Min, Max *float64
	// Validate holds validator/v10 rules (the `validate` tag).
	Validate string
	// File constrains a FILE attr's files (files.go).
	File *FileSpec

	// Domains limits EMAIL and URI_WEB values to these domains (and
	// their subdomains); BlockedDomains refuses EMAIL domains.
	Domains, BlockedDomains []string
	// Codes limits PHONE values to these country codes ("971", "1").
	Codes []string
	// Ranges limits DATETIME, DATE and TIME values to any of these
	// inclusive [from, to] ranges (either end may be empty).
	Ranges [][2]string
	// Required lists keys a key/value DICT must have (LIMP's __req).
	Required []string
	// Custom names an app-defined type registered with App.RegisterType
	// (Type is then TypeCustom).
	Custom string

	re *regexp.Regexp
}

var (
	idType     = reflect.TypeFor[ID]()
	localeType = reflect.TypeFor[Locale]()
	anyType    = reflect.TypeFor[any]()
	timeType   = reflect.TypeFor[time.Time]()
)

// attrsOf derives the attrs of struct type t.
func attrsOf(t reflect.Type) ([]*Attr, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("document type %v is not a struct", t)
	}
	var attrs []*Attr
	var errs []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			if name == "_id" {
				continue // implicit
			}
			a, err := attrOfField(name, f)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			attrs = append(attrs, a)
		}
	}
	walk(t)
	if len(errs) > 0 {
		return attrs, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return attrs, nil
}

func attrOfField(name string, f reflect.StructField) (*Attr, error) {
	a, err := attrOfType(name, f.Type)
	if err != nil {
		return nil, err
	}
	a.Validate = f.Tag.Get("validate")
	if err := a.applyTag(f.Tag.Get("limp")); err != nil {
		return nil, fmt.Errorf("attr %q: %w", name, err)
	}
	if err := checkTimeType(f.Type, a); err != nil {
		return nil, fmt.Errorf("attr %q: %w", name, err)
	}
	if err := a.check(); err != nil {
		return nil, fmt.Errorf("attr %q: %w", name, err)
	}
	return a, nil
}

// attrOfType maps a Go type to an attr.
func attrOfType(name string, t reflect.Type) (*Attr, error) {
	a := &Attr{Name: name}
	if t.Kind() == reflect.Pointer {
		a.Optional = true
		t = t.Elem()
	}
	switch {
	case t == idType:
		a.Type = TypeID
	case t == localeType:
		a.Type = TypeLocale
	case t == anyType:
		a.Type = TypeAny
	case t == reflect.TypeFor[Access]():
		a.Type = TypeAccess
	case t == reflect.TypeFor[Geo]():
		a.Type = TypeGeo
	case t == reflect.TypeFor[File]():
		a.Type = TypeFile
	case t == timeType:
		a.Type = TypeDatetime // a `limp:"type=DATE"` or "type=TIME" tag narrows it
	default:
		switch t.Kind() {
		case reflect.String:
			a.Type = TypeStr
		case reflect.Bool:
			a.Type = TypeBool
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			a.Type = TypeInt
		case reflect.Float32, reflect.Float64:
			a.Type = TypeFloat
		case reflect.Slice, reflect.Array:
			item, err := attrOfType(name, t.Elem())
			if err != nil {
				return nil, err
			}
			item.Name = ""
			a.Type, a.Items = TypeList, []*Attr{item}
		case reflect.Map:
			if t.Key().Kind() != reflect.String {
				return nil, fmt.Errorf("attr %q: map keys must be strings, not %v", name, t.Key())
			}
			val, err := attrOfType("", t.Elem())
			if err != nil {
				return nil, err
			}
			a.Type, a.Val = TypeDict, val
		case reflect.Struct:
			fields, err := attrsOf(t)
			if err != nil {
				return nil, fmt.Errorf("attr %q: %w", name, err)
			}
			a.Type, a.Fields = TypeDict, fields
		case reflect.Interface:
			a.Type = TypeAny
		default:
			return nil, fmt.Errorf("attr %q: unsupported Go type %v", name, t)
		}
	}
	return a, nil
}

// applyTag applies a `limp` struct tag: comma-separated options, values
// may be quoted with '...' or be JSON lists/objects.
func (a *Attr) applyTag(tag string) error {
	opts, err := splitTag(tag)
	if err != nil {
		return err
	}
	for _, opt := range opts {
		key, val, hasVal := strings.Cut(opt, "=")
		switch key {
		case "unique":
			a.Unique = true
		case "index":
			a.Index = true
		case "search":
			a.Search = true
		case "optional":
			a.Optional = true
		case "ref":
			a.Ref = val
		case "desc":
			a.Desc = val
		case "pattern":
			a.Pattern = val
		case "type":
			t, ok := typeByName[strings.ToUpper(val)]
			if !ok {
				return fmt.Errorf("unknown type %q", val)
			}
			if a.Type == TypeList && t != TypeList {
				a.Items[0].Type = t // type of a list's items
			} else {
				a.Type = t
			}
		case "domains", "blocked_domains", "codes", "required":
			l, err := parseTagList(val)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			switch key {
			case "domains":
				a.Domains = l
			case "blocked_domains":
				a.BlockedDomains = l
			case "codes":
				a.Codes = l
			default:
				a.Required = l
			}
		case "ranges":
			l, err := parseTagList(val)
			if err != nil || len(l) == 0 {
				return fmt.Errorf("ranges=%q: want from..to items, e.g. ranges=[2020-01-01..2020-12-31]", val)
			}
			for _, r := range l {
				from, to, ok := strings.Cut(r, "..")
				if !ok {
					return fmt.Errorf("range %q: want from..to", r)
				}
				a.Ranges = append(a.Ranges, [2]string{from, to})
			}
		case "literal":
			v, err := jsonv.Parse([]byte(val))
			l, ok := v.([]any)
			if err != nil || !ok || len(l) == 0 {
				return fmt.Errorf("literal=%q: want a JSON list of values", val)
			}
			a.Type, a.Literal = TypeLiteral, l
		case "custom":
			a.Type, a.Custom = TypeCustom, val
		case "min", "max":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return fmt.Errorf("%s=%q is not a number", key, val)
			}
			if key == "min" {
				a.Min = &f
			} else {
				a.Max = &f
			}
		case "default":
			if !hasVal {
				return fmt.Errorf("default needs a value")
			}
			v, err := parseTagValue(a.Type, val)
			if err != nil {
				return fmt.Errorf("default %q: %w", val, err)
			}
			a.Default = v
		case "types", "max_size", "min_dims", "max_dims", "min_ratio", "max_ratio":
			if err := a.fileOption(key, val); err != nil {
				return err
			}
		case "":
		default:
			return fmt.Errorf("unknown limp tag option %q", key)
		}
	}
	return nil
}

// parseTagList reads a list option: a JSON list of strings, or items
// separated by '|' ("a.com|b.com").
func parseTagList(val string) ([]string, error) {
	if strings.HasPrefix(val, "[") && strings.Contains(val, `"`) {
		v, err := jsonv.Parse([]byte(val))
		l, ok := v.([]any)
		if err != nil || !ok {
			return nil, fmt.Errorf("%q is not a JSON list", val)
		}
		out := make([]string, len(l))
		for i, x := range l {
			if out[i], ok = x.(string); !ok {
				return nil, fmt.Errorf("%q: items must be strings", val)
			}
		}
		return out, nil
	}
	val = strings.TrimSuffix(strings.TrimPrefix(val, "["), "]")
	if val == "" {
		return nil, nil
	}
	sep := "|"
	if !strings.Contains(val, "|") {
		sep = ","
	}
	l := strings.Split(val, sep)
	for i := range l {
		l[i] = strings.TrimSpace(l[i])
	}
	return l, nil
}

// parseTagValue reads a tag value as JSON when it looks like JSON (or the
// attr is not a string type), else as a plain string.
func parseTagValue(t Type, s string) (any, error) {
	if s == "$__datetime" || s == "$__date" || s == "$__time" {
		return Var(s), nil
	}
	stringish := schema.Kind(t).Stringish()
	if stringish && !strings.HasPrefix(s, `"`) {
		return s, nil
	}
	v, err := jsonv.Parse([]byte(s))
	if err != nil {
		if stringish {
			return s, nil
		}
		return nil, err
	}
	return v, nil
}

func splitTag(tag string) ([]string, error) {
	var out []string
	var cur strings.Builder
	depth, quote := 0, false
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		switch {
		case quote:
			if c == '\'' {
				quote = false
				continue
			}
		case c == '\'':
			quote = true
			continue
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	if quote || depth != 0 {
		return nil, fmt.Errorf("unbalanced quotes or brackets in limp tag %q", tag)
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out, nil
}

// check validates the attr declaration itself.
func (a *Attr) check() error {
	switch a.Type {
	case TypeList:
		if len(a.Items) == 0 {
			return fmt.Errorf("LIST needs item types")
		}
	case TypeUnion:
		if len(a.Items) == 0 {
			return fmt.Errorf("UNION needs member types")
		}
	case TypeLiteral:
		if len(a.Literal) == 0 {
			return fmt.Errorf("LITERAL needs values")
		}
	case TypeDict:
		if a.Fields == nil && a.Val == nil {
			return fmt.Errorf("DICT needs fields or a value type")
		}
	case TypeCustom:
		if a.Custom == "" {
			return fmt.Errorf("TYPE needs a custom type name (limp:\"custom=name\")")
		}
	}
	if a.Min != nil && a.Max != nil && *a.Min > *a.Max {
		return fmt.Errorf("min %v is greater than max %v", *a.Min, *a.Max)
	}
	for _, r := range a.Ranges {
		for _, end := range r {
			if end == "" {
				continue
			}
			if _, _, err := parseTemporal(a.Type, end); err != nil {
				return fmt.Errorf("range bound %q: %w", end, err)
			}
		}
	}
	if a.Pattern != "" {
		re, err := regexp.Compile("^(?:" + a.Pattern + ")$")
		if err != nil {
			return fmt.Errorf("pattern: %w", err)
		}
		a.re = re
	}
	if a.Validate != "" {
		if err := checkValidateTag(a.Validate, a.sample()); err != nil {
			return err
		}
	}
	if err := a.checkDefault(); err != nil {
		return err
	}
	for _, c := range a.Items {
		if err := c.check(); err != nil {
			return err
		}
	}
	for _, c := range a.Fields {
		if err := c.check(); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	if a.Val != nil {
		return a.Val.check()
	}
	return nil
}

// child returns the attr one path segment below a.
func (a *Attr) child(seg string) *Attr {
	switch a.Type {
	case TypeDict:
		for _, f := range a.Fields {
			if f.Name == seg {
				return f
			}
		}
		return a.Val
	case TypeList:
		if _, err := strconv.Atoi(seg); err == nil && len(a.Items) > 0 {
			return a.Items[0]
		}
		if len(a.Items) == 1 {
			return a.Items[0].child(seg)
		}
	case TypeLocale:
		return &Attr{Name: seg, Type: TypeStr}
	case TypeAny:
		return a
	}
	return nil
}

// schemaType projects the attr to the store-facing schema.
func (a *Attr) schemaType() *schema.Type {
	t := &schema.Type{Kind: schema.Kind(a.Type), Literal: a.Literal}
	for _, it := range a.Items {
		t.Items = append(t.Items, it.schemaType())
	}
	if a.Fields != nil {
		t.Fields = make(map[string]*schema.Type, len(a.Fields))
		for _, f := range a.Fields {
			t.Fields[f.Name] = f.schemaType()
		}
	}
	if a.Val != nil {
		t.Val = a.Val.schemaType()
	}
	return t
}

var (
	validateOnce sync.Once
	validate     *validator.Validate
)

func theValidator() *validator.Validate {
	validateOnce.Do(func() { validate = validator.New(validator.WithRequiredStructEnabled()) })
	return validate
}

// checkDefault reports a scalar default that fails the attr's own
// bounds or validate rule: every create leaving the attr out would be
// refused with a 400 naming an attr the client never sent.
func (a *Attr) checkDefault() error {
	switch d := a.Default.(type) {
	case string:
		if strings.HasPrefix(d, "$__") {
			return nil // a variable, resolved per call
		}
	case int64, float64, bool:
	default:
		return nil
	}
	if msg := a.checkBounds(a.Default); msg != "" {
		return fmt.Errorf("default %v: %s", a.Default, msg)
	}
	if a.Validate != "" {
		if err := theValidator().Var(a.Default, a.Validate); err != nil {
			return fmt.Errorf("default %v: fails rule %q", a.Default, a.Validate)
		}
	}
	return nil
}

// checkValidateTag reports a malformed validator/v10 tag at start rather
// than on the first call (the validator panics on unknown tags).
func checkValidateTag(tag string, sample any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("validate tag %q: %v", tag, r)
		}
	}()
	_ = theValidator().Var(sample, tag)
	return checkOneofNumbers(tag, sample)
}

// checkOneofNumbers refuses a "oneof" rule on a number whose values are
// not numbers of its kind: the validator compares them as text, so no
// value could ever pass and every call would answer 400. Rules after
// "dive" apply to the items of sample (a LIST's item, a DICT's value),
// at any depth; rules between "keys" and "endkeys" to a DICT's keys
// (strings).
func checkOneofNumbers(tag string, sample any) error {
	cur, inKeys := sample, false
	for _, rule := range strings.Split(tag, ",") {
		switch rule {
		case "dive":
			switch x := cur.(type) {
			case []any:
				cur = nil
				if len(x) > 0 {
					cur = x[0]
				}
			case map[string]any:
				cur = nil
				for _, v := range x {
					cur = v
				}
			default:
				return nil // the validator reported it
			}
			continue
		case "keys":
			inKeys = true
			continue
		case "endkeys":
			inKeys = false
			continue
		}
		if inKeys {
			continue
		}
		var parse func(string) error
		switch cur.(type) {
		case int64:
			parse = func(v string) error { _, err := strconv.ParseInt(v, 10, 64); return err }
		case float64:
			parse = func(v string) error { _, err := strconv.ParseFloat(v, 64); return err }
		default:
			continue
		}
		for _, alt := range strings.Split(rule, "|") {
			vals, ok := strings.CutPrefix(alt, "oneof=")
			if !ok {
				continue
			}
			for _, v := range strings.Fields(vals) {
				if parse(v) != nil {
					return fmt.Errorf("validate tag %q: oneof value %q is not a number", tag, v)
				}
			}
		}
	}
	return nil
}

// sample returns a value of the Go type the attr's values have once
// converted (int64 for INT, []any for LIST, ...), with one item in a
// LIST and one key in a key/value DICT, so that checkValidateTag sees
// the rules panic that would panic on the first call (a "dive" on a
// number, "min=1.5" on an INT, "email" on a LIST, ...).
func (a *Attr) sample() any {
	switch a.Type {
	case TypeInt:
		return int64(0)
	case TypeFloat:
		return 0.0
	case TypeBool:
		return false
	case TypeList:
		if len(a.Items) > 0 {
			return []any{a.Items[0].sample()}
		}
		return []any{}
	case TypeDict, TypeAccess, TypeGeo, TypeLocale, TypeFile:
		if a.Val != nil {
			return map[string]any{"k": a.Val.sample()}
		}
		return map[string]any{}
	case TypeAny, TypeUnion, TypeCustom, TypeLiteral:
		return nil
	}
	return ""
}

// checkTimeType refuses a `limp:"type=..."` tag that turns a time.Time
// field (or a list's or map's time.Time values) into anything but
// DATETIME, DATE or TIME.
func checkTimeType(t reflect.Type, a *Attr) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		switch a.Type {
		case TypeDatetime, TypeDate, TypeTime:
			return nil
		}
		return fmt.Errorf("a time.Time field is DATETIME, DATE or TIME, not %s", a.Type)
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t != idType && a.Type == TypeList && len(a.Items) == 1:
		return checkTimeType(t.Elem(), a.Items[0])
	case t.Kind() == reflect.Map && a.Type == TypeDict && a.Val != nil:
		return checkTimeType(t.Elem(), a.Val)
	}
	return nil
}
