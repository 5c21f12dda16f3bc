package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoTextFiles calls f with every text file of the repository (less
// build output and dependencies) and its path from the root.
func repoTextFiles(t *testing.T, f func(path, text string)) {
	t.Helper()
	root := "../.."
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "bin", "artifacts":
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil || strings.ContainsRune(string(b[:min(len(b), 512)]), 0) {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		f(rel, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCitationsResolve: the repository cites only what a user of it has.
// No file names the design notes or reference files the project was
// started from, and every "wire-facts.md §N.M" names a section that
// docs/wire-facts.md has.
func TestCitationsResolve(t *testing.T) {
	b, err := os.ReadFile("../../docs/wire-facts.md")
	if err != nil {
		t.Fatal(err)
	}
	facts := string(b)
	has := func(sec string) bool {
		top, sub, ok := strings.Cut(sec, ".")
		if !ok {
			return strings.Contains(facts, "\n## "+top+". ")
		}
		if top != "0" {
			return strings.Contains(facts, "\n### "+sec+" ")
		}
		// §0.M is the M-th finding of section 0.
		return strings.Contains(facts, "\n"+sub+". **")
	}
	cite := regexp.MustCompile(`wire-facts\.md §([0-9.]+)((?:(?:,| and|/) ?§[0-9.]+)*)`)
	outside := regexp.MustCompile(`shared[/]reference|DESIGN\.md|real-idps\.md|toolchain\.md`)
	n := 0
	repoTextFiles(t, func(path, text string) {
		if path == filepath.Join("internal", "cli", "docs_test.go") {
			return
		}
		if m := outside.FindString(text); m != "" {
			t.Errorf("%s cites %s, which users of this repository do not have: say it in docs/", path, m)
		}
		for _, m := range cite.FindAllStringSubmatch(text, -1) {
			secs := append([]string{m[1]}, regexp.MustCompile(`§([0-9.]+)`).FindAllString(m[2], -1)...)
			for _, s := range secs {
				s = strings.TrimSuffix(strings.TrimPrefix(s, "§"), ".")
				n++
				if !has(s) {
					t.Errorf("%s cites docs/wire-facts.md §%s, which does not exist", path, s)
				}
			}
		}
	})
	if n < 20 {
		t.Fatalf("only %d citations of docs/wire-facts.md found: the search is broken", n)
	}
}
