package status

import (
	"html/template"
	"strings"
	"time"

	"github.com/revprober/revprober/internal/verdict"
)

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"upper": func(v any) string {
		switch x := v.(type) {
		case verdict.Result:
			return strings.ToUpper(string(x))
		case string:
			return strings.ToUpper(x)
		}
		return ""
	},
	"ms": func(d time.Duration) string {
		if d < time.Millisecond {
			return d.Round(10 * time.Microsecond).String()
		}
		return d.Round(time.Millisecond).String()
	},
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"secs": func(p *float64) string {
		if p == nil {
			return "-"
		}
		return secs(*p)
	},
	"profile": func(p verdict.Profile) string {
		var parts []string
		for _, a := range verdict.Artifacts {
			parts = append(parts, string(a)+" "+string(p.Expect(a)))
		}
		s := strings.Join(parts, ", ")
		if p.Async {
			s += "; asynchronous"
		}
		if p.Overridden {
			s += " (overridden by config)"
		}
		return s
	},
	"drift": func(as []verdict.Artifact) string {
		var s []string
		for _, a := range as {
			s = append(s, string(a))
		}
		return strings.Join(s, ", ")
	},
}).Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}} · revprober</title>
<style>
:root{--pass:#1a7f37;--fail:#cf222e;--error:#bf8700;--muted:#57606a;--line:#d0d7de}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#fff}
header{display:flex;flex-wrap:wrap;gap:.4em 1.2em;align-items:baseline;padding:.7em 1em;border-bottom:1px solid var(--line);background:#f6f8fa}
header a{color:inherit;text-decoration:none}header b{font-size:1.15em}
main{padding:.8em 1em;max-width:80em}
.wrap{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;margin:.4em 0 1.2em}
th,td{border-bottom:1px solid var(--line);padding:.35em .5em;text-align:left;vertical-align:top}
th{font-weight:600;background:#f6f8fa;white-space:nowrap}
.badge{display:inline-block;padding:.05em .5em;border-radius:1em;color:#fff;font-weight:600;font-size:.85em}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}.badge.error{background:var(--error)}.badge.none{background:#8c959f}
.strip{display:flex;flex-wrap:wrap;gap:2px;min-width:6em}
.strip a,.strip span{display:inline-block;width:.8em;height:1.1em;border-radius:2px}
.pass-c{background:var(--pass)}.fail-c{background:var(--fail)}.error-c{background:var(--error)}
.skipped-c{background:repeating-linear-gradient(45deg,#8c959f 0 2px,#fff 2px 4px);outline:1px solid #8c959f;outline-offset:-1px}
.badge.old{background:#fff;border:2px solid currentColor}.badge.old.pass{color:var(--pass)}.badge.old.fail{color:var(--fail)}.badge.old.error{color:#7d4e00}
.badge.stale{background:#57606a}
.skipping{margin-top:.2em;padding:.15em .4em;border-left:3px solid #57606a;background:#f6f8fa;font-size:.85em}
.chart{width:100%;max-width:40em;height:auto;display:block}
.muted{color:var(--muted)}.small{font-size:.85em}
button{font:inherit;padding:.25em .7em;border:1px solid var(--line);border-radius:6px;background:#f6f8fa;cursor:pointer}
button:hover{background:#eaeef2}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;border-radius:6px;font-size:.9em}
.note{padding:.6em .8em;border-left:4px solid var(--pass);background:#f0fff4}
@media (max-width:40em){body{font-size:14px}th,td{padding:.3em}.hide-s{display:none}}
</style></head><body>
<header><b><a href="/">revprober</a></b><a href="/">Probes</a><a href="/config">Configuration</a><a href="/metrics">Metrics</a></header>
<main>{{end}}
{{define "foot"}}</main></body></html>{{end}}

{{define "verdict"}}{{if .HasRun}}{{if .Stale}}<span class="badge stale" title="no verdict since {{.Age}}; one is due every {{.Interval}}">STALE</span> {{end}}<span class="badge {{.Result}}{{if .Stale}} old{{end}}">{{upper .Result}}</span>{{if ne .Result "pass"}} <span class="small">{{.Reason}}</span>{{end}}{{else}}<span class="badge none">NO RUN YET</span>{{end}}{{with .Skipping}}<div class="skipping"><b>skipping</b>: {{if eq .Count 1}}1 tick, {{else}}{{.Count}} ticks in a row, the first {{end}}{{.Since}} ({{.Reasons}}): {{.Why}}</div>{{end}}{{end}}

{{define "strip"}}<div class="strip">{{range .}}{{if .Linked}}<a class="{{.Class}}-c" href="/runs/{{.ID}}" title="{{.Title}}" aria-label="{{.Title}}"></a>{{else}}<span class="{{.Class}}-c" role="img" title="{{.Title}}" aria-label="{{.Title}}"></span>{{end}}{{end}}</div>{{end}}

{{define "runnow"}}<form method="post" action="{{.RunPath}}"><button type="submit" title="run {{.ID}} now">Run now</button></form>{{end}}

{{define "index"}}{{template "head" "Probes"}}
<meta http-equiv="refresh" content="30">
<p>{{len .Rows}} probes: <b>{{.Fail}}</b> failing, <b>{{.Error}}</b> in error, <b>{{.Pass}}</b> passing, {{.New}} not run yet{{if .Stale}}; <b>{{.Stale}}</b> stale (no verdict since one was due){{end}}. <span class="muted small">as of {{.Now}}; refreshes every 30 s</span></p>
<div class="wrap"><table id="probes">
<thead><tr><th>probe</th><th>last verdict</th><th>age</th><th class="hide-s">propagation</th><th>recent runs (newest first)</th>{{if .RunNow}}<th></th>{{end}}</tr></thead>
<tbody>{{range .Rows}}
<tr class="probe" data-probe="{{.ID}}" data-result="{{if .HasRun}}{{.Result}}{{else}}none{{end}}"{{if .Stale}} data-stale="true"{{end}}{{with .Skipping}} data-skipping="{{.Reasons}}"{{end}}>
<td><a href="{{.ProbePath}}">{{.Target}}/<wbr>{{.Endpoint}}</a><div class="muted small">{{.Driver}}</div></td>
<td>{{template "verdict" .}}{{if .HasRun}}<div class="small"><a class="last-run" href="/runs/{{.RunID}}">trace</a></div>{{end}}</td>
<td>{{if .HasRun}}{{if .Stale}}<b class="stale-age">{{.Age}}</b>{{else}}{{.Age}}{{end}}{{else}}-{{end}}</td>
<td class="hide-s">{{if .HasRun}}{{.Propagation}}{{else}}-{{end}}</td>
<td>{{template "strip" .Strip}}{{if .Bad}}<span class="muted small">earlier failures:</span>{{template "strip" .Bad}}{{end}}</td>
{{if $.RunNow}}<td>{{template "runnow" .}}</td>{{end}}
</tr>{{else}}<tr><td colspan="6">No probe is configured.</td></tr>{{end}}</tbody>
</table></div>
{{template "foot"}}{{end}}

{{define "probe"}}{{template "head" .Row.ID}}{{with .Row}}
<h1>{{.Target}} / {{.Endpoint}}</h1>
<p>Driver <code>{{.Driver}}</code>, every {{.Interval}}. Last verdict: {{template "verdict" .}}{{if .HasRun}} {{.Age}}, propagation {{.Propagation}}. <a href="/runs/{{.RunID}}">Trace</a>{{end}}</p>
{{if .Detail}}<p>{{.Detail}}</p>{{end}}
{{if $.RunNow}}{{template "runnow" .}}{{end}}
<h2>Propagation latency</h2>
{{.Chart}}
<p class="muted small">One mark per run, oldest left: passes as blue dots at their latency, failures as crosses and errors as diamonds (on the top edge when they have no latency); the dashed line is the deadline, the dotted one the SLO. Each mark links to its run.</p>
<h2>Recent runs</h2>{{if .Strip}}{{template "strip" .Strip}}{{else}}<p class="muted">none yet</p>{{end}}
{{if .Bad}}<h2>Earlier failures and errors</h2>{{template "strip" .Bad}}{{end}}
{{end}}{{template "foot"}}{{end}}

{{define "run"}}{{template "head" (printf "Run %s" .Run.ID)}}{{with .Run}}
{{if $.New}}<p class="note">Run started on request and finished: {{upper .Result}}.</p>{{end}}
<h1>{{.Target}} / {{.Endpoint}} <span class="badge {{.Result}}">{{upper .Result}}</span></h1>
<div class="wrap"><table id="run">
<tr><th>run</th><td><code>{{.ID}}</code></td></tr>
<tr><th>result</th><td>{{.Result}}{{if ne .Result "pass"}} ({{.Reason}}){{end}}</td></tr>
{{if $.Detail}}<tr><th>detail</th><td>{{$.Detail}}</td></tr>{{end}}
{{range $.Notes}}<tr><th>note</th><td><b>{{.}}</b></td></tr>{{end}}
<tr><th>started</th><td>{{ts .Started}}, took {{ms .Duration}}</td></tr>
<tr><th>propagation</th><td>{{secs .PropagationSeconds}}</td></tr>
{{if .ResidualValiditySeconds}}<tr><th>residual validity</th><td>{{secs .ResidualValiditySeconds}} (a locally validating resource server still accepts the access token until its exp)</td></tr>{{end}}
<tr><th>driver</th><td><code>{{.Driver}}</code></td></tr>
<tr><th>profile</th><td>{{profile .Profile}}</td></tr>
{{if .Drift}}<tr><th>drift</th><td>{{drift .Drift}} found dead though documented to survive</td></tr>{{end}}
<tr><th>replica</th><td>{{.Replica}}{{with .Tick}} (tick {{ts .}}){{else}} (run on request or once){{end}}</td></tr>
<tr><th>config digest</th><td><code>{{.ConfigDigest}}</code></td></tr>
{{if $.Cleanup}}<tr><th>clean-up</th><td>{{$.Cleanup}}</td></tr>{{end}}
{{range .Unverified}}<tr><th>not verified</th><td>{{.Artifact}}: {{.Why}}</td></tr>{{end}}
</table></div>
{{end}}
<h2>Steps</h2><div class="wrap"><table id="steps"><tr><th>step</th><th>duration</th><th>error</th></tr>
{{range .Steps}}<tr><td>{{.Name}}</td><td>{{ms .Duration}}</td><td>{{.Error}}</td></tr>{{end}}</table></div>
{{if .Checks}}<h2>Checks</h2><div class="wrap"><table id="checks"><tr><th>canary</th><th>check</th><th>artifact</th><th>promise</th><th>before</th><th>after</th><th>propagation</th><th>polls</th><th class="hide-s">detail</th></tr>
{{range .Checks}}<tr><td>{{.Canary}}</td><td>{{.Check}}</td><td>{{.Artifact}}</td><td>{{.Expect}}</td><td>{{.Before}}</td><td>{{.After}}{{if .Drift}} (drift){{end}}</td><td>{{secs .PropagationSeconds}}</td><td>{{.Polls}}</td><td class="hide-s">{{.Detail}}</td></tr>{{end}}</table></div>{{end}}
{{if .Requests}}<h2>Requests</h2><div class="wrap"><table id="requests"><tr><th>step</th><th>method</th><th>URL</th><th>status</th><th>time</th><th class="hide-s">error</th></tr>
{{range .Requests}}<tr><td>{{.Step}}</td><td>{{.Method}}</td><td class="small">{{.URL}}</td><td>{{if .Status}}{{.Status}}{{else}}-{{end}}</td><td>{{ms .Duration}}</td><td class="hide-s">{{.Error}}</td></tr>{{end}}</table></div>{{end}}
{{if .Prints}}<h2>Token fingerprints</h2><p class="muted small">Short hashes that identify tokens across records; never the tokens.</p><ul>{{range .Prints}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
<p><a href="{{.ProbePath}}">All runs of this probe</a> · <a href="/">All probes</a></p>
{{template "foot"}}{{end}}

{{define "dropped"}}{{template "head" (printf "Run %s" .ID)}}
<h1>{{.ProbeID}} <span class="badge {{.Result}}">{{upper .Result}}</span></h1>
<p class="note" id="dropped">Trace not kept in memory; {{if .EvidenceLog}}see the evidence log, <code>{{.EvidenceLog}}</code>, for run_id <code>{{.ID}}</code>{{else}}no evidence log is configured (<code>evidence.path</code>), so it is not kept anywhere{{end}}. This page keeps full traces of each probe's latest runs and of its last failure and last error, within a memory budget.</p>
<div class="wrap"><table id="run">
<tr><th>run</th><td><code>{{.ID}}</code></td></tr>
<tr><th>result</th><td>{{.Result}}{{if ne .Result "pass"}} ({{.Reason}}){{end}}</td></tr>
<tr><th>started</th><td>{{.Started}}, took {{.Took}}</td></tr>
<tr><th>propagation</th><td>{{.Prop}}</td></tr>
</table></div>
<p><a href="{{.ProbePath}}">All runs of this probe</a> · <a href="/">All probes</a></p>
{{template "foot"}}{{end}}

{{define "config"}}{{template "head" "Configuration"}}
<h1>Running configuration</h1>
<p>{{.File}} <span class="muted small">SHA-256 {{.Digest}}</span></p>
<p class="muted small">Defaults applied; secrets are shown as &lt;secret&gt; (or as the file they are read from).</p>
<pre id="config">{{.YAML}}</pre>
{{template "foot"}}{{end}}

{{define "message"}}{{template "head" .Title}}
<h1>{{.Title}}</h1><p id="message">{{.Text}}</p><p><a href="/">Back to the probes</a></p>
{{template "foot"}}{{end}}
`))
