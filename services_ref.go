package limp

import (
	"fmt"
	"strings"
)

// refServices documents a module's Diff and Analytics in the API
// reference, and the app-wide settings and analytics options on the core
// modules.
func refServices(m *Module) string {
	var b strings.Builder
	switch d := m.Diff.(type) {
	case bool:
		if d {
			fmt.Fprintf(&b, "Diff: every update and delete that changes a document writes a `diff` doc (previous and new values of the changed attrs); `%s/history` lists them.\n\n", m.Name)
		}
	case nil:
	default:
		fmt.Fprintf(&b, "Diff: when the module's condition holds, every update and delete that changes a document writes a `diff` doc (previous and new values of the changed attrs); `%s/history` lists them.\n\n", m.Name)
	}
	if n := len(m.Analytics); n > 0 {
		fmt.Fprintf(&b, "Analytics: %d set(s), recorded in `analytic` for client calls whose condition holds.\n\n", n)
	}
	if m.pkg == "core" && m.app != nil {
		switch m.Name {
		case "setting":
			if v := m.app.cfg.UserDocSettings; len(v) > 0 {
				fmt.Fprintf(&b, "User doc settings (merged into user docs as `settings`): %s.\n\n", strings.Join(v, ", "))
			}
		case "analytic":
			var off []string
			for _, name := range analyticsEventNames {
				if on, set := m.app.cfg.AnalyticsEvents[name]; set && !on {
					off = append(off, name)
				}
			}
			if len(off) > 0 {
				fmt.Fprintf(&b, "Built-in events turned off: %s.\n\n", strings.Join(off, ", "))
			} else {
				b.WriteString("Built-in events: all on.\n\n")
			}
		}
	}
	return b.String()
}
