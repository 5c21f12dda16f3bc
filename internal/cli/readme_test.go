package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/verdict"
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

// TestReadmeListsFaultsAndReasons: every simulator fault and every reason
// of the closed list is in the README, where users look them up.
func TestReadmeListsFaultsAndReasons(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, f := range idpsim.FaultNames {
		if !strings.Contains(s, "`"+f+"`") && !strings.Contains(s, "`"+f+"=DURATION`") {
			t.Errorf("README.md does not list the fault %s", f)
		}
	}
	for _, r := range append(append([]verdict.Reason{}, verdict.FailReasons...), verdict.ErrorReasons...) {
		if !strings.Contains(s, "`"+string(r)+"`") {
			t.Errorf("README.md does not list the reason %s", r)
		}
	}
}
