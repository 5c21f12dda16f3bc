package cli

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// junitSchema is the JUnit XML schema as CI systems read it, declared
// apart from the writer's types so the test checks the document, not the
// structs that produced it.
type junitSchema struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Time      string `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var o, e bytes.Buffer
	code := Main(args, &o, &e)
	return code, o.String(), e.String()
}

func readJUnit(t *testing.T, file string) junitSchema {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitSchema
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the JUnit file does not parse: %v\n%s", err, b)
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d testsuites, want 1", len(doc.Suites))
	}
	return doc
}

func TestJUnitFail(t *testing.T) {
	file := filepath.Join(t.TempDir(), "revprober.xml")
	code, out, errOut := runCLI(t, "demo", "--once", "--fault", "ignore-revocation", "--endpoint", "global-token-revocation", "--junit", file)
	if code != ExitFail {
		t.Fatalf("exit %d, want %d (exit codes unchanged)\n%s\n%s", code, ExitFail, out, errOut)
	}
	doc := readJUnit(t, file)
	s := doc.Suites[0]
	byName := map[string]int{}
	for i, c := range s.Cases {
		byName[c.Name] = i
	}
	// One case per check plus one for the run.
	for _, name := range []string{
		"janssen-sim/global-token-revocation",
		"janssen-sim/global-token-revocation/introspection",
		"janssen-sim/global-token-revocation/userinfo",
		"janssen-sim/global-token-revocation/refresh",
		"janssen-sim/global-token-revocation/prompt_none",
		"janssen-sim/global-token-revocation/session_status",
	} {
		if _, ok := byName[name]; !ok {
			t.Errorf("no testcase %q (have %v)", name, byName)
		}
	}
	if s.Tests != len(s.Cases) || doc.Tests != s.Tests || s.Failures == 0 || s.Failures != doc.Failures {
		t.Fatalf("counts: suite %d tests %d failures, doc %d/%d", s.Tests, s.Failures, doc.Tests, doc.Failures)
	}
	run := s.Cases[byName["janssen-sim/global-token-revocation"]]
	if run.Failure == nil || run.Failure.Type != "access_token_still_active" {
		t.Fatalf("run-level case: %+v", run)
	}
	intro := s.Cases[byName["janssen-sim/global-token-revocation/introspection"]]
	if intro.Failure == nil {
		t.Fatal("the introspection case did not fail")
	}
	// The message says what stayed alive: artifact, check, canary, deadline.
	for _, want := range []string{"access_token still alive at the propagation deadline", "introspection check", "canary canary00001", "5s after the revocation"} {
		if !strings.Contains(intro.Failure.Message, want) {
			t.Errorf("failure message %q lacks %q", intro.Failure.Message, want)
		}
	}
}

func TestJUnitError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "revprober.xml")
	code, _, _ := runCLI(t, "demo", "--once", "--fault", "login-fail", "--junit", file)
	if code != ExitError {
		t.Fatalf("exit %d, want %d", code, ExitError)
	}
	s := readJUnit(t, file).Suites[0]
	// No check reached a verdict: one error case per run, no check cases.
	if s.Errors == 0 || s.Errors != len(s.Cases) || s.Failures != 0 {
		t.Fatalf("want every run as an error, got %d errors %d failures %d cases", s.Errors, s.Failures, len(s.Cases))
	}
	found := false
	for _, c := range s.Cases {
		found = found || c.Name == "janssen-sim/global-token-revocation"
		if c.Error == nil || c.Error.Type != "login_failed" || !strings.Contains(c.Error.Message, "login_failed") {
			t.Fatalf("case %s: %+v", c.Name, c.Error)
		}
	}
	if !found {
		t.Fatal("no run-level case janssen-sim/global-token-revocation")
	}
}

func TestJUnitPass(t *testing.T) {
	file := filepath.Join(t.TempDir(), "revprober.xml")
	if code, _, errOut := runCLI(t, "demo", "--once", "--junit", file); code != ExitPass {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	doc := readJUnit(t, file)
	if doc.Failures != 0 || doc.Errors != 0 || doc.Tests < 4 {
		t.Fatalf("%+v", doc)
	}
}

// TestJUnitUnwritable: a --junit FILE that cannot be written is bad usage
// found before any probe runs (exit 3, nothing probed, FILE named).
func TestJUnitUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "no-such-dir", "revprober.xml")
	code, out, errOut := runCLI(t, "demo", "--once", "--junit", file)
	if code != ExitConfig || out != "" || !strings.Contains(errOut, "--junit "+file) || strings.Contains(errOut, "[1/") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Dir(file)); err == nil {
		t.Fatal("the check created the directory")
	}
}

// TestJUnitWriteFailsAfterTheRun: when writing the report fails after the
// run (here /dev/full: it opens, every write fails), the verdict is not
// hidden: the report is printed, the exit code is the run's, and the
// write error is on stderr.
func TestJUnitWriteFailsAfterTheRun(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	code, out, errOut := runCLI(t, "demo", "--once", "--deadline", "1s", "--fault", "ignore-revocation", "--endpoint", "global-token-revocation", "--junit", "/dev/full")
	if code != ExitFail || !strings.Contains(out, "janssen-sim/global-token-revocation (janssen-global-token-revocation)  FAIL") || !strings.Contains(out, "0 passed, 2 failed, 0 errors") ||
		!strings.Contains(errOut, "--junit") || !strings.Contains(errOut, "no space left on device") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// TestJUnitCameBackAlive: tokens that die and come back within the hold
// fail the run and the checks that saw it, with the reason and the times.
func TestJUnitCameBackAlive(t *testing.T) {
	file := filepath.Join(t.TempDir(), "revprober.xml")
	// Back well after the first looks, well within the hold, also on a
	// loaded machine.
	code, out, errOut := runCLI(t, "demo", "--once", "--fault", "resurrect=500ms", "--hold", "2s", "--endpoint", "global-token-revocation", "--junit", file)
	if code != ExitFail {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitFail, out, errOut)
	}
	if !strings.Contains(out, "reason=came_back_alive") || !strings.Contains(out, "back at") {
		t.Errorf("the report does not say what came back:\n%s", out)
	}
	s := readJUnit(t, file).Suites[0]
	back := 0
	for _, c := range s.Cases {
		if c.Name == "janssen-sim/global-token-revocation" && (c.Failure == nil || c.Failure.Type != "came_back_alive") {
			t.Errorf("run-level case: %+v", c)
		}
		if c.Failure != nil && c.Name != "janssen-sim/global-token-revocation" {
			back++
			if c.Failure.Type != "came_back_alive" || !strings.Contains(c.Failure.Message, "alive again") {
				t.Errorf("%s: %+v", c.Name, c.Failure)
			}
		}
	}
	if back == 0 {
		t.Error("no check case failed")
	}
}
