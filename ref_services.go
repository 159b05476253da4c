package limp

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// API reference sections of services-b's options (--generate-ref).

// refApp writes the app-wide options: interceptors, L10N dictionaries,
// app docs and data indexes.
func (a *App) refApp(b *strings.Builder) {
	if n := len(a.interceptors); n > 0 || a.cfg.Debug {
		fmt.Fprintf(b, "Interceptors: %d around every client call", n)
		if a.cfg.Debug {
			b.WriteString(", and the call log (--debug)")
		}
		b.WriteString(".\n\n")
	}
	// L10N: merged at load; before load, the dictionaries given so far.
	dicts := a.l10n.dicts
	if len(dicts) == 0 {
		dicts = a.cfg.L10N
	}
	if len(dicts) > 0 {
		var parts []string
		for _, loc := range slices.Sorted(maps.Keys(dicts)) {
			parts = append(parts, fmt.Sprintf("`%s` (%d keys)", loc, len(dicts[loc])))
		}
		fmt.Fprintf(b, "L10N dictionaries (read with `l10n/read`): %s.\n\n", strings.Join(parts, ", "))
	}
	if len(a.cfg.Docs) > 0 {
		b.WriteString("App docs (created at start when missing; no delete removes them):\n\n")
		for _, d := range a.cfg.Docs {
			id, _ := appDocID(d)
			fmt.Fprintf(b, "- `%s` `%s`\n", d.Module, id.Hex())
		}
		b.WriteString("\n")
	}
	if len(a.cfg.DataIndexes) > 0 {
		b.WriteString("Data indexes:\n\n")
		for _, ix := range a.cfg.DataIndexes {
			var keys []string
			for _, k := range ix.Keys {
				switch {
				case k.Text:
					keys = append(keys, k.Path+" (text)")
				case k.Desc:
					keys = append(keys, k.Path+" (-1)")
				default:
					keys = append(keys, k.Path+" (1)")
				}
			}
			fmt.Fprintf(b, "- `%s`: %s\n", ix.Collection, strings.Join(keys, ", "))
		}
		b.WriteString("\n")
	}
}

// refModule writes a module's proxy target and interceptors.
func refModule(b *strings.Builder, m *Module) {
	if m.Proxy != "" {
		fmt.Fprintf(b, "Proxy of `%s`: shares its collection, attrs, unique sets and extensions; its hooks run before this module's.\n\n", m.Proxy)
	}
	if n := len(m.interceptors); n > 0 {
		fmt.Fprintf(b, "Interceptors: %d (inside the app's).\n\n", n)
	}
}

// refExtnTarget names an extn's target module.
func refExtnTarget(e *Extn) string {
	if e.Func != nil {
		return "(chosen per document)"
	}
	return e.Module
}
