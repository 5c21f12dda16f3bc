package evidence

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/revprober/revprober/internal/verdict"
)

// DefaultSLO is the propagation objective of a report when neither
// ReportOptions.SLO nor the records say one (records of older versions).
const DefaultSLO = 30 * time.Second

// ReportOptions select the period and the objective of a report.
type ReportOptions struct {
	// Since and Until bound the period (by each run's start; Until is
	// exclusive). Zero Since: from the first run found. Zero Until: now
	// when Since is given (so an outage still going on shows as a gap to
	// the end), else to the last run found. Since must be before Until.
	Since, Until time.Time
	// SLO is the propagation latency objective. Zero: each run is judged
	// against the SLO recorded with it (global.slo when it ran), or
	// DefaultSLO for records that carry none.
	SLO    time.Duration
	Verify VerifyOptions
	Now    func() time.Time
}

// Report summarises a period of evidence for an auditor.
type Report struct {
	Generated time.Time
	Files     []string
	// Period is what the report covers: the options' bounds, or the
	// first and last run found.
	From, To time.Time
	// SLO is the objective the runs were judged against: the --slo, or
	// the one recorded with every run of the period; zero when the runs
	// recorded several (see SLOs). SLOSource says where it came from.
	SLO       time.Duration
	SLOs      []time.Duration
	SLOSource string // "option", "recorded", "default", "mixed"
	Chain     *Result
	// Runs is the number of runs in the period.
	Runs     int
	Pass     int
	Fail     int
	Error    int
	Configs  []ConfigSpan
	Replicas []string
	Probes   []*ProbeReport
	// Notices are the repairs recorded in the chains (all of them, not
	// only the period's).
	Notices []NoticeAt
}

// ConfigSpan says which configuration (by digest) ran when.
type ConfigSpan struct {
	Digest      string
	First, Last time.Time
	Runs        int
}

// ProbeReport is one target × endpoint over the period, with the runs of
// every replica merged.
type ProbeReport struct {
	Target, Endpoint, Driver string
	Profile                  verdict.Profile
	Runs, Pass, Fail, Error  int
	// PassRate is Pass / Runs (NaN without runs).
	PassRate float64
	// Propagation is over the runs that measured one (passes).
	Propagation LatencyStats
	// SLO is the objective this probe's runs were judged against (zero
	// when they recorded several).
	SLO time.Duration
	// SLOMet counts runs with a verdict (pass or fail) whose propagation
	// was within the SLO; SLOEligible counts runs with a verdict. A fail
	// never meets the SLO; errors reached no verdict and are left out.
	SLOMet, SLOEligible int
	Incidents           []Incident
	// Interval is the configured interval between two runs, as recorded
	// with the runs (IntervalConfigured), or, for records that do not
	// carry it, the typical (median) time between two runs. Gaps are the
	// stretches longer than twice the interval with no run.
	Interval           time.Duration
	IntervalConfigured bool
	Gaps               []Gap
	First, Last        time.Time
	Drift              int // runs that saw a promised-to-survive artifact dead
	Replicas           []string
}

// SLOPercent is the share of runs with a verdict that met the SLO.
func (p *ProbeReport) SLOPercent() float64 {
	if p.SLOEligible == 0 {
		return math.NaN()
	}
	return 100 * float64(p.SLOMet) / float64(p.SLOEligible)
}

// LatencyStats are nearest-rank percentiles, in seconds.
type LatencyStats struct {
	N             int
	P50, P95, Max float64
	OverSLO       int // measured latencies above the SLO
}

// Incident is a fail or an error.
type Incident struct {
	Time    time.Time
	RunID   string
	Seq     uint64
	Replica string
	Result  verdict.Result
	Reason  verdict.Reason
	Detail  string
}

// Gap is a stretch with no run.
type Gap struct {
	From, To time.Time
}

// Duration of the gap.
func (g Gap) Duration() time.Duration { return g.To.Sub(g.From) }

