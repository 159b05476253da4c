package limp

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// TestVerify1617ConnectLogConsole: the startup log names the console URL
// when the console is served (issue 17 item 4), and not otherwise.
func TestVerify1617ConnectLogConsole(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want bool
	}{
		{"dev", Config{}, true},
		{"production", Config{Production: true}, false},
		{"production, console on", Config{Production: true, Console: ConsoleOn}, true},
		{"console off", Config{Console: ConsoleOff}, false},
		{"realm mode", Config{Realm: true}, true},
	} {
		var b bytes.Buffer
		c.cfg.Name = "v"
		c.cfg.Logger = slog.New(slog.NewTextHandler(&b, nil))
		a := New(c.cfg)
		a.log = c.cfg.Logger // set by Start
		a.logURLs(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8081})
		out := b.String()
		ws := "ws=ws://127.0.0.1:8081/ws "
		if c.cfg.Realm {
			ws = "ws=ws://127.0.0.1:8081/ws/__global " // /ws is refused in realm mode
		}
		if !strings.Contains(out, ws) {
			t.Errorf("%s: no ws URL: %s", c.name, out)
		}
		if got := strings.Contains(out, "console=http://127.0.0.1:8081/console/"); got != c.want {
			t.Errorf("%s: console URL logged %v, want %v: %s", c.name, got, c.want, out)
		}
	}
}

// TestVerify1617GenerateTSAccess: the generated Access type has LIMP's
// keys {anon, users, groups} (spec: ACCESS, exact keys), so a typed
// client can write an ACCESS attr the server accepts.
func TestVerify1617GenerateTSAccess(t *testing.T) {
	if !strings.Contains(tsPrelude, "export interface Access { anon: boolean; users: string[]; groups: string[] }") {
		t.Errorf("Access type lacks LIMP's keys: %s", tsPrelude)
	}
}

// TestVerify1617ConsoleAccessTemplate: the console fills an ACCESS attr's
// template with LIMP's keys, so sending it as shown is accepted.
func TestVerify1617ConsoleAccessTemplate(t *testing.T) {
	b, err := consoleFiles.ReadFile("webconsole/console.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "case 'ACCESS': return { anon: false, users: [], groups: [] };") {
		t.Error("console.js's ACCESS template lacks LIMP's keys {anon, users, groups}")
	}
}
