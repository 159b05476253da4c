package limp

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/limp-go/limp/internal/oid"
)

// Access is an ACCESS value: who may see a document besides its owner.
type Access struct {
	Anon   bool `json:"anon"`
	Users  []ID `json:"users"`
	Groups []ID `json:"groups"`
}

// Geo is a GEO value: a GeoJSON point.
type Geo struct {
	Type        string     `json:"type"`
	Coordinates [2]float64 `json:"coordinates"`
}

// attrErrKind classifies a value error the way LIMP's codes do.
type attrErrKind uint8

const (
	errMissing attrErrKind = iota // MISSING_ATTR
	errInvalid                    // INVALID_ATTR
	errConvert                    // CONVERT_INVALID_ATTR
)

// attrError is a rejected value at a path.
type attrError struct {
	kind attrErrKind
	path string
	msg  string
}

func (e *attrError) Error() string {
	switch e.kind {
	case errMissing:
		return fmt.Sprintf("Missing attr '%s'", e.path)
	case errConvert:
		return fmt.Sprintf("Can't convert attr '%s': %s", e.path, e.msg)
	}
	return fmt.Sprintf("Invalid attr '%s': %s", e.path, e.msg)
}

func (e *attrError) code() string {
	switch e.kind {
	case errMissing:
		return CodeMissingAttr
	case errConvert:
		return CodeConvertInvalidAttr
	}
	return CodeInvalidAttr
}

// kindName describes a JSON value's kind in words for messages.
func kindName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a decimal number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case oid.ID:
		return "an id"
	}
	return fmt.Sprintf("a %T", v)
}

// expects describes an attr type in words.
func expects(a *Attr) string {
	switch a.Type {
	case TypeID:
		return "ID (24 hex digits)"
	case TypeStr:
		if a.Pattern != "" {
			return "STR matching " + a.Pattern
		}
		return "STR (a string)"
	case TypeInt:
		return "INT (an integer)"
	case TypeFloat:
		return "FLOAT (a number)"
	case TypeBool:
		return "BOOL (true or false)"
	case TypeLocale:
		return "LOCALE (an object of strings by locale)"
	case TypeList:
		return "LIST (a list)"
	case TypeDict:
		return "DICT (an object)"
	case TypeEmail:
		return "EMAIL (an email address)"
	case TypeDatetime:
		return "DATETIME (ISO 8601 date and time)"
	case TypeDate:
		return "DATE (YYYY-MM-DD)"
	case TypeTime:
		return "TIME (HH:MM[:SS[.ffffff]])"
	}
	return a.Type.String()
}

