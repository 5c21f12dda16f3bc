package evidence

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/revprober/revprober/internal/verdict"
)

const tfmt = "2006-01-02 15:04:05Z07:00"

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(tfmt)
}

// ChainStatus is one sentence on the chains' verification.
func (r *Report) ChainStatus() string {
	c := r.Chain
	if c.Problem != nil {
		return fmt.Sprintf("NOT VERIFIED: %s (%d problem(s) in all)", c.Problem.Error(), c.Problems)
	}
	if len(c.Chains) > 1 {
		return fmt.Sprintf("verified: %d chains (one per replica), %d records in all, every chain intact", len(c.Chains), c.Records)
	}
	s := fmt.Sprintf("verified: %d records, seq %d to %d, chain intact; head hash %s", c.Records, c.FirstSeq, c.LastSeq, c.LastHash)
	if len(c.Chains) == 1 && c.Chains[0].Head != nil {
		s += fmt.Sprintf("; reaches the anchored head %s", c.Chains[0].Head)
	}
	return s
}

// ChainLine is one chain's status, for the table of chains.
func ChainLine(c *Chain) string {
	if c.Problem != nil {
		return fmt.Sprintf("NOT VERIFIED: %s (%d problem(s))", c.Problem.Error(), c.Problems)
	}
	s := "verified"
	if c.Head != nil {
		s += fmt.Sprintf("; reaches the anchored head %s (%d record(s) after it)", c.Head, c.AfterHead)
	}
	if len(c.Notices) > 0 {
		s += fmt.Sprintf("; %d notice(s), see below", len(c.Notices))
	}
	return s
}

// SLOText says which objective the runs were judged against and where it
// came from.
func (r *Report) SLOText() string {
	switch r.SLOSource {
	case "option":
		return fmt.Sprintf("%s (given with --slo)", r.SLO)
	case "recorded":
		return fmt.Sprintf("%s (global.slo, as recorded with the runs)", r.SLO)
	case "mixed":
		parts := make([]string, len(r.SLOs))
		for i, d := range r.SLOs {
			parts[i] = d.String()
		}
		return fmt.Sprintf("%s: global.slo changed during the period; each run is judged against the SLO recorded with it", strings.Join(parts, ", "))
	}
	return fmt.Sprintf("%s (default: the records do not carry global.slo)", r.SLO)
}

// RunsText is the header's run count.
func (r *Report) RunsText() string {
	if r.Runs == 0 {
		return "none: no run was recorded in this period"
	}
	return fmt.Sprintf("%d: %d pass, %d fail, %d error", r.Runs, r.Pass, r.Fail, r.Error)
}

// SignatureStatus is one sentence on signatures.
func (r *Report) SignatureStatus() string {
	c := r.Chain
	switch {
	case c.SigChecked && c.Problem == nil:
		return fmt.Sprintf("every record's Ed25519 signature verified with key %s", c.KeyID)
	case c.SigChecked:
		return fmt.Sprintf("checked with key %s (see the chain problem above)", c.KeyID)
	case c.Signed > 0:
		return fmt.Sprintf("NOT CHECKED: %d of %d records are signed, but no public key was given (--key)", c.Signed, c.Records)
	default:
		return "NOT CHECKED: the records are not signed"
	}
}

func pct(f float64) string {
	if math.IsNaN(f) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f %%", f)
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	return s
}

