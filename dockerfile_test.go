package limp_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDockerfiles: the repository's Dockerfile and the one limp new
// writes are multi-stage, build a static binary, run as a non-root user,
// expose 8081 and keep data in a volume; a .dockerignore keeps local data
// out of the build context.
func TestDockerfiles(t *testing.T) {
	for _, path := range []string{"Dockerfile", filepath.Join("cmd", "limp", "template", "Dockerfile.tmpl")} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		df := string(b)
		if n := strings.Count(df, "\nFROM "); n < 2 {
			t.Errorf("%s: %d FROM stages, want a multi-stage build", path, n)
		}
		for _, want := range []string{"CGO_ENABLED=0", "\nUSER 65532:65532\n", "\nEXPOSE 8081\n", `VOLUME ["/data"]`, "LIMP_DATA=/data/", "LISTEN=:8081", `CMD ["--env", "prod"]`} {
			if !strings.Contains(df, want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
	}
	for _, path := range []string{".dockerignore", filepath.Join("cmd", "limp", "template", "dot.dockerignore.tmpl")} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"limp_data", "*.db"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
	}
}

// TestDockerfileBuild runs the repository Dockerfile's build step the way
// its build stage does (no Docker daemon needed): the `RUN CGO_ENABLED=0
// go build ...` line, with the ARG APP default, in the repository, after
// checking that .dockerignore keeps what the build reads (the embedded
// TypeScript client and console among them) in the build context. The binary must be
// static (no ELF interpreter: it runs on distroless/static), the image's
// Go (FROM golang:X) must be at least go.mod's, and nothing the build
// embeds may be left out of the context. Cold, the build compiles every
// dependency without cgo (minutes); the Go build cache makes reruns take
// seconds. Skipped with -short.
func TestDockerfileBuild(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	var run, app, image string
	for _, line := range strings.Split(df, "\n") {
		switch {
		case strings.HasPrefix(line, "RUN CGO_ENABLED=0 go build "):
			run, _, _ = strings.Cut(strings.TrimPrefix(line, "RUN "), " && ")
		case strings.HasPrefix(line, "ARG APP="):
			app = strings.TrimPrefix(line, "ARG APP=")
		case strings.HasPrefix(line, "FROM golang:"):
			image, _, _ = strings.Cut(strings.TrimPrefix(line, "FROM golang:"), " ")
		}
	}
	if run == "" || app == "" || image == "" || !strings.Contains(run, "-o /out/app") {
		t.Fatalf("Dockerfile: build line %q, APP %q, golang image %q: want a RUN CGO_ENABLED=0 go build ... -o /out/app \"$APP\" line, an ARG APP= default and FROM golang:X", run, app, image)
	}
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok && versionLess(image, v) {
			t.Errorf("Dockerfile builds with golang:%s, older than go.mod's go %s", image, v)
		}
	}
	// What the build embeds must be in the build context.
	ignore, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, need := range []string{"clients/ts/dist/index.js", "clients/ts/embed.go", "webconsole/index.html", "go.sum", "examples/blog/main.go"} {
		if pat := dockerIgnored(string(ignore), need); pat != "" {
			t.Errorf(".dockerignore pattern %q leaves %s out of the build context", pat, need)
		}
	}
	if testing.Short() {
		t.Skip("-short: the build itself is skipped")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	out := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command(sh, "-c", strings.Replace(run, "-o /out/app", "-o '"+out+"'", 1))
	cmd.Env = append(os.Environ(), "APP="+app)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s (APP=%s): %v\n%s", run, app, err, msg)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Skipf("not an ELF binary on this system: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s built a dynamically linked binary (it has an ELF interpreter): distroless/static cannot run it", run)
		}
	}
}

// versionLess reports whether Go version a ("1.26") is older than b
// ("1.26.8" counts as 1.26: the image tag tracks the latest patch).
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 2 && i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return false
}

// dockerIgnored returns the .dockerignore pattern that leaves path (or a
// directory above it) out of the build context, or "" (patterns as
// Docker reads them: filepath.Match per path, "**/" for any depth; "!"
// exceptions are not used by this repository's file).
func dockerIgnored(ignore, path string) string {
	for _, pat := range strings.Split(ignore, "\n") {
		pat = strings.TrimSpace(pat)
		if pat == "" || strings.HasPrefix(pat, "#") || strings.HasPrefix(pat, "!") {
			continue
		}
		pat = strings.TrimPrefix(pat, "/")
		segs := strings.Split(path, "/")
		for i := range segs {
			sub := strings.Join(segs[:i+1], "/")
			if ok, _ := filepath.Match(pat, sub); ok {
				return pat
			}
			if rest, any := strings.CutPrefix(pat, "**/"); any {
				for j := range i + 1 {
					if ok, _ := filepath.Match(rest, strings.Join(segs[j:i+1], "/")); ok {
						return pat
					}
				}
			}
		}
	}
	return ""
}

func TestDockerIgnored(t *testing.T) {
	ignore := "# comment\n.git\n**/limp_data\n*.db\nclients/ts/node_modules\n"
	for path, want := range map[string]string{
		"clients/ts/dist/index.js":       "",
		"clients/ts/node_modules/x/y.js": "clients/ts/node_modules",
		"examples/blog/limp_data/app.db": "**/limp_data",
		"app.db":                         "*.db",
		"examples/blog/app.db":           "",
		".git/HEAD":                      ".git",
		"webconsole/index.html":          "",
	} {
		if got := dockerIgnored(ignore, path); got != want {
			t.Errorf("dockerIgnored(%q) = %q, want %q", path, got, want)
		}
	}
}