var (
	reDigits   = regexp.MustCompile(`^[0-9]+$`)
	reDecimal  = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	reEmail    = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	rePhone    = regexp.MustCompile(`^\+[0-9]+$`)
	reDate     = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	reDatetime = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?$`)
	reTime     = regexp.MustCompile(`^[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?$`)
)

// convertCtx carries what conversion needs from the app.
type convertCtx struct {
	locales []string
	locale  string
	types   map[string]TypeFunc
}

// TypeFunc converts and checks a value of an app-defined attr type
// (LIMP's ATTR.TYPE): it returns the value to store, or an error saying
// what is wrong (sent to the client as INVALID_ATTR).
type TypeFunc func(v any) (any, error)

// convert checks v against a and returns the canonical value. path names
// the value in errors ("title.en_AE", "tags.2").
func (a *Attr) convert(cc *convertCtx, v any, path string) (any, error) {
	invalid := func() error {
		return &attrError{kind: errInvalid, path: path, msg: fmt.Sprintf("expected %s, got %s", expects(a), kindName(v))}
	}
	if v == nil {
		if a.Optional || a.Type == TypeAny {
			return nil, nil
		}
		return nil, &attrError{kind: errMissing, path: path}
	}
	var out any
	switch a.Type {
	case TypeAny:
		out = v
	case TypeID:
		switch x := v.(type) {
		case oid.ID:
			out = x
		case string:
			id, err := oid.Parse(x)
			if err != nil {
				return nil, &attrError{kind: errConvert, path: path, msg: fmt.Sprintf("%q is not an ID (24 hex digits)", truncate(x))}
			}
			out = id
		default:
			return nil, invalid()
		}
	case TypeStr:
		s, ok := v.(string)
		if !ok {
			return nil, invalid()
		}
		if a.re != nil && !a.re.MatchString(s) {
			return nil, &attrError{kind: errInvalid, path: path, msg: fmt.Sprintf("%q does not match pattern %s", truncate(s), a.Pattern)}
		}
		out = s
	case TypeInt:
		switch x := v.(type) {
		case int64:
			out = x
		case string:
			if !reDigits.MatchString(x) {
				return nil, &attrError{kind: errConvert, path: path, msg: fmt.Sprintf("%q is not an integer", truncate(x))}
			}
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, &attrError{kind: errConvert, path: path, msg: fmt.Sprintf("%q is out of range", truncate(x))}
			}
			out = n
		default:
			return nil, invalid()
		}
	case TypeFloat:
		switch x := v.(type) {
		case float64:
			out = x
		case int64:
			out = float64(x)
		case string:
			if !reDecimal.MatchString(x) {
				return nil, &attrError{kind: errConvert, path: path, msg: fmt.Sprintf("%q is not a number", truncate(x))}
			}
			f, err := strconv.ParseFloat(x, 64)
			if err != nil || math.IsInf(f, 0) {
				return nil, &attrError{kind: errConvert, path: path, msg: fmt.Sprintf("%q is out of range", truncate(x))}
			}
			out = f
		default:
			return nil, invalid()
		}
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return nil, invalid()
		}
		out = b
	case TypeEmail, TypePhone, TypeURIWeb, TypeIP, TypeLocales:
		str, ok := v.(string)
		if !ok {
			return nil, invalid()
		}
		if msg := a.checkStringType(cc, str); msg != "" {
			return nil, &attrError{kind: errInvalid, path: path, msg: fmt.Sprintf("%q %s", truncate(str), msg)}
		}
		out = str
	case TypeDate, TypeDatetime, TypeTime:
		str, ok := v.(string)
		if !ok {
			return nil, invalid()
		}
		canon, t, err := parseTemporal(a.Type, str)
		if err != nil {
			return nil, &attrError{kind: errInvalid, path: path, msg: fmt.Sprintf("%q is not a valid %s", truncate(str), expects(a))}
		}
		if !a.inRanges(t) {
			return nil, &attrError{kind: errInvalid, path: path, msg: fmt.Sprintf("%q is outside the allowed ranges %v", truncate(str), a.Ranges)}
		}
		out = canon
	case TypeCustom:
		f := cc.types[a.Custom]
		if f == nil {
			return nil, fmt.Errorf("custom type %q is not registered", a.Custom)
		}
		c, err := f(v)
		if err != nil {
			return nil, &attrError{kind: errInvalid, path: path, msg: err.Error()}
		}
		out = c
	case TypeLocale:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalid()
		}
		loc := make(map[string]any, len(cc.locales))
		for k, x := range m {
			if !slices.Contains(cc.locales, k) {
				return nil, &attrError{kind: errInvalid, path: path + "." + k, msg: fmt.Sprintf("%q is not one of the app locales %v", truncate(k), cc.locales)}
			}
			s, ok := x.(string)
			if !ok {
				return nil, &attrError{kind: errInvalid, path: path + "." + k, msg: "expected STR (a string), got " + kindName(x)}
			}
			loc[k] = s
		}
		def, ok := loc[cc.locale]
		if !ok {
			return nil, &attrError{kind: errMissing, path: path + "." + cc.locale}
		}
		for _, l := range cc.locales {
			if _, ok := loc[l]; !ok {
				loc[l] = def
			}
		}
		out = loc
	case TypeList:
		l, ok := v.([]any)
		if !ok {
			return nil, invalid()
		}
		res := make([]any, len(l))
		for i, x := range l {
			var lastErr error
			for _, it := range a.Items {
				c, err := it.convert(cc, x, path+"."+strconv.Itoa(i))
				if err == nil {
					res[i], lastErr = c, nil
					break
				}
				lastErr = err
			}
			if lastErr != nil {
				return nil, lastErr
			}
		}
		out = res
	case TypeDict:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalid()
		}
		res := make(map[string]any, len(m))
		if a.Fields != nil {
			for k := range m {
				if a.child(k) == nil {
					return nil, &attrError{kind: errInvalid, path: path + "." + k, msg: "unknown key"}
				}
			}
			for _, f := range a.Fields {
				x, present := m[f.Name]
				if !present && f.Default != nil {
					x = f.Default
				}
				c, err := f.convert(cc, x, path+"."+f.Name)
				if err != nil {
					return nil, err
				}
				if c != nil || present {
					res[f.Name] = c
				}
			}
		} else {
			for _, k := range a.Required {
				if _, ok := m[k]; !ok {
					return nil, &attrError{kind: errMissing, path: path + "." + k}
				}
			}
			for k, x := range m {
				c, err := a.Val.convert(cc, x, path+"."+k)
				if err != nil {
					return nil, err
				}
				res[k] = c
			}
		}
		out = res
	case TypeLiteral:
		if !slices.ContainsFunc(a.Literal, func(l any) bool { return l == v }) {
			return nil, &attrError{kind: errInvalid, path: path, msg: fmt.Sprintf("expected one of %v", a.Literal)}
		}
		out = v
	case TypeUnion:
		var lastErr error
		for _, it := range a.Items {
			c, err := it.convert(cc, v, path)
			if err == nil {
				return c, nil
			}
			lastErr = err
		}
		return nil, lastErr
	case TypeAccess:
		m, ok := v.(map[string]any)
		if !ok || len(m) != 3 {
			return nil, invalid()
		}
		anon, ok := m["anon"].(bool)
		if !ok {
			return nil, &attrError{kind: errInvalid, path: path + ".anon", msg: "expected BOOL"}
		}
		users, err := convertIDList(m["users"], path+".users")
		if err != nil {
			return nil, err
		}
		groups, err := convertIDList(m["groups"], path+".groups")
		if err != nil {
			return nil, err
		}
		out = map[string]any{"anon": anon, "users": users, "groups": groups}
	case TypeGeo:
		m, ok := v.(map[string]any)
		if !ok || len(m) != 2 || m["type"] != "Point" {
			return nil, invalid()
		}
		c, ok := m["coordinates"].([]any)
		if !ok || len(c) != 2 {
			return nil, &attrError{kind: errInvalid, path: path + ".coordinates", msg: "expected [longitude, latitude]"}
		}
		coords := make([]any, 2)
		for i, x := range c {
			switch n := x.(type) {
			case float64:
				coords[i] = n
			case int64:
				coords[i] = float64(n)
			default:
				return nil, &attrError{kind: errInvalid, path: path + ".coordinates", msg: "expected numbers"}
			}
		}
		out = map[string]any{"type": "Point", "coordinates": coords}
	case TypeFile:
		f, err := a.convertFile(v, path)
		if err != nil || f == nil {
			return nil, err
		}
		out = f
	default:
		return nil, &attrError{kind: errInvalid, path: path, msg: fmt.Sprintf("type %s is not supported here", a.Type)}
	}
	if msg := a.checkBounds(out); msg != "" {
		return nil, &attrError{kind: errInvalid, path: path, msg: msg}
	}
	if a.Validate != "" {
		if err := theValidator().Var(out, a.Validate); err != nil {
			return nil, &attrError{kind: errInvalid, path: path, msg: fmt.Sprintf("fails rule %q", a.Validate)}
		}
	}
	return out, nil
}

func convertIDList(v any, path string) ([]any, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, &attrError{kind: errInvalid, path: path, msg: "expected a list of IDs, got " + kindName(v)}
	}
	out := make([]any, len(l))
	for i, x := range l {
		switch id := x.(type) {
		case oid.ID:
			out[i] = id
		case string:
			p, err := oid.Parse(id)
			if err != nil {
				return nil, &attrError{kind: errConvert, path: path + "." + strconv.Itoa(i), msg: "not an ID"}
			}
			out[i] = p
		default:
			return nil, &attrError{kind: errInvalid, path: path + "." + strconv.Itoa(i), msg: "expected an ID"}
		}
	}
	return out, nil
}

// checkStringType checks a string-typed value; it returns what is wrong
// with it, or "".
func (a *Attr) checkStringType(cc *convertCtx, s string) string {
	switch a.Type {
	case TypeEmail:
		if len(s) > 254 || !reEmail.MatchString(s) {
			return "is not a valid email address"
		}
		domain := strings.ToLower(s[strings.LastIndexByte(s, '@')+1:])
		if len(a.Domains) > 0 && !domainIn(domain, a.Domains) {
			return fmt.Sprintf("is not in the allowed domains %v", a.Domains)
		}
		if domainIn(domain, a.BlockedDomains) {
			return "is in a refused domain"
		}
	case TypePhone:
		if !rePhone.MatchString(s) || len(s) < 8 || len(s) > 16 {
			return "is not a valid phone number (+ and 7 to 15 digits)"
		}
		if len(a.Codes) > 0 && !slices.ContainsFunc(a.Codes, func(c string) bool { return strings.HasPrefix(s[1:], strings.TrimPrefix(c, "+")) }) {
			return fmt.Sprintf("does not have one of the country codes %v", a.Codes)
		}
	case TypeURIWeb:
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || !strings.Contains(u.Hostname(), ".") && u.Hostname() != "localhost" {
			return "is not a valid web address (http or https)"
		}
		if len(a.Domains) > 0 && !domainIn(strings.ToLower(u.Hostname()), a.Domains) {
			return fmt.Sprintf("is not in the allowed domains %v", a.Domains)
		}
	case TypeIP:
		if _, err := netip.ParseAddr(s); err != nil {
			return "is not a valid IPv4 or IPv6 address"
		}
	case TypeLocales:
		if !slices.Contains(cc.locales, s) {
			return fmt.Sprintf("is not one of the app locales %v", cc.locales)
		}
	}
	return ""
}

// domainIn reports whether domain is one of list or a subdomain of one.
func domainIn(domain string, list []string) bool {
	for _, d := range list {
		d = strings.ToLower(strings.TrimPrefix(d, "."))
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}

// checkBounds applies Min and Max: the value of INT and FLOAT, the length
// of STR (in characters), LIST and key/value DICT.
func (a *Attr) checkBounds(v any) string {
	if a.Min == nil && a.Max == nil {
		return ""
	}
	var n float64
	var what string
	switch x := v.(type) {
	case int64:
		n, what = float64(x), "value"
	case float64:
		n, what = x, "value"
	case string:
		if a.Type != TypeStr {
			return ""
		}
		n, what = float64(utf8.RuneCountInString(x)), "length"
	case []any:
		n, what = float64(len(x)), "number of items"
	case map[string]any:
		if a.Type != TypeDict || a.Fields != nil {
			return ""
		}
		n, what = float64(len(x)), "number of keys"
	default:
		return ""
	}
	if a.Min != nil && n < *a.Min {
		return fmt.Sprintf("%s %v is below the minimum %v", what, n, *a.Min)
	}
	if a.Max != nil && n > *a.Max {
		return fmt.Sprintf("%s %v is above the maximum %v", what, n, *a.Max)
	}
	return ""
}

// Temporal layouts accepted on input; values with a zone designator are
// converted to UTC and stored without one, as LIMP stores naive UTC.
var (
	datetimeLayouts = []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04Z07:00"}
	naiveDatetime   = []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04"}
	timeLayouts     = []string{"15:04:05.999999999Z07:00", "15:04Z07:00"}
	naiveTime       = []string{"15:04:05.999999999", "15:04"}
)

// parseTemporal checks a DATETIME, DATE or TIME value and returns its
// stored form and its instant (TIME on the zero date).
func parseTemporal(t Type, s string) (string, time.Time, error) {
	switch t {
	case TypeDate:
		if !reDate.MatchString(s) {
			return "", time.Time{}, errors.New("want YYYY-MM-DD")
		}
		tm, err := time.Parse("2006-01-02", s)
		return s, tm, err
	case TypeDatetime:
		for _, l := range datetimeLayouts {
			if tm, err := time.Parse(l, s); err == nil {
				return FormatDatetime(tm), tm.UTC(), nil
			}
		}
		if !reDatetime.MatchString(s) {
			return "", time.Time{}, errors.New("want ISO 8601 YYYY-MM-DDTHH:MM[:SS[.ffffff]][zone]")
		}
		for _, l := range naiveDatetime {
			if tm, err := time.Parse(l, s); err == nil {
				return s, tm, nil
			}
		}
		return "", time.Time{}, errors.New("not a valid date and time")
	case TypeTime:
		for _, l := range timeLayouts {
			if tm, err := time.Parse(l, s); err == nil {
				u := tm.UTC()
				return u.Format("15:04:05"), time.Date(0, 1, 1, u.Hour(), u.Minute(), u.Second(), u.Nanosecond(), time.UTC), nil
			}
		}
		if !reTime.MatchString(s) {
			return "", time.Time{}, errors.New("want HH:MM[:SS[.ffffff]][zone]")
		}
		for _, l := range naiveTime {
			if tm, err := time.Parse(l, s); err == nil {
				return s, tm, nil
			}
		}
		return "", time.Time{}, errors.New("not a valid time")
	}
	return "", time.Time{}, fmt.Errorf("%s is not a temporal type", t)
}

// inRanges reports whether t lies in any of the attr's ranges.
func (a *Attr) inRanges(t time.Time) bool {
	if len(a.Ranges) == 0 {
		return true
	}
	for _, r := range a.Ranges {
		ok := true
		if r[0] != "" {
			_, from, _ := parseTemporal(a.Type, r[0])
			ok = !t.Before(from)
		}
		if ok && r[1] != "" {
			_, to, _ := parseTemporal(a.Type, r[1])
			ok = !t.After(to)
		}
		if ok {
			return true
		}
	}
	return false
}

// truncate shortens a value quoted in an error message.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
