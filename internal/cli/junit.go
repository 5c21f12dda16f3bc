package cli

import (
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/revprober/revprober/internal/verdict"
)

// `once --junit FILE` and `demo --once --junit FILE` write the runs as a
// JUnit XML report for CI systems: one testsuite; one testcase per
// target × endpoint × check ("janssen-sim/global-token-revocation/introspection")
// and one per run for the run-level verdict ("janssen-sim/global-token-revocation").
// The exit code stays that of `once`: a FILE that cannot be written is
// bad usage (exit 3) found before any probe runs; if writing still fails
// after the run, the error goes to stderr and the exit code is the run's.
func init() {
	prev := addOnceOutputs
	addOnceOutputs = func(fs *flag.FlagSet, o *onceOptions) {
		prev(fs, o)
		file := fs.String("junit", "", "also write a JUnit XML report to `FILE` (for CI)")
		o.checks = append(o.checks, func() error {
			if *file == "" {
				return nil
			}
			return checkWritable(*file)
		})
		o.hooks = append(o.hooks, func(runs []*verdict.Run) error {
			if *file == "" {
				return nil
			}
			return writeJUnitFile(*file, runs, time.Now())
		})
	}
}

type junitTestsuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Errors   int              `xml:"errors,attr"`
	Time     string           `xml:"time,attr"`
	Suites   []junitTestsuite `xml:"testsuite"`
}

type junitTestsuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitTestcase `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestcase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// checkWritable fails when file could not be written: an existing file
// that cannot be opened for writing, or a directory that a new file
// cannot be created in. It leaves an existing file as it is and creates
// none.
func checkWritable(file string) error {
	if st, err := os.Stat(file); err == nil {
		if st.IsDir() {
			return fmt.Errorf("--junit %s: is a directory", file)
		}
		f, err := os.OpenFile(file, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("--junit %s: cannot be written: %w", file, err)
		}
		return f.Close()
	}
	dir := filepath.Dir(file)
	f, err := os.CreateTemp(dir, ".revprober-junit-*")
	if err != nil {
		return fmt.Errorf("--junit %s: cannot be written (no probe was run): %w", file, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func writeJUnitFile(file string, runs []*verdict.Run, now time.Time) error {
	b, err := junitXML(runs, now)
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return fmt.Errorf("--junit: %w", err)
	}
	return nil
}

func junitSecs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// junitXML renders runs as a JUnit report.
func junitXML(runs []*verdict.Run, now time.Time) ([]byte, error) {
	suite := junitTestsuite{Name: "revprober", Timestamp: now.UTC().Format("2006-01-02T15:04:05")}
	var total time.Duration
	digests := map[string]bool{}
	for _, r := range runs {
		total += r.Duration
		if r.ConfigDigest != "" && !digests[r.ConfigDigest] {
			digests[r.ConfigDigest] = true
			suite.Properties = append(suite.Properties, junitProperty{Name: "config_digest", Value: r.ConfigDigest})
		}
		suite.Cases = append(suite.Cases, runCases(r)...)
	}
	for _, c := range suite.Cases {
		suite.Tests++
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Error != nil:
			suite.Errors++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	suite.Time = junitSecs(total)
	doc := junitTestsuites{Name: "revprober", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Time: suite.Time, Suites: []junitTestsuite{suite}}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("--junit: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

// runCases is the run-level testcase and one testcase per check.
func runCases(r *verdict.Run) []junitTestcase {
	id := r.Target + "/" + r.Endpoint
	class := "revprober." + r.Target + "." + r.Endpoint
	trace := runTrace(r)
	runCase := junitTestcase{Name: id, Classname: class, Time: junitSecs(r.Duration), SystemOut: trace}
	switch r.Result {
	case verdict.Fail:
		runCase.Failure = &junitProblem{Type: string(r.Reason), Message: fmt.Sprintf("revocation not enforced: %s: %s", r.Reason, r.Detail), Text: trace}
	case verdict.Error:
		runCase.Error = &junitProblem{Type: string(r.Reason), Message: fmt.Sprintf("no verdict: %s: %s", r.Reason, r.Detail), Text: trace}
	}
	cases := []junitTestcase{runCase}

	// A check name gets the canary when a run checks several canaries.
	seen := map[verdict.Check]int{}
	for _, c := range r.Checks {
		seen[c.Check]++
	}
	for _, c := range r.Checks {
		name := id + "/" + string(c.Check)
		if seen[c.Check] > 1 {
			name += " [" + c.Canary + "]"
		}
		tc := junitTestcase{Name: name, Classname: class}
		if c.PropagationSeconds != nil {
			tc.Time = fmt.Sprintf("%.3f", *c.PropagationSeconds)
		} else {
			tc.Time = "0.000"
		}
		what := fmt.Sprintf("%s of canary %s (%s check, promise: %s)", c.Artifact, c.Canary, c.Check, c.Expect)
		tc.SystemOut = fmt.Sprintf("%s: before revocation %s, after %s, %d polls", what, c.Before, c.After, c.Polls)
		if c.PropagationSeconds != nil {
			tc.SystemOut += fmt.Sprintf(", dead %.3fs after the revoke request", *c.PropagationSeconds)
		}
		if c.HeldSeconds != nil {
			tc.SystemOut += fmt.Sprintf(", still dead %.3fs later", *c.HeldSeconds)
		}
		if c.Drift {
			tc.SystemOut += "; drift: documented to survive, found dead"
		}
		switch {
		case c.Before == verdict.Failed || c.After == verdict.Failed:
			tc.Error = &junitProblem{Type: string(c.Check.Unavailable()), Message: fmt.Sprintf("%s: the check could not be made: %s", c.Check.Unavailable(), orText(c.Detail, r.Detail))}
		case c.Before != verdict.Alive && c.Before != verdict.Skipped:
			tc.Error = &junitProblem{Type: string(r.Reason), Message: fmt.Sprintf("positive control: %s was %s before the revocation, so its death proves nothing (%s: %s)", c.Artifact, c.Before, r.Reason, r.Detail)}
		case c.Expect == verdict.Dies && c.CameBackSeconds != nil:
			tc.Failure = &junitProblem{Type: string(verdict.CameBackAlive),
				Message: fmt.Sprintf("%s came back alive: dead %.3fs after the revoke request, alive again %.3fs after it (%s check, canary %s): %s",
					c.Artifact, *c.FirstDeadSeconds, *c.CameBackSeconds, c.Check, c.Canary, r.Detail)}
		case c.Expect == verdict.Dies && c.After == verdict.Alive && r.Result == verdict.Fail:
			tc.Failure = &junitProblem{Type: string(c.Artifact.StillAlive()),
				Message: fmt.Sprintf("%s still alive at the propagation deadline (%s check, canary %s, %d polls): %s", c.Artifact, c.Check, c.Canary, c.Polls, r.Detail)}
		case c.Expect == verdict.Dies && c.After == verdict.Dead:
			// pass
		case c.Expect == verdict.Survives && c.After != verdict.Skipped:
			// pass (drift noted in system-out)
		case r.Result == verdict.Error:
			tc.Error = &junitProblem{Type: string(r.Reason), Message: fmt.Sprintf("not verified: the run ended in error before this check reached a verdict (%s: %s)", r.Reason, r.Detail)}
		default:
			tc.Skipped = &junitProblem{Message: fmt.Sprintf("not verified (before %s, after %s)", c.Before, c.After)}
		}
		cases = append(cases, tc)
	}
	return cases
}

func orText(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// runTrace is a short, redacted account of a run for system-out.
func runTrace(r *verdict.Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s: %s", r.ID, r.Result)
	if r.Result != verdict.Pass {
		fmt.Fprintf(&b, " (%s)", r.Reason)
	}
	if r.PropagationSeconds != nil {
		fmt.Fprintf(&b, ", propagation %.3fs", *r.PropagationSeconds)
	}
	fmt.Fprintf(&b, ", took %s\n", r.Duration.Round(time.Millisecond))
	if r.Detail != "" {
		fmt.Fprintf(&b, "%s\n", r.Detail)
	}
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "  step %-16s %8s %s\n", s.Name, s.Duration.Round(time.Millisecond), s.Error)
	}
	if r.Cleanup != "" {
		fmt.Fprintf(&b, "cleanup: %s\n", r.Cleanup)
	}
	return b.String()
}
