package dictionaries

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const generator = "layeh.com/radius/cmd/radius-dict-gen"

// generateLines returns the arguments after `go run GENERATOR` of every go:generate line in
// doc.go, so that the test runs exactly what `go generate` runs.
func generateLines(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "//go:generate go run "+generator+" ")
		if ok {
			out = append(out, strings.Fields(rest))
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGeneratedUpToDate runs the generator into a temporary directory and compares its
// output with the committed generated.go files: a dictionary edited without `go generate`
// (or a generated file edited by hand) fails here.
func TestGeneratedUpToDate(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH:", err)
	}
	lines := generateLines(t)
	if len(lines) != 4 {
		t.Fatalf("doc.go has %d go:generate lines for %s, want 4 (rfc, cisco, ascend, microsoft)", len(lines), generator)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "radius-dict-gen")
	if out, err := exec.Command(goTool, "build", "-o", bin, generator).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", generator, err, out)
	}
	for _, args := range lines {
		var committed, fresh string
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-output" {
				committed = args[i+1]
				fresh = filepath.Join(tmp, strings.ReplaceAll(committed, "/", "_"))
				args[i+1] = fresh
			}
		}
		if committed == "" {
			t.Fatalf("go:generate line %q has no -output", args)
		}
		t.Run(committed, func(t *testing.T) {
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil || len(out) > 0 {
				t.Fatalf("radius-dict-gen %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			want, err := os.ReadFile(committed)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(fresh)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from what its dictionary generates; run `go generate ./dictionaries/...`", committed)
			}
		})
	}
}
