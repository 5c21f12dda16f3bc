//go:build junit

// Package junit checks `revprober once --junit` with a JUnit parser written
// by others (Debian's python3-junitparser, installed by `make test-junit`):
// CI systems read the file, not revprober's own structs.
//
//	REVPROBER_BIN=$PWD/bin/revprober go test -tags junit ./test/junit/
package junit

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type parsed struct {
	Suites []struct {
		Name                    string
		Tests, Failures, Errors int
		Cases                   []struct {
			Name, Classname string
			Results         []string
			Messages        []string
		}
	}
}

// junitparser runs check.py on file with Debian's python (the one that
// has the package, whatever python3 comes first on PATH).
func junitparser(t *testing.T, file string) parsed {
	t.Helper()
	py := os.Getenv("JUNIT_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	out, err := exec.Command(py, "check.py", file).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("junitparser could not read %s: %v\n%s", file, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var p parsed
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("check.py output: %v\n%s", err, out)
	}
	return p
}

// once runs `revprober demo --once --junit` with faults and returns its exit
// code and the parsed file. The deadline stays above the Entra emulation's
// 500 ms asynchronous revocation.
func once(t *testing.T, faults ...string) (int, parsed) {
	t.Helper()
	bin := os.Getenv("REVPROBER_BIN")
	if bin == "" {
		t.Fatal("REVPROBER_BIN is not set (make test-junit sets it)")
	}
	file := filepath.Join(t.TempDir(), "junit.xml")
	args := []string{"demo", "--once", "--deadline", "1s", "--hold", "200ms", "--junit", file}
	for _, f := range faults {
		args = append(args, "--fault", f)
	}
	err := exec.Command(bin, args...).Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, junitparser(t, file)
}

func TestJUnitReadByJunitparser(t *testing.T) {
	code, pass := once(t)
	if code != 0 {
		t.Fatalf("demo --once exit %d, want 0", code)
	}
	if len(pass.Suites) != 1 {
		t.Fatalf("%d suites, want 1", len(pass.Suites))
	}
	s := pass.Suites[0]
	probes := 0
	for _, c := range s.Cases {
		if strings.Count(c.Name, "/") == 1 { // target/endpoint: one case per probe
			probes++
		}
		if len(c.Results) != 0 {
			t.Errorf("case %s: %v on a passing run", c.Name, c.Results)
		}
	}
	if s.Tests != len(s.Cases) || s.Failures != 0 || s.Errors != 0 || probes < 17 {
		t.Fatalf("passing run: tests=%d cases=%d failures=%d errors=%d probes=%d", s.Tests, len(s.Cases), s.Failures, s.Errors, probes)
	}

	// Refresh tokens that survive: the probes that promise the refresh token
	// dies fail, and the refresh check's case says what stayed alive.
	code, fail := once(t, "keep-refresh")
	if code != 1 {
		t.Fatalf("demo --once --fault keep-refresh exit %d, want 1", code)
	}
	s = fail.Suites[0]
	failures := 0
	for _, c := range s.Cases {
		for i, r := range c.Results {
			if r != "failure" {
				continue
			}
			failures++
			if strings.HasSuffix(c.Name, "/refresh") && !strings.Contains(c.Messages[i], "refresh_token") {
				t.Errorf("case %s: failure message %q does not say the refresh token stayed alive", c.Name, c.Messages[i])
			}
		}
	}
	if failures == 0 || failures != s.Failures || s.Tests != len(s.Cases) {
		t.Fatalf("failing run: %d failures counted, suite says %d; tests=%d cases=%d", failures, s.Failures, s.Tests, len(s.Cases))
	}

	// No verdict (the positive control fails): errors, not failures.
	code, errs := once(t, "introspection-always-inactive")
	if code != 2 {
		t.Fatalf("demo --once --fault introspection-always-inactive exit %d, want 2", code)
	}
	if s := errs.Suites[0]; s.Errors == 0 || s.Failures != 0 {
		t.Fatalf("positive control failing: errors=%d failures=%d", s.Errors, s.Failures)
	}
}
