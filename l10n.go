package limp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Localisation (spec §6.20): L10N dictionaries of the app's packages,
// read by clients with l10n/read and used for error messages.

// l10nState holds the dictionaries: locale → key → text.
type l10nState struct {
	dicts map[string]map[string]string
}

// CodeL10NInvalidLocale is the code of l10n/read given a locale that is
// not one of Config.Locales.
const CodeL10NInvalidLocale = "CORE_L10N_INVALID_LOCALE"

// L10N adds a localisation dictionary for locale (LIMP's L10N objects in a
// package's __l10n__, spec §6.20): key → text. Keys are the app's own
// (labels its clients show) or LIMP codes ("BLOG_BLOG_DUPLICATE_DOC",
// "CORE_SESSION_FORBIDDEN"): an error whose code has a text in the
// caller's locale is sent with that text as its msg. Dictionaries of one
// locale are merged in call order, a later key replacing an earlier one;
// Config.L10N (set per package, see App.RegisterConfig) is merged first.
// A locale that is not one of Config.Locales is reported by Start. Must
// be called before Start.
func (a *App) L10N(locale string, dict map[string]string) {
	if a.l10n.dicts == nil {
		a.l10n.dicts = map[string]map[string]string{}
	}
	d := a.l10n.dicts[locale]
	if d == nil {
		d = map[string]string{}
		a.l10n.dicts[locale] = d
	}
	maps.Copy(d, dict)
}

// prepareL10N merges Config.L10N under the dictionaries given to L10N and
// returns every locale that is not an app locale.
func (a *App) prepareL10N() []error {
	merged := map[string]map[string]string{}
	for _, src := range []map[string]map[string]string{a.cfg.L10N, a.l10n.dicts} {
		for loc, dict := range src {
			if merged[loc] == nil {
				merged[loc] = map[string]string{}
			}
			maps.Copy(merged[loc], dict)
		}
	}
	a.l10n.dicts = merged
	var errs []error
	for _, loc := range slices.Sorted(maps.Keys(merged)) {
		if !slices.Contains(a.cfg.Locales, loc) {
			errs = append(errs, fmt.Errorf("L10N dictionary for locale %q, which is not one of Config.Locales %v", loc, a.cfg.Locales))
		}
	}
	return errs
}

// Text returns the text of key in locale, falling back to the default
// locale (Config.Locale); ok is false when neither dictionary has it.
// Valid after Start.
func (a *App) Text(locale, key string) (text string, ok bool) {
	if t, ok := a.l10n.dicts[locale][key]; ok {
		return t, true
	}
	t, ok := a.l10n.dicts[a.cfg.Locale][key]
	return t, ok
}

// Dictionary returns a copy of locale's dictionary over the default
// locale's (keys missing in locale have the default locale's text), the
// shape l10n/read sends. Valid after Start.
func (a *App) Dictionary(locale string) map[string]string {
	out := maps.Clone(a.l10n.dicts[a.cfg.Locale])
	if out == nil {
		out = map[string]string{}
	}
	if locale != a.cfg.Locale {
		maps.Copy(out, a.l10n.dicts[locale])
	}
	return out
}

// Locale returns the caller's locale: the user's "locale" attr when it is
// one of the app's locales, else the default locale.
func (c *Call) Locale() string {
	if c.Session != nil && c.app != nil {
		if l, ok := c.Session.User["locale"].(string); ok && slices.Contains(c.app.cfg.Locales, l) {
			return l
		}
	}
	if c.app != nil {
		return c.app.cfg.Locale
	}
	return ""
}

// localiseError replaces an *Error's msg by the text its code has in the
// caller's locale (or the default locale), when the app's dictionaries
// have one. The status, code and args are kept.
func (a *App) localiseError(c *Call, err error) error {
	if len(a.l10n.dicts) == 0 {
		return err
	}
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	t, ok := a.Text(c.Locale(), e.Code)
	if !ok || t == e.Msg {
		return err
	}
	out := *e
	out.Msg = t
	return &out
}

// registerL10N declares the core module l10n: l10n/read returns the
// dictionary of a locale to any caller (spec §6.20; LIMP has no endpoint
// for it, its clients ship their own copies):
//
//	query [{"locale": "en_AE"}] (optional; default: the caller's locale)
//	→ {"status": 200, "msg": "Found L10N dictionary.", "args": {"locale": "en_AE", "l10n": {"key": "text", ...}}}
//
// Over HTTP: POST /l10n/read or /l10n/read/{locale}. The dictionary is
// the locale's over the default locale's. A locale that
// is not an app locale is 400 "Locale is invalid." CORE_L10N_INVALID_LOCALE.
func (a *App) registerL10N() {
	m := NewService("l10n", Methods{
		"read": {
			Permissions: Perms("*"),
			Handler:     a.l10nRead,
			PostMethod:  true,
			PathArgs:    []string{"locale"},
			Desc:        "Returns the L10N dictionary of query locale (default: the caller's), over the default locale's.",
		},
	})
	m.Desc = "Localisation dictionaries of the app's packages (spec §6.20)."
	a.Register("core", m)
}

func (a *App) l10nRead(ctx context.Context, c *Call) (*Result, error) {
	loc := c.Locale()
	if vs := c.Query.Values("locale"); len(vs) > 0 {
		s, ok := vs[0].(string)
		if !ok || !slices.Contains(a.cfg.Locales, s) {
			return nil, NewError(400, CodeL10NInvalidLocale, "Locale is invalid.")
		}
		loc = s
	}
	d := a.Dictionary(loc)
	out := make(M, len(d))
	for k, v := range d {
		out[k] = v
	}
	return OK("Found L10N dictionary.", M{"locale": loc, "l10n": out}), nil
}
