// Command limp is limp-go's tool. limp new writes a ready app:
//
//	go run github.com/limp-go/limp/cmd/limp new NAME [flags]
//
// creates the directory NAME (or --dir) with main.go (one module, "item",
// each user's own to-do items), main_test.go (signs up, signs in and
// writes with limptest), go.mod requiring github.com/limp-go/limp, a
// README with the commands to run and test it, a Dockerfile and its
// .dockerignore, then runs `go mod tidy` there (unless --tidy=false).
// The app builds and its test passes as written:
//
//	cd NAME && go run .     # serves ws://127.0.0.1:8081/ws
//	cd NAME && go test ./...
//
// Flags:
//
//	--dir DIR        where to write (default ./NAME); must not exist or be empty
//	--module PATH    the app's Go module path (default NAME)
//	--replace PATH   add `replace github.com/limp-go/limp => PATH` to go.mod,
//	                 to build against a local copy of limp-go (offline, or
//	                 unreleased changes)
//	--tidy=false     do not run `go mod tidy`
package main

import (
	"bytes"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"text/template"

	"github.com/limp-go/limp"
)

//go:embed template
var templates embed.FS

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "limp:", err)
		}
		os.Exit(2)
	}
}

const usage = `usage: limp new NAME [--dir DIR] [--module PATH] [--replace PATH] [--tidy=false]

NAME is the app's name: lower-case letters, digits and underscores,
starting with a letter (it names the app, its LIMP package and its store).`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("limp new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, usage); fs.PrintDefaults() }
	dir := fs.String("dir", "", "directory to write (default ./NAME)")
	module := fs.String("module", "", "the app's Go module path (default NAME)")
	replace := fs.String("replace", "", "local limp-go directory to `replace` github.com/limp-go/limp with in go.mod")
	tidy := fs.Bool("tidy", true, "run go mod tidy in the new app")
	// The name may come before or after the flags.
	rest := args[1:]
	var name string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if name == "" {
		fmt.Fprintln(stderr, usage)
		return errors.New("new: NAME is required")
	}
	o := Options{Name: name, Dir: *dir, Module: *module, Replace: *replace}
	if err := New(o); err != nil {
		return err
	}
	if o.Dir == "" {
		o.Dir = name
	}
	if *tidy {
		cmd := exec.Command("go", "mod", "tidy")
		cmd.Dir, cmd.Stdout, cmd.Stderr = o.Dir, stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("new: go mod tidy in %s: %w (run it there once the network is reachable)", o.Dir, err)
		}
	}
	fmt.Fprintf(stdout, "created %s\n\n    cd %s\n    go run .        # serves ws://127.0.0.1:8081/ws\n    go test ./...\n", o.Dir, o.Dir)
	return nil
}

// Options are limp new's inputs.
type Options struct {
	// Name is the app's name (validName).
	Name string
	// Dir is where the app is written; default Name. It must not exist,
	// or be empty.
	Dir string
	// Module is the Go module path; default Name.
	Module string
	// Replace, when set, is a local limp-go directory go.mod replaces
	// github.com/limp-go/limp with (made absolute).
	Replace string
}

var validName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// New writes the app described by o. It writes nothing when o is invalid
// or the directory is in use.
func New(o Options) error {
	if !validName.MatchString(o.Name) {
		return fmt.Errorf("new: invalid NAME %q: use lower-case letters, digits and underscores, starting with a letter", o.Name)
	}
	if o.Dir == "" {
		o.Dir = o.Name
	}
	if o.Module == "" {
		o.Module = o.Name
	}
	if o.Replace != "" {
		abs, err := filepath.Abs(o.Replace)
		if err != nil {
			return fmt.Errorf("new: --replace: %w", err)
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
			return fmt.Errorf("new: --replace %s: not a Go module: %w", abs, err)
		}
		o.Replace = filepath.ToSlash(abs)
	}
	if entries, err := os.ReadDir(o.Dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("new: %s exists and is not empty", o.Dir)
	}
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	if i := strings.IndexAny(goVersion, " -"); i >= 0 {
		goVersion = goVersion[:i]
	}
	data := map[string]string{
		"Name":        o.Name,
		"Module":      o.Module,
		"Replace":     o.Replace,
		"LimpVersion": "v" + limp.Version,
		"GoVersion":   goVersion,
		"EnvPrefix":   strings.ToUpper(o.Name),
	}
	files := map[string][]byte{}
	err := fs.WalkDir(templates, "template", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Delims("[[", "]]").Parse(string(src))
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return err
		}
		// template/x.go.tmpl -> x.go; dot.dockerignore -> .dockerignore
		out := strings.TrimSuffix(strings.TrimPrefix(p, "template/"), ".tmpl")
		out = strings.Replace(out, "dot.", ".", 1)
		files[out] = b.Bytes()
		return nil
	})
	if err != nil {
		return fmt.Errorf("new: templates: %w", err)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("new: %w", err)
	}
	if o.Replace != "" {
		// The local copy's go.sum verifies the dependencies they share
		// (all of them), so that go mod tidy works offline.
		if b, err := os.ReadFile(filepath.Join(filepath.FromSlash(o.Replace), "go.sum")); err == nil {
			files["go.sum"] = b
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(o.Dir, name), b, 0o644); err != nil {
			return fmt.Errorf("new: %w", err)
		}
	}
	return nil
}
