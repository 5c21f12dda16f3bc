package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestExampleConfigsAreValid: every example in configs/ passes
// check-config without a warning (with its ${VARS} set), so the examples
// users copy stay in step with the loader.
func TestExampleConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found: %v", err)
	}
	envRef := regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range envRef.FindAllStringSubmatch(string(b), -1) {
				t.Setenv(m[1], "example-value")
			}
			// No warning either: an example teaches what it shows.
			if code, out, errOut := run(t, "check-config", "-c", f); code != 0 || errOut != "" {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}
