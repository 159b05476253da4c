package limp_test

import (
	"os"
	"path/filepath"
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
