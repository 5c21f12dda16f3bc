package cli

import "testing"

// TestVersionNamesTheRevision: the revision given at build time (the
// Makefile's -X …cli.Revision from git) is what `version` prints, also
// where Go stamped no VCS data (make test-version builds the real binary
// that way).
func TestVersionNamesTheRevision(t *testing.T) {
	defer func(v, r string) { Version, Revision = v, r }(Version, Revision)
	Version, Revision = "v1.2.3", "0123456789abcdef0123456789abcdef01234567"
	if code, out, _ := run(t, "version"); code != 0 || out != "revprober v1.2.3 0123456789abcdef0123456789abcdef01234567\n" {
		t.Fatalf("exit %d: %q", code, out)
	}
}
