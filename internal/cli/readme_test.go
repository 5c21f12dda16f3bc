package cli

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeDriverTable keeps the README's table of promises identical to
// the drivers' own profiles: docs that drift from code mislead operators
// about what a pass means.
func TestReadmeDriverTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	begin, end := strings.Index(s, "<!-- drivers:begin -->\n"), strings.Index(s, "<!-- drivers:end -->")
	if begin < 0 || end < begin {
		t.Fatal("README.md lacks the drivers:begin/end markers")
	}
	got := s[begin+len("<!-- drivers:begin -->\n") : end]
	if want := driverTable(); got != want {
		t.Errorf("README.md's driver table is stale; regenerate it with `revprober drivers --markdown`.\ngot:\n%s\nwant:\n%s", got, want)
	}
}
