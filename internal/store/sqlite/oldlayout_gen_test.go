//go:build oldlayout

package sqlite

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteOldLayout writes oldLayoutFile with the store of the commit
// that had the old layout:
//
//	go test -tags oldlayout -run TestWriteOldLayout ./internal/store/sqlite
//
// Run it only on that commit (before typed columns); the file is kept in
// testdata for TestMigrateOldLayout.
func TestWriteOldLayout(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), filepath.Join(dir, "gen.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := blogCollection()
	if err := s.Sync(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(t.Context(), c, oldLayoutDocs()["blog"]...); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(oldLayoutFile)
	if _, err := s.db.ExecContext(t.Context(), "VACUUM INTO ?", oldLayoutFile); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
