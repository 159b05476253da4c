package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNewAppBuildsAndPasses runs limp new into a temporary directory
// (against this repository, offline) and builds and tests the result as
// written.
func TestNewAppBuildsAndPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests a generated app")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "todo")
	// Offline: modules come from the local cache only.
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOFLAGS", "-mod=mod")
	var out, errb bytes.Buffer
	if err := run([]string{"new", "todo", "--dir", dir, "--replace", root}, &out, &errb); err != nil {
		t.Fatalf("limp new: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "go run .") {
		t.Errorf("limp new printed %q, want the commands", out.String())
	}
	for _, f := range []string{"main.go", "main_test.go", "go.mod", "go.sum", "README.md", "Dockerfile", ".dockerignore", ".gitignore"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !strings.Contains(string(gomod), "require github.com/limp-go/limp v") || !strings.Contains(string(gomod), "replace github.com/limp-go/limp => "+filepath.ToSlash(root)) {
		t.Errorf("go.mod:\n%s", gomod)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	for _, cmd := range []string{"    go run .\n", "    go test ./...\n", "docker build"} {
		if !strings.Contains(string(readme), cmd) {
			t.Errorf("README lacks %q", cmd)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"vet", "./..."}, {"build", "./..."}, {"test", "-count=1", "./..."}} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in the new app: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	// gofmt-clean as written.
	b, err := exec.CommandContext(ctx, "gofmt", "-l", dir).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(b)) > 0 {
		t.Errorf("gofmt -l: %s %v", b, err)
	}
}

// TestNewRefuses: bad names and a non-empty directory are refused before
// anything is written.
func TestNewRefuses(t *testing.T) {
	busy := t.TempDir()
	if err := os.WriteFile(filepath.Join(busy, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Name: "My App"}, "invalid NAME"},
		{Options{Name: "1app"}, "invalid NAME"},
		{Options{Name: "app", Dir: busy}, "not empty"},
		{Options{Name: "app", Dir: filepath.Join(t.TempDir(), "a"), Replace: t.TempDir()}, "not a Go module"},
	} {
		if err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
	var errb bytes.Buffer
	if err := run([]string{"new"}, &bytes.Buffer{}, &errb); err == nil {
		t.Error("limp new without NAME succeeded")
	}
}
