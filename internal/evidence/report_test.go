package evidence_test

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/evidence"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/all"
)

// TestReportFromDemoRuns records real runs against the simulator (passes,
// a fail from ignore-revocation, an error from login-fail) on a fake
// one-minute schedule with one missed stretch, and checks the report's
// numbers.
func TestReportFromDemoRuns(t *testing.T) {
	sim, base := probetest.Sim(t)
	p := probetest.Probe(t, base, "janssen-global-token-revocation", nil, probetest.Deadline(300*time.Millisecond))
	p.Target, p.Endpoint = "janssen-sim", "global-token-revocation"
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	l, err := evidence.Open(config.Evidence{Path: path}, "replica-a")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	// Minutes at which a run happened: 0..5, then nothing until 12.
	schedule := []struct {
		minute int
		faults []string
	}{
		{0, nil}, {1, nil}, {2, []string{"ignore-revocation"}}, {3, nil}, {4, []string{"login-fail"}}, {5, nil}, {12, nil}, {13, nil},
	}
	var passLat []float64
	for _, s := range schedule {
		f, err := idpsim.ParseFaults(s.faults)
		if err != nil {
			t.Fatal(err)
		}
		sim.SetFaults(f)
		run := probe.Run(context.Background(), p)
		run.Started = t0.Add(time.Duration(s.minute) * time.Minute)
		run.ConfigDigest = "cafe01"
		want := verdict.Pass
		switch {
		case len(s.faults) > 0 && s.faults[0] == "ignore-revocation":
			want = verdict.Fail
		case len(s.faults) > 0:
			want = verdict.Error
		}
		if run.Result != want {
			t.Fatalf("minute %d: %s/%s (%s), want %s", s.minute, run.Result, run.Reason, run.Detail, want)
		}
		if run.Result == verdict.Pass {
			passLat = append(passLat, *run.PropagationSeconds)
		}
		l.Record(run)
	}
	l.Close()

	rep, err := evidence.BuildReport([]string{path}, evidence.ReportOptions{SLO: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Chain.OK() || rep.Chain.Records != 8 {
		t.Fatalf("chain: %+v", rep.Chain)
	}
	if len(rep.Probes) != 1 {
		t.Fatalf("%d probes", len(rep.Probes))
	}
	pr := rep.Probes[0]
	if pr.Runs != 8 || pr.Pass != 6 || pr.Fail != 1 || pr.Error != 1 || pr.PassRate != 0.75 {
		t.Fatalf("counts: %+v", pr)
	}
	sort.Float64s(passLat)
	if pr.Propagation.N != 6 || pr.Propagation.P50 != passLat[2] || pr.Propagation.P95 != passLat[5] || pr.Propagation.Max != passLat[5] {
		t.Fatalf("propagation %+v, measured %v", pr.Propagation, passLat)
	}
	if pr.SLOMet != 6 || pr.SLOEligible != 7 || math.Abs(pr.SLOPercent()-600.0/7) > 1e-9 {
		t.Fatalf("SLO %d/%d", pr.SLOMet, pr.SLOEligible)
	}
	if len(pr.Incidents) != 2 || pr.Incidents[0].Reason != verdict.AccessTokenStillActive || pr.Incidents[1].Reason != verdict.LoginFailed ||
		!pr.Incidents[0].Time.Equal(t0.Add(2*time.Minute)) || pr.Incidents[1].Seq != 5 {
		t.Fatalf("incidents %+v", pr.Incidents)
	}
	if pr.Interval != time.Minute || len(pr.Gaps) != 1 || !pr.Gaps[0].From.Equal(t0.Add(5*time.Minute)) || pr.Gaps[0].Duration() != 7*time.Minute {
		t.Fatalf("interval %s gaps %+v", pr.Interval, pr.Gaps)
	}

	var md bytes.Buffer
	if err := rep.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| Hash chain | verified: 8 records, seq 1 to 8",
		"NOT CHECKED: the records are not signed",
		"| janssen-sim | global-token-revocation | 8 | 75.0 % | 1 | 1 |",
		"85.7 % (6/7)",
		"| 2026-03-02 09:02:00Z | FAIL | access_token_still_active |",
		"| 2026-03-02 09:04:00Z | ERROR | login_failed |",
		"| 2026-03-02 09:05:00Z | 2026-03-02 09:12:00Z | 7m0s |",
		"`cafe01`",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	var html bytes.Buffer
	if err := rep.HTML(&html); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<meta name="viewport"`, "access_token_still_active", "login_failed", "7m0s", "verified: 8 records"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("html lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md.String())
	}

	// A period bound: only minutes 3..5, and the run at 12 is outside.
	rep, err = evidence.BuildReport([]string{path}, evidence.ReportOptions{Since: t0.Add(3 * time.Minute), Until: t0.Add(6 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if pr := rep.Probes[0]; pr.Runs != 3 || pr.Error != 1 || pr.Fail != 0 {
		t.Fatalf("period: %+v", pr)
	}
}