// BuildReport verifies files and summarises the runs in the period.
func BuildReport(files []string, opts ReportOptions) (*Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if !opts.Since.IsZero() && !opts.Until.IsZero() && !opts.Since.Before(opts.Until) {
		return nil, fmt.Errorf("the period is empty: --since %s is not before --until %s", ts(opts.Since), ts(opts.Until))
	}
	now := opts.Now().UTC()
	to := opts.Until
	if to.IsZero() && !opts.Since.IsZero() {
		if !opts.Since.Before(now) {
			return nil, fmt.Errorf("--since %s is in the future", ts(opts.Since))
		}
		to = now
	}
	type probeRuns struct {
		rep      *ProbeReport
		runs     []*Record
		interval time.Duration // last recorded, in or out of the period
		replicas map[string]bool
	}
	probes := map[string]*probeRuns{}
	configs := map[string]*ConfigSpan{}
	replicas := map[string]bool{}
	var first, last time.Time
	res, err := Verify(files, opts.Verify, func(rec *Record, _ Loc) {
		r := rec.Run
		if r == nil {
			return
		}
		key := r.Target + "\x00" + r.Endpoint
		pr := probes[key]
		if pr == nil {
			pr = &probeRuns{rep: &ProbeReport{Target: r.Target, Endpoint: r.Endpoint, Driver: r.Driver, Profile: r.Profile}, replicas: map[string]bool{}}
			probes[key] = pr
		}
		if rec.Interval > 0 {
			pr.interval = rec.Interval
		}
		t := runTime(rec)
		if (!opts.Since.IsZero() && t.Before(opts.Since)) || (!to.IsZero() && !t.Before(to)) {
			return
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
		pr.runs = append(pr.runs, rec)
		pr.replicas[rec.Replica] = true
		d := rec.ConfigDigest
		if d == "" {
			d = r.ConfigDigest
		}
		cs := configs[d]
		if cs == nil {
			cs = &ConfigSpan{Digest: d, First: t, Last: t}
			configs[d] = cs
		}
		cs.Runs++
		if t.Before(cs.First) {
			cs.First = t
		}
		if t.After(cs.Last) {
			cs.Last = t
		}
		replicas[rec.Replica] = true
	})
	if err != nil {
		return nil, err
	}
	rep := &Report{Generated: now, Files: files, Chain: res, From: opts.Since, To: to, Notices: res.Notices()}
	if rep.From.IsZero() {
		rep.From = first
	}
	if rep.To.IsZero() {
		rep.To = last
	}
	slos := map[time.Duration]bool{}
	sloOf := func(rec *Record) time.Duration {
		switch {
		case opts.SLO > 0:
			return opts.SLO
		case rec.SLO > 0:
			return rec.SLO
		}
		return DefaultSLO
	}
	recorded, unrecorded := false, false
	for _, pr := range probes {
		p := pr.rep
		sort.SliceStable(pr.runs, func(i, j int) bool { return runTime(pr.runs[i]).Before(runTime(pr.runs[j])) })
		var lat []float64
		probeSLOs := map[time.Duration]bool{}
		for _, rec := range pr.runs {
			r := rec.Run
			slo := sloOf(rec)
			slos[slo], probeSLOs[slo] = true, true
			if rec.SLO > 0 {
				recorded = true
			} else {
				unrecorded = true
			}
			p.Runs++
			p.Driver, p.Profile = r.Driver, r.Profile
			switch r.Result {
			case verdict.Pass:
				p.Pass++
				p.SLOEligible++
			case verdict.Fail:
				p.Fail++
				p.SLOEligible++
			default:
				p.Error++
			}
			if len(r.Drift) > 0 {
				p.Drift++
			}
			if r.PropagationSeconds != nil {
				s := *r.PropagationSeconds
				lat = append(lat, s)
				if s > slo.Seconds() {
					p.Propagation.OverSLO++
				} else if r.Result == verdict.Pass {
					p.SLOMet++
				}
			}
			if r.Result != verdict.Pass {
				p.Incidents = append(p.Incidents, Incident{Time: runTime(rec), RunID: r.ID, Seq: rec.Seq, Replica: rec.Replica, Result: r.Result, Reason: r.Reason, Detail: r.Detail})
			}
		}
		if len(probeSLOs) == 1 {
			for d := range probeSLOs {
				p.SLO = d
			}
		}
		for r := range pr.replicas {
			p.Replicas = append(p.Replicas, r)
		}
		sort.Strings(p.Replicas)
		p.PassRate = float64(p.Pass) / float64(p.Runs)
		p.Propagation.N = len(lat)
		if len(lat) > 0 {
			sort.Float64s(lat)
			p.Propagation.P50 = percentile(lat, 0.50)
			p.Propagation.P95 = percentile(lat, 0.95)
			p.Propagation.Max = lat[len(lat)-1]
		}
		if len(pr.runs) > 0 {
			p.First, p.Last = runTime(pr.runs[0]), runTime(pr.runs[len(pr.runs)-1])
		}
		p.Interval, p.IntervalConfigured, p.Gaps = gaps(pr.runs, pr.interval, rep.From, rep.To)
		rep.Runs += p.Runs
		rep.Pass += p.Pass
		rep.Fail += p.Fail
		rep.Error += p.Error
		rep.Probes = append(rep.Probes, p)
	}
	for d := range slos {
		rep.SLOs = append(rep.SLOs, d)
	}
	slices.Sort(rep.SLOs)
	switch {
	case opts.SLO > 0:
		rep.SLO, rep.SLOSource = opts.SLO, "option"
	case len(rep.SLOs) > 1:
		rep.SLOSource = "mixed"
	case recorded && !unrecorded:
		rep.SLO, rep.SLOSource = rep.SLOs[0], "recorded"
	default:
		rep.SLO, rep.SLOSource = DefaultSLO, "default"
	}
	sort.Slice(rep.Probes, func(i, j int) bool {
		a, b := rep.Probes[i], rep.Probes[j]
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		return a.Endpoint < b.Endpoint
	})
	for _, c := range configs {
		rep.Configs = append(rep.Configs, *c)
	}
	sort.Slice(rep.Configs, func(i, j int) bool { return rep.Configs[i].First.Before(rep.Configs[j].First) })
	for r := range replicas {
		rep.Replicas = append(rep.Replicas, r)
	}
	sort.Strings(rep.Replicas)
	return rep, nil
}

func runTime(rec *Record) time.Time {
	if rec.Run != nil && !rec.Run.Started.IsZero() {
		return rec.Run.Started
	}
	return rec.Time
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// gaps finds the stretches of the period [from, to) with no run for more
// than twice the interval: between two runs, from the period's start to
// the first run, and from the last run to the period's end. The interval
// is the one recorded with the run that ends the stretch (the last run's
// for the stretch to the end), else configured (the probe's last recorded
// interval), else, for records that carry none, the typical (median) time
// between two runs. A probe without a run in the period has one gap: the
// whole period.
func gaps(runs []*Record, configured time.Duration, from, to time.Time) (time.Duration, bool, []Gap) {
	if len(runs) == 0 {
		if !from.IsZero() && to.After(from) {
			return configured, configured > 0, []Gap{{from, to}}
		}
		return configured, configured > 0, nil
	}
	typical := time.Duration(0)
	if len(runs) >= 2 {
		diffs := make([]time.Duration, 0, len(runs)-1)
		for i := 1; i < len(runs); i++ {
			diffs = append(diffs, runTime(runs[i]).Sub(runTime(runs[i-1])))
		}
		slices.Sort(diffs)
		typical = diffs[(len(diffs)-1)/2]
	}
	interval, isConfigured := typical, false
	if iv := runs[len(runs)-1].Interval; iv > 0 {
		interval, isConfigured = iv, true
	} else if configured > 0 {
		interval, isConfigured = configured, true
	}
	limitAt := func(i int) time.Duration {
		if iv := runs[min(i, len(runs)-1)].Interval; iv > 0 {
			return 2 * iv
		}
		return 2 * interval
	}
	if interval <= 0 {
		return interval, isConfigured, nil
	}
	var out []Gap
	if f := runTime(runs[0]); !from.IsZero() && f.Sub(from) > limitAt(0) {
		out = append(out, Gap{from, f})
	}
	for i := 1; i < len(runs); i++ {
		a, b := runTime(runs[i-1]), runTime(runs[i])
		if b.Sub(a) > limitAt(i) {
			out = append(out, Gap{a, b})
		}
	}
	if l := runTime(runs[len(runs)-1]); !to.IsZero() && to.Sub(l) > limitAt(len(runs)-1) {
		out = append(out, Gap{l, to})
	}
	return interval, isConfigured, out
}

// fmtSecs prints a latency in seconds for reports.
func fmtSecs(s float64) string {
	switch {
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	case s < 100:
		return fmt.Sprintf("%.2f s", s)
	default:
		return time.Duration(s * float64(time.Second)).Round(time.Second).String()
	}
}
