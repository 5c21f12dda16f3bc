package evidence

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/revprober/revprober/internal/verdict"
)

// ReportOptions select the period and the objective of a report.
type ReportOptions struct {
	// Since and Until bound the period (by each run's start); zero means
	// from the first record / to the last record.
	Since, Until time.Time
	// SLO is the propagation latency objective. Default 30s.
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
	SLO      time.Duration
	Chain    *Result
	// Runs is the number of runs in the period.
	Runs     int
	Pass     int
	Fail     int
	Error    int
	Configs  []ConfigSpan
	Replicas []string
	Probes   []*ProbeReport
}

// ConfigSpan says which configuration (by digest) ran when.
type ConfigSpan struct {
	Digest      string
	First, Last time.Time
	Runs        int
}

// ProbeReport is one target × endpoint over the period.
type ProbeReport struct {
	Target, Endpoint, Driver string
	Profile                  verdict.Profile
	Runs, Pass, Fail, Error  int
	// PassRate is Pass / Runs.
	PassRate float64
	// Propagation is over the runs that measured one (passes).
	Propagation LatencyStats
	// SLOMet counts runs with a verdict (pass or fail) whose propagation
	// was within the SLO; SLOEligible counts runs with a verdict. A fail
	// never meets the SLO; errors reached no verdict and are left out.
	SLOMet, SLOEligible int
	Incidents           []Incident
	// Interval is the typical (median) time between two runs; Gaps are
	// the stretches longer than twice that with no run.
	Interval    time.Duration
	Gaps        []Gap
	First, Last time.Time
	Drift       int // runs that saw a promised-to-survive artifact dead
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
	Time   time.Time
	RunID  string
	Seq    uint64
	Result verdict.Result
	Reason verdict.Reason
	Detail string
}

// Gap is a stretch with no run.
type Gap struct {
	From, To time.Time
}

// Duration of the gap.
func (g Gap) Duration() time.Duration { return g.To.Sub(g.From) }

// BuildReport verifies files and summarises the runs in the period.
func BuildReport(files []string, opts ReportOptions) (*Report, error) {
	if opts.SLO <= 0 {
		opts.SLO = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	type probeRuns struct {
		rep  *ProbeReport
		runs []*Record
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
		t := r.Started
		if t.IsZero() {
			t = rec.Time
		}
		if (!opts.Since.IsZero() && t.Before(opts.Since)) || (!opts.Until.IsZero() && !t.Before(opts.Until)) {
			return
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
		key := r.Target + "\x00" + r.Endpoint
		pr := probes[key]
		if pr == nil {
			pr = &probeRuns{rep: &ProbeReport{Target: r.Target, Endpoint: r.Endpoint}}
			probes[key] = pr
		}
		pr.runs = append(pr.runs, rec)
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
	rep := &Report{Generated: opts.Now().UTC(), Files: files, SLO: opts.SLO, Chain: res, From: opts.Since, To: opts.Until}
	if rep.From.IsZero() {
		rep.From = first
	}
	if rep.To.IsZero() {
		rep.To = last
	}
	for _, pr := range probes {
		p := pr.rep
		sort.SliceStable(pr.runs, func(i, j int) bool { return runTime(pr.runs[i]).Before(runTime(pr.runs[j])) })
		var lat []float64
		for _, rec := range pr.runs {
			r := rec.Run
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
				if s > opts.SLO.Seconds() {
					p.Propagation.OverSLO++
				} else if r.Result == verdict.Pass {
					p.SLOMet++
				}
			}
			if r.Result != verdict.Pass {
				p.Incidents = append(p.Incidents, Incident{Time: runTime(rec), RunID: r.ID, Seq: rec.Seq, Result: r.Result, Reason: r.Reason, Detail: r.Detail})
			}
		}
		p.PassRate = float64(p.Pass) / float64(p.Runs)
		p.Propagation.N = len(lat)
		if len(lat) > 0 {
			sort.Float64s(lat)
			p.Propagation.P50 = percentile(lat, 0.50)
			p.Propagation.P95 = percentile(lat, 0.95)
			p.Propagation.Max = lat[len(lat)-1]
		}
		p.First, p.Last = runTime(pr.runs[0]), runTime(pr.runs[len(pr.runs)-1])
		p.Interval, p.Gaps = gaps(pr.runs, rep.From, rep.To)
		rep.Runs += p.Runs
		rep.Pass += p.Pass
		rep.Fail += p.Fail
		rep.Error += p.Error
		rep.Probes = append(rep.Probes, p)
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

// gaps finds the typical interval between runs (the median difference)
// and every stretch longer than twice that with no run, including from
// the period's start to the first run and from the last run to its end.
func gaps(runs []*Record, from, to time.Time) (time.Duration, []Gap) {
	if len(runs) < 2 {
		return 0, nil
	}
	diffs := make([]time.Duration, 0, len(runs)-1)
	for i := 1; i < len(runs); i++ {
		diffs = append(diffs, runTime(runs[i]).Sub(runTime(runs[i-1])))
	}
	sorted := append([]time.Duration(nil), diffs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	typical := sorted[(len(sorted)-1)/2]
	if typical <= 0 {
		return typical, nil
	}
	limit := 2 * typical
	var out []Gap
	if f := runTime(runs[0]); !from.IsZero() && f.Sub(from) > limit {
		out = append(out, Gap{from, f})
	}
	for i, d := range diffs {
		if d > limit {
			out = append(out, Gap{runTime(runs[i]), runTime(runs[i+1])})
		}
	}
	if l := runTime(runs[len(runs)-1]); !to.IsZero() && to.Sub(l) > limit {
		out = append(out, Gap{l, to})
	}
	return typical, out
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
