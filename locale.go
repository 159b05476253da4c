package limp

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// localeKeyError explains why a dotted path is not an attr when one of its
// segments is a key of a LOCALE attr that is not an app locale
// ("title.fr_FR" with locales ar_AE and en_AE); it returns "" otherwise.
func (m *Module) localeKeyError(path string) string {
	if m.app == nil {
		return ""
	}
	segs := strings.Split(path, ".")
	for i := 1; i < len(segs); i++ {
		a := m.lookupAttr(strings.Join(segs[:i], "."))
		if a == nil {
			return ""
		}
		if localeParent(a, segs[i]) && !slices.Contains(m.app.cfg.Locales, segs[i]) {
			return fmt.Sprintf("%q is not one of the app locales %v", truncate(segs[i]), m.app.cfg.Locales)
		}
	}
	return ""
}

// localeParent reports whether seg, below a, is a key of a LOCALE value:
// a is a LOCALE, or a LIST of LOCALE that seg (not an index) reaches
// through, as MongoDB applies "list.key" to each item.
func localeParent(a *Attr, seg string) bool {
	for a.Type == TypeList && len(a.Items) == 1 {
		if _, err := strconv.Atoi(seg); err == nil {
			return false
		}
		a = a.Items[0]
	}
	return a.Type == TypeLocale
}