// Markdown writes the report as Markdown.
func (r *Report) Markdown(w io.Writer) error {
	ew := &errWriter{w: w}
	p := ew.printf
	p("# Revocation evidence report\n\n")
	p("| | |\n|---|---|\n")
	p("| Period | %s to %s |\n", ts(r.From), ts(r.To))
	p("| Generated | %s |\n", ts(r.Generated))
	p("| Evidence files | %s |\n", mdEscape(strings.Join(r.Files, ", ")))
	p("| Hash chain | %s |\n", mdEscape(r.ChainStatus()))
	p("| Signatures | %s |\n", mdEscape(r.SignatureStatus()))
	p("| Propagation SLO | %s |\n", mdEscape(r.SLOText()))
	p("| Runs | %s |\n", r.RunsText())
	p("| Replicas | %s |\n\n", mdEscape(strings.Join(r.Replicas, ", ")))
	if r.Runs == 0 {
		p("**No run was recorded in this period.**\n\n")
	}
	p("## Hash chains\n\nOne chain per replica, each from its own genesis record.\n\n")
	p("| replica | records | seq | head hash | files | status |\n|---|---|---|---|---|---|\n")
	for _, c := range r.Chain.Chains {
		p("| %s | %d | %d to %d | `%s` | %s | %s |\n", mdEscape(strings.Join(c.Replicas, " → ")), c.Records, c.FirstSeq, c.LastSeq, orDash(c.LastHash),
			mdEscape(strings.Join(c.Files, ", ")), mdEscape(ChainLine(c)))
	}
	p("\n")
	if len(r.Notices) > 0 || len(r.Chain.Warnings) > 0 {
		p("## Notices and warnings\n\nRepairs the prober recorded in the chain when it started (records may have been lost there), and what the verification could not check. They do not break the chain.\n\n")
		if len(r.Notices) > 0 {
			p("| time | seq | event | what happened |\n|---|---|---|---|\n")
			for _, n := range r.Notices {
				p("| %s | %d | %s | %s |\n", ts(n.Time), n.Seq, n.Notice.Event, mdEscape(n.Notice.Message))
			}
			p("\n")
		}
		for _, wn := range r.Chain.Warnings {
			p("- %s\n", mdEscape(wn))
		}
		p("\n")
	}
	if len(r.Configs) > 0 {
		p("## Configurations in force\n\n| config digest (SHA-256) | first run | last run | runs |\n|---|---|---|---|\n")
		for _, c := range r.Configs {
			p("| `%s` | %s | %s | %d |\n", orDash(c.Digest), ts(c.First), ts(c.Last), c.Runs)
		}
		p("\n")
	}
	p("## Summary per probe\n\n")
	p("| target | endpoint | runs | pass rate | fail | error | propagation p50 | p95 | max | within SLO | gaps |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, pr := range r.Probes {
		p("| %s | %s | %d | %s | %d | %d | %s | %s | %s | %s | %d |\n", mdEscape(pr.Target), mdEscape(pr.Endpoint), pr.Runs,
			pct(100*pr.PassRate), pr.Fail, pr.Error, latOr(pr, pr.Propagation.P50), latOr(pr, pr.Propagation.P95), latOr(pr, pr.Propagation.Max),
			sloCell(pr), len(pr.Gaps))
	}
	p("\n")
	for _, pr := range r.Probes {
		p("## %s / %s\n\n", mdEscape(pr.Target), mdEscape(pr.Endpoint))
		p("- Driver `%s`; expectation profile: %s\n", pr.Driver, profileText(pr.Profile))
		p("- %s\n", runsLine(pr))
		if pr.Runs == 0 {
			p("\n")
			mdGaps(p, pr)
			continue
		}
		p("- Pass rate %s (%d pass, %d fail, %d error)\n", pct(100*pr.PassRate), pr.Pass, pr.Fail, pr.Error)
		if pr.Propagation.N > 0 {
			p("- Propagation over %d measured runs: p50 %s, p95 %s, max %s; %d above the %s\n", pr.Propagation.N,
				fmtSecs(pr.Propagation.P50), fmtSecs(pr.Propagation.P95), fmtSecs(pr.Propagation.Max), pr.Propagation.OverSLO, sloName(pr))
		} else {
			p("- No propagation latency was measured (no run passed)\n")
		}
		p("- Within SLO: %s\n", sloCell(pr))
		if pr.Drift > 0 {
			p("- %d run(s) saw drift: an artifact the endpoint is documented to leave alive was found dead\n", pr.Drift)
		}
		p("\n")
		if len(pr.Incidents) > 0 {
			p("Failures and errors:\n\n| time | result | reason | run | seq | detail |\n|---|---|---|---|---|---|\n")
			for _, in := range pr.Incidents {
				p("| %s | %s | %s | `%s` | %d | %s |\n", ts(in.Time), strings.ToUpper(string(in.Result)), in.Reason, in.RunID, in.Seq, mdEscape(in.Detail))
			}
			p("\n")
		} else {
			p("No failures or errors.\n\n")
		}
		mdGaps(p, pr)
	}
	p("---\n%s\n", methodNote)
	return ew.err
}

func mdGaps(p func(string, ...any), pr *ProbeReport) {
	if len(pr.Gaps) > 0 {
		p("Gaps with no run (%s):\n\n| from | to | length |\n|---|---|---|\n", gapRule(pr))
		for _, g := range pr.Gaps {
			p("| %s | %s | %s |\n", ts(g.From), ts(g.To), g.Duration().Round(time.Second))
		}
		p("\n")
	} else if pr.Interval > 0 {
		p("No gaps (%s).\n\n", gapRule(pr))
	}
}

const methodNote = `How to read this report: a pass means the canary's tokens and session were seen alive before the revocation and dead after it, within the propagation deadline; a fail means an artifact the endpoint is documented to kill was still alive at the deadline (revocation not enforced); an error means no verdict could be reached. Propagation is the time from the revocation request to the request that first saw the last promised artifact dead. Percentiles are nearest-rank. "Within SLO" counts pass and fail runs; errors reached no verdict and are left out. Runs of every replica are merged per probe. A gap is a stretch with no run longer than twice the probe's configured interval (recorded with each run; the typical interval for records that do not carry it), including from the period's start to the first run and from the last run to the period's end. The hash chains and signatures are verified over every record in the files, not only over the period; a chain cannot show records cut from its end unless its head is anchored (verify --head).`

