package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"testing"
)

// decls returns the source text of each top-level declaration of the
// files (doc comment included, imports and func main left out), by name.
func decls(t *testing.T, files ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		af, err := parser.ParseFile(fset, f, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			var name string
			start := d.Pos()
			switch d := d.(type) {
			case *ast.FuncDecl:
				name = d.Name.Name
				if d.Doc != nil {
					start = d.Doc.Pos()
				}
			case *ast.GenDecl:
				if d.Tok == token.IMPORT {
					continue
				}
				if d.Doc != nil {
					start = d.Doc.Pos()
				}
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						name += s.Name.Name
					case *ast.ValueSpec:
						for _, n := range s.Names {
							name += n.Name
						}
					}
				}
			}
			if name == "main" {
				continue
			}
			out[name] = string(src[fset.Position(start).Offset:fset.Position(d.End()).Offset])
		}
	}
	return out
}

// TestExampleCopy fails when example.go no longer matches examples/blog:
// every declaration of the example but main must be in the copy, with
// the same text, and the copy must hold nothing else.
func TestExampleCopy(t *testing.T) {
	ex := filepath.Join("..", "..", "..", "examples", "blog")
	want := decls(t, filepath.Join(ex, "main.go"), filepath.Join(ex, "readonly.go"))
	got := decls(t, "example.go")
	if len(want) == 0 {
		t.Fatal("no declarations found in examples/blog")
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("example.go lacks %s of examples/blog: copy it (see the file's header)", name)
			continue
		}
		if g != w {
			t.Errorf("example.go's %s differs from examples/blog's:\n--- examples/blog\n%s\n--- example.go\n%s", name, w, g)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("example.go has %s, which examples/blog does not", name)
		}
	}
}
