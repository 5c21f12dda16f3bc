package evidence

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/verdict"
)

// writeSchedule records runs of probe sim/gtr at the given minutes after
// 12:00 on 2026-03-01 (and one run of sim/other at minute 0), with the
// interval and SLO in the envelope.
func writeSchedule(t *testing.T, interval, slo time.Duration, minutes ...int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	lg, _ := quietLogger()
	l, err := OpenLogger(config.Evidence{Path: path}, "replica-a", lg)
	if err != nil {
		t.Fatal(err)
	}
	l.SetSchedule(Schedule{SLO: slo, Intervals: map[ProbeKey]time.Duration{{"sim", "gtr"}: interval, {"sim", "other"}: interval}})
	other := fakeRun(0)
	other.Endpoint = "other"
	if _, err := l.Append(other); err != nil {
		t.Fatal(err)
	}
	for i, m := range minutes {
		r := fakeRun(i)
		r.Started = time.Date(2026, 3, 1, 12, m, 0, 0, time.UTC)
		if _, err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func probeNamed(rep *Report, endpoint string) *ProbeReport {
	for _, p := range rep.Probes {
		if p.Endpoint == endpoint {
			return p
		}
	}
	return nil
}

// TestGapsAgainstTheConfiguredInterval: gaps are measured against the
// interval recorded with the runs, not guessed from the runs: the same
// runs have a gap with a 1m interval and none with a 5m one.
func TestGapsAgainstTheConfiguredInterval(t *testing.T) {
	minutes := []int{0, 1, 2, 3, 4, 5, 12, 13}
	rep, err := BuildReport([]string{writeSchedule(t, time.Minute, 30*time.Second, minutes...)}, ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pr := probeNamed(rep, "gtr")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if !pr.IntervalConfigured || pr.Interval != time.Minute || len(pr.Gaps) != 1 || !pr.Gaps[0].From.Equal(t0.Add(5*time.Minute)) || pr.Gaps[0].Duration() != 7*time.Minute {
		t.Fatalf("1m: interval %s (configured %v), gaps %+v", pr.Interval, pr.IntervalConfigured, pr.Gaps)
	}
	rep, _ = BuildReport([]string{writeSchedule(t, 5*time.Minute, 30*time.Second, minutes...)}, ReportOptions{})
	if pr := probeNamed(rep, "gtr"); pr.Interval != 5*time.Minute || len(pr.Gaps) != 0 {
		t.Fatalf("5m: interval %s, gaps %+v", pr.Interval, pr.Gaps)
	}
	// One run over a long period: the gaps before and after it show.
	rep, _ = BuildReport([]string{writeSchedule(t, time.Minute, 30*time.Second, 30)}, ReportOptions{Since: t0, Until: t0.Add(24 * time.Hour)})
	if pr := probeNamed(rep, "gtr"); pr.Runs != 1 || len(pr.Gaps) != 2 || !pr.Gaps[1].To.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("one run: %+v", pr.Gaps)
	}
}

// TestReportPeriod: --since alone ends the period now, so an outage still
// going on is a gap to the end; an empty or inverted period is an error;
// a period without runs says so and lists every probe with a gap over
// the whole period.
func TestReportPeriod(t *testing.T) {
	path := writeSchedule(t, time.Minute, 30*time.Second, 0, 1, 2, 3)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := t0.Add(time.Hour)
	rep, err := BuildReport([]string{path}, ReportOptions{Since: t0, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	pr := probeNamed(rep, "gtr")
	if !rep.To.Equal(now) || len(pr.Gaps) != 1 || !pr.Gaps[0].From.Equal(t0.Add(3*time.Minute)) || !pr.Gaps[0].To.Equal(now) {
		t.Fatalf("since only: period to %s, gaps %+v", rep.To, pr.Gaps)
	}
	if _, err := BuildReport([]string{path}, ReportOptions{Since: t0.Add(time.Hour), Until: t0}); err == nil || !strings.Contains(err.Error(), "is not before --until") {
		t.Fatalf("since after until: %v", err)
	}
	if _, err := BuildReport([]string{path}, ReportOptions{Since: now.Add(time.Hour), Now: func() time.Time { return now }}); err == nil {
		t.Fatal("a period starting in the future was accepted")
	}
	// Probe sim/other ran only at the first record's time (written "now",
	// its Started is fakeRun(0)'s 12:00): a period after it has 0 runs.
	rep, err = BuildReport([]string{path}, ReportOptions{Since: t0.Add(2 * time.Minute), Until: t0.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	other := probeNamed(rep, "other")
	if other == nil || other.Runs != 0 || len(other.Gaps) != 1 || !other.Gaps[0].From.Equal(t0.Add(2*time.Minute)) || other.Gaps[0].Duration() != 8*time.Minute {
		t.Fatalf("probe without runs in the period: %+v", other)
	}
	var md strings.Builder
	if err := rep.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| sim | other | 0 | n/a | 0 | 0 | - | - | - | n/a | 1 |", "No run in the period (the probe ran before or after it)",
		"| 2026-03-01 12:02:00Z | 2026-03-01 12:10:00Z | 8m0s |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	// No run at all in the period.
	rep, err = BuildReport([]string{path}, ReportOptions{Since: t0.Add(24 * time.Hour), Until: t0.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	md.Reset()
	rep.Markdown(&md)
	var html strings.Builder
	rep.HTML(&html)
	if rep.Runs != 0 || len(rep.Probes) != 2 || !strings.Contains(md.String(), "| Runs | none: no run was recorded in this period |") ||
		!strings.Contains(md.String(), "**No run was recorded in this period.**") || !strings.Contains(html.String(), "No run was recorded in this period.") {
		t.Fatalf("zero runs:\n%s", md.String())
	}
}

// TestReportUsesTheRecordedSLO: without --slo each run is judged against
// the global.slo recorded with it; --slo overrides.
func TestReportUsesTheRecordedSLO(t *testing.T) {
	// fakeRun(i) measured 0.25 + i/100 s: with a 275ms SLO, runs 0..2 meet it.
	path := writeSchedule(t, time.Minute, 275*time.Millisecond, 0, 1, 2, 3, 4, 5, 6, 7)
	rep, err := BuildReport([]string{path}, ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pr := probeNamed(rep, "gtr")
	if rep.SLOSource != "recorded" || rep.SLO != 275*time.Millisecond || pr.SLOMet != 3 || pr.SLOEligible != 8 || pr.Propagation.OverSLO != 5 {
		t.Fatalf("recorded SLO: %s %s, met %d/%d", rep.SLOSource, rep.SLO, pr.SLOMet, pr.SLOEligible)
	}
	var md strings.Builder
	rep.Markdown(&md)
	if !strings.Contains(md.String(), "| Propagation SLO | 275ms (global.slo, as recorded with the runs) |") || !strings.Contains(md.String(), "5 above the 275ms SLO") {
		t.Fatalf("markdown:\n%s", md.String())
	}
	rep, _ = BuildReport([]string{path}, ReportOptions{SLO: 30 * time.Second})
	if pr := probeNamed(rep, "gtr"); rep.SLOSource != "option" || pr.SLOMet != 8 {
		t.Fatalf("--slo: %s met %d", rep.SLOSource, pr.SLOMet)
	}
	// Records without an SLO (older versions): the default, said so.
	old := filepath.Join(t.TempDir(), "evidence.jsonl")
	writeN(t, config.Evidence{Path: old}, 0, 3)
	rep, _ = BuildReport([]string{old}, ReportOptions{})
	if rep.SLOSource != "default" || rep.SLO != DefaultSLO || !strings.Contains(rep.SLOText(), "do not carry global.slo") {
		t.Fatalf("no recorded SLO: %s %s", rep.SLOSource, rep.SLO)
	}
	if pr := rep.Probes[0]; pr.IntervalConfigured {
		t.Fatal("records without interval_ns reported a configured interval")
	}
	_ = verdict.Pass
}