// runsLine is the probe's "N runs from … to …, every …" line.
func runsLine(pr *ProbeReport) string {
	if pr.Runs == 0 {
		return "No run in the period (the probe ran before or after it): the whole period is a gap"
	}
	s := fmt.Sprintf("%d runs from %s to %s", pr.Runs, ts(pr.First), ts(pr.Last))
	if len(pr.Replicas) > 1 {
		s += fmt.Sprintf(" by %d replicas (%s)", len(pr.Replicas), strings.Join(pr.Replicas, ", "))
	}
	if pr.IntervalConfigured {
		return s + fmt.Sprintf(", configured every %s", pr.Interval.Round(time.Second))
	}
	return s + fmt.Sprintf(", typically every %s", intervalText(pr.Interval))
}

func gapRule(pr *ProbeReport) string {
	if pr.Runs == 0 {
		return "no run in the whole period"
	}
	if pr.IntervalConfigured {
		return fmt.Sprintf("longer than twice the configured interval of %s", pr.Interval.Round(time.Second))
	}
	return "longer than twice the typical interval; the records do not carry the configured one"
}

func sloName(pr *ProbeReport) string {
	if pr.SLO > 0 {
		return pr.SLO.String() + " SLO"
	}
	return "SLO in force when each ran"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func latOr(pr *ProbeReport, v float64) string {
	if pr.Propagation.N == 0 {
		return "-"
	}
	return fmtSecs(v)
}

func sloCell(pr *ProbeReport) string {
	if pr.SLOEligible == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s (%d/%d)", pct(pr.SLOPercent()), pr.SLOMet, pr.SLOEligible)
}

func intervalText(d time.Duration) string {
	if d <= 0 {
		return "(too few runs to tell)"
	}
	return d.Round(time.Second).String()
}

func profileText(p verdict.Profile) string {
	var parts []string
	for _, a := range verdict.Artifacts {
		parts = append(parts, fmt.Sprintf("%s %s", a, p.Expect(a)))
	}
	s := strings.Join(parts, ", ")
	if p.Async {
		s += "; asynchronous"
	}
	if p.Overridden {
		s += " (overridden by the configuration)"
	}
	return s
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// HTML writes the report as one self-contained HTML page.
func (r *Report) HTML(w io.Writer) error {
	return htmlReport.Execute(w, r)
}

var htmlReport = template.Must(template.New("report").Funcs(template.FuncMap{
	"ts": ts, "pct": pct, "lat": latOr, "slo": sloCell, "interval": intervalText, "profile": profileText,
	"secs": fmtSecs, "upper": func(v any) string { return strings.ToUpper(fmt.Sprint(v)) },
	"join": strings.Join, "round": func(d time.Duration) time.Duration { return d.Round(time.Second) },
	"note": func() string { return methodNote }, "orDash": orDash,
	"mul100":   func(f float64) float64 { return 100 * f },
	"runsLine": runsLine, "gapRule": gapRule, "sloName": sloName, "chainLine": ChainLine,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Revocation evidence report {{ts .From}} to {{ts .To}}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:70em;padding:0 1em;color:#1b1f24}
table{border-collapse:collapse;margin:.5em 0 1.2em;width:100%}th,td{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f6f8fa}.wrap{overflow-x:auto}.bad{color:#b42318;font-weight:600}.ok{color:#1a7f37;font-weight:600}.warn{color:#9a6700}
code{font-size:.9em;word-break:break-all}small{color:#57606a}
@media print{body{margin:0;max-width:none}}
</style></head><body>
<h1>Revocation evidence report</h1>
<div class="wrap"><table>
<tr><th>Period</th><td>{{ts .From}} to {{ts .To}}</td></tr>
<tr><th>Generated</th><td>{{ts .Generated}}</td></tr>
<tr><th>Evidence files</th><td>{{join .Files ", "}}</td></tr>
<tr><th>Hash chain</th><td class="{{if .Chain.OK}}ok{{else}}bad{{end}}">{{.ChainStatus}}</td></tr>
<tr><th>Signatures</th><td>{{.SignatureStatus}}</td></tr>
<tr><th>Propagation SLO</th><td>{{.SLOText}}</td></tr>
<tr><th>Runs</th><td>{{.RunsText}}</td></tr>
<tr><th>Replicas</th><td>{{join .Replicas ", "}}</td></tr>
</table></div>
{{if not .Runs}}<p class="bad">No run was recorded in this period.</p>{{end}}
<h2>Hash chains</h2><p><small>One chain per replica, each from its own genesis record.</small></p>
<div class="wrap"><table><tr><th>replica</th><th>records</th><th>seq</th><th>head hash</th><th>files</th><th>status</th></tr>
{{range .Chain.Chains}}<tr><td>{{join .Replicas " → "}}</td><td>{{.Records}}</td><td>{{.FirstSeq}} to {{.LastSeq}}</td><td><code>{{orDash .LastHash}}</code></td><td>{{join .Files ", "}}</td><td class="{{if .OK}}ok{{else}}bad{{end}}">{{chainLine .}}</td></tr>{{end}}
</table></div>
{{if or .Notices .Chain.Warnings}}<h2>Notices and warnings</h2><p><small>Repairs the prober recorded in the chain when it started (records may have been lost there), and what the verification could not check. They do not break the chain.</small></p>
{{with .Notices}}<div class="wrap"><table><tr><th>time</th><th>seq</th><th>event</th><th>what happened</th></tr>
{{range .}}<tr><td>{{ts .Time}}</td><td>{{.Seq}}</td><td class="warn">{{.Notice.Event}}</td><td>{{.Notice.Message}}</td></tr>{{end}}</table></div>{{end}}
{{with .Chain.Warnings}}<ul>{{range .}}<li class="warn">{{.}}</li>{{end}}</ul>{{end}}{{end}}
{{with .Configs}}<h2>Configurations in force</h2><div class="wrap"><table><tr><th>config digest (SHA-256)</th><th>first run</th><th>last run</th><th>runs</th></tr>
{{range .}}<tr><td><code>{{orDash .Digest}}</code></td><td>{{ts .First}}</td><td>{{ts .Last}}</td><td>{{.Runs}}</td></tr>{{end}}</table></div>{{end}}
<h2>Summary per probe</h2><div class="wrap"><table>
<tr><th>target</th><th>endpoint</th><th>runs</th><th>pass rate</th><th>fail</th><th>error</th><th>propagation p50</th><th>p95</th><th>max</th><th>within SLO</th><th>gaps</th></tr>
{{range .Probes}}<tr><td>{{.Target}}</td><td>{{.Endpoint}}</td><td>{{.Runs}}</td><td>{{pct (mul100 .PassRate)}}</td><td{{if .Fail}} class="bad"{{end}}>{{.Fail}}</td><td>{{.Error}}</td><td>{{lat . .Propagation.P50}}</td><td>{{lat . .Propagation.P95}}</td><td>{{lat . .Propagation.Max}}</td><td>{{slo .}}</td><td{{if .Gaps}} class="bad"{{end}}>{{len .Gaps}}</td></tr>{{end}}
</table></div>
{{range .Probes}}
<h2>{{.Target}} / {{.Endpoint}}</h2>
<ul>
<li>Driver <code>{{.Driver}}</code>; expectation profile: {{profile .Profile}}</li>
<li>{{runsLine .}}</li>
{{if .Runs}}<li>Pass rate {{pct (mul100 .PassRate)}} ({{.Pass}} pass, {{.Fail}} fail, {{.Error}} error)</li>
{{if .Propagation.N}}<li>Propagation over {{.Propagation.N}} measured runs: p50 {{secs .Propagation.P50}}, p95 {{secs .Propagation.P95}}, max {{secs .Propagation.Max}}; {{.Propagation.OverSLO}} above the {{sloName .}}</li>{{else}}<li>No propagation latency was measured (no run passed)</li>{{end}}
<li>Within SLO: {{slo .}}</li>
{{if .Drift}}<li>{{.Drift}} run(s) saw drift</li>{{end}}{{end}}
</ul>
{{if .Runs}}{{if .Incidents}}<h3>Failures and errors</h3><div class="wrap"><table><tr><th>time</th><th>result</th><th>reason</th><th>run</th><th>seq</th><th>detail</th></tr>
{{range .Incidents}}<tr><td>{{ts .Time}}</td><td class="bad">{{upper .Result}}</td><td>{{.Reason}}</td><td><code>{{.RunID}}</code></td><td>{{.Seq}}</td><td>{{.Detail}}</td></tr>{{end}}
</table></div>{{else}}<p>No failures or errors.</p>{{end}}{{end}}
{{if .Gaps}}<h3>Gaps with no run</h3><p><small>{{gapRule .}}</small></p><div class="wrap"><table><tr><th>from</th><th>to</th><th>length</th></tr>
{{range .Gaps}}<tr><td>{{ts .From}}</td><td>{{ts .To}}</td><td>{{round .Duration}}</td></tr>{{end}}</table></div>{{else if .Interval}}<p>No gaps ({{gapRule .}}).</p>{{end}}
{{end}}
<hr><p><small>{{note}}</small></p>
</body></html>
`))
