package dashboards

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/revprober/revprober/internal/metrics"
	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/internal/webguard"
)

const (
	rulesFile   = "revprober.rules.yml"
	rulesTest   = "revprober-rules.test.yml"
	goldenFile  = "../internal/metrics/testdata/metrics.golden"
	runbookFile = "../docs/runbook.md"
	runbookURL  = "https://github.com/revprober/revprober/blob/main/docs/runbook.md#"
	sloRecord   = "revprober:propagation_slo_seconds"
)

// --- the metrics the code emits -------------------------------------------

type metricInfo struct {
	typ    string
	labels map[string]bool
}

func loadGolden(t *testing.T) map[string]metricInfo {
	t.Helper()
	f, err := os.Open(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]metricInfo{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || len(fields) > 3 {
			t.Fatalf("%s: bad line %q", goldenFile, line)
		}
		mi := metricInfo{typ: fields[1], labels: map[string]bool{}}
		if len(fields) == 3 {
			for _, l := range strings.Split(fields[2], ",") {
				mi.labels[l] = true
			}
		}
		out[fields[0]] = mi
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s lists no metric", goldenFile)
	}
	return out
}

// --- the rules -----------------------------------------------------------

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var rules []rule
	for _, g := range rf.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// --- the dashboards --------------------------------------------------------

type dashboard struct {
	file string
	raw  map[string]any
}

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("want the overview and the per-target dashboards, found %v", files)
	}
	var ds []dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ds = append(ds, dashboard{f, raw})
	}
	return ds
}

// panels returns every panel, including those inside collapsed rows.
func (d dashboard) panels() []map[string]any {
	var out []map[string]any
	var walk func(ps []any)
	walk = func(ps []any) {
		for _, p := range ps {
			pm, ok := p.(map[string]any)
			if !ok {
				continue
			}
			out = append(out, pm)
			if sub, ok := pm["panels"].([]any); ok {
				walk(sub)
			}
		}
	}
	ps, _ := d.raw["panels"].([]any)
	walk(ps)
	return out
}

func (d dashboard) variables() []map[string]any {
	tm, _ := d.raw["templating"].(map[string]any)
	list, _ := tm["list"].([]any)
	var out []map[string]any
	for _, v := range list {
		if vm, ok := v.(map[string]any); ok {
			out = append(out, vm)
		}
	}
	return out
}

// query is a PromQL expression and where it comes from.
type query struct{ where, expr string }

func (d dashboard) queries() []query {
	var qs []query
	for _, p := range d.panels() {
		targets, _ := p["targets"].([]any)
		for _, tg := range targets {
			tm, _ := tg.(map[string]any)
			if e, _ := tm["expr"].(string); e != "" {
				qs = append(qs, query{fmt.Sprintf("%s: panel %q %v", d.file, p["title"], tm["refId"]), e})
			}
		}
	}
	for _, v := range d.variables() {
		if v["type"] != "query" {
			continue
		}
		qs = append(qs, query{fmt.Sprintf("%s: variable %q", d.file, v["name"]), varQuery(v)})
	}
	return qs
}

// varQuery returns the query of a query variable.
func varQuery(v map[string]any) string {
	switch x := v["query"].(type) {
	case string:
		return x
	case map[string]any:
		q, _ := x["query"].(string)
		return q
	}
	return ""
}

// --- the checker -----------------------------------------------------------

// checker knows every name an expression may use.
type checker struct {
	golden   map[string]metricInfo
	recorded map[string]map[string]bool // recording rule → the labels of its series
	labels   map[string]bool            // every label name of every metric
	values   map[string]map[string]bool
}

// Labels Prometheus adds at scrape (job, instance) or that histograms carry (le).
var scrapeLabels = []string{"job", "instance"}

// Other metrics the rules and dashboards may use.
var otherMetrics = map[string]map[string]bool{"up": set("job", "instance")}

func newChecker(t *testing.T) *checker {
	c := &checker{golden: loadGolden(t), recorded: map[string]map[string]bool{}, labels: set("le", "__name__"), values: map[string]map[string]bool{}}
	for _, mi := range c.golden {
		for l := range mi.labels {
			c.labels[l] = true
		}
	}
	for _, l := range scrapeLabels {
		c.labels[l] = true
	}
	for _, r := range loadRules(t) {
		if r.Record != "" {
			ls, err := c.recordedLabels(r.Expr)
			if err != nil {
				t.Fatalf("%s: recording rule %s: %v", rulesFile, r.Record, err)
			}
			c.recorded[r.Record] = ls
		}
	}
	add := func(label string, vs ...string) {
		if c.values[label] == nil {
			c.values[label] = map[string]bool{}
		}
		for _, v := range vs {
			c.values[label][v] = true
		}
	}
	for _, r := range verdict.Results {
		add("result", string(r))
	}
	for _, r := range append(append([]verdict.Reason{}, verdict.FailReasons...), verdict.ErrorReasons...) {
		add("reason", string(r))
	}
	for _, r := range metrics.SkipReasons {
		add("reason", string(r))
	}
	add("step", verdict.Steps...)
	for _, ch := range verdict.Checks {
		add("check", string(ch))
	}
	for _, a := range verdict.Artifacts {
		add("artifact", string(a))
	}
	add("backend", metrics.Backends...)
	for _, hr := range webguard.Series {
		add("handler", hr[0])
		add("reason", hr[1])
	}
	return c
}

// metricLabels returns the labels a selector of name may match, or an error
// when the name is not something revprober (or Prometheus) exports.
func (c *checker) metricLabels(name string) (map[string]bool, error) {
	withScrape := func(ls map[string]bool, extra ...string) map[string]bool {
		out := set(append(append([]string{"__name__"}, scrapeLabels...), extra...)...)
		for l := range ls {
			out[l] = true
		}
		return out
	}
	switch {
	case strings.HasPrefix(name, "revprober:"):
		ls, ok := c.recorded[name]
		if !ok {
			return nil, fmt.Errorf("recording rule %s is not defined in %s", name, rulesFile)
		}
		return ls, nil
	case strings.HasPrefix(name, "revprober_"):
		if mi, ok := c.golden[name]; ok {
			if mi.typ == "histogram" {
				return nil, fmt.Errorf("%s is a histogram: use %s_bucket, _sum or _count", name, name)
			}
			return withScrape(mi.labels), nil
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(name, suffix)
			if !ok {
				continue
			}
			if mi, ok := c.golden[base]; ok && mi.typ == "histogram" {
				if suffix == "_bucket" {
					return withScrape(mi.labels, "le"), nil
				}
				return withScrape(mi.labels), nil
			}
		}
		return nil, fmt.Errorf("metric %s is not emitted by revprober (not in %s)", name, goldenFile)
	default:
		if ls, ok := otherMetrics[name]; ok {
			return withScrape(ls), nil
		}
		return nil, fmt.Errorf("unknown metric %s", name)
	}
}

var (
	aggregationBy     = regexp.MustCompile(`^(sum|min|max|avg|count|group)\s+by\s*\(([^)]*)\)\s*\(`)
	histogramQuantile = regexp.MustCompile(`^histogram_quantile\s*\(\s*[0-9.]+\s*,`)
	// quantileOverTime is quantile_over_time(q, series[range]): the
	// series' labels without its name.
	quantileOverTime = regexp.MustCompile(`^quantile_over_time\s*\(\s*[0-9.]+\s*,\s*([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?\s*\[[^\]]+\]\s*\)$`)
	leadingFilter    = regexp.MustCompile(`^([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?\s*(==|!=|>=|<=|>|<|and\b|unless\b)`)
)

// recordedLabels returns the labels of the series a recording rule's
// expression yields. Prometheus adds no job or instance to them: a rule
// that aggregates them away has neither. It knows the shapes the rules
// use; another shape is an error, so that a new rule teaches it its shape.
func (c *checker) recordedLabels(expr string) (map[string]bool, error) {
	e := strings.TrimSpace(expr)
	switch {
	case strings.HasPrefix(e, "vector(") && closesAtEnd(e, len("vector")):
		return set("__name__"), nil
	case histogramQuantile.MatchString(e) && closesAtEnd(e, len("histogram_quantile")):
		inner, err := c.recordedLabels(e[len(histogramQuantile.FindString(e)) : len(e)-1])
		return without(inner, "le"), err
	case quantileOverTime.MatchString(e):
		inner, err := c.metricLabels(quantileOverTime.FindStringSubmatch(e)[1])
		return without(inner, "__name__"), err
	case aggregationBy.MatchString(e):
		m := aggregationBy.FindStringSubmatch(e)
		if !closesAtEnd(e, len(m[0])-1) {
			break
		}
		ls := set("__name__")
		for _, l := range strings.Split(m[2], ",") {
			if l = strings.TrimSpace(l); l != "" {
				ls[l] = true
			}
		}
		return ls, nil
	case leadingFilter.MatchString(e) && !strings.Contains(e, "bool"):
		// a comparison or and/unless keeps the labels of its left-hand side
		return c.metricLabels(leadingFilter.FindStringSubmatch(e)[1])
	}
	return nil, fmt.Errorf("cannot tell the labels of %q: teach recordedLabels this shape", expr)
}

// without is labels less one (nil for nil: an error goes with it).
func without(labels map[string]bool, drop string) map[string]bool {
	if labels == nil {
		return nil
	}
	ls := map[string]bool{}
	for l := range labels {
		if l != drop {
			ls[l] = true
		}
	}
	return ls
}

// closesAtEnd reports whether the parenthesis at e[open] closes at the end of e.
func closesAtEnd(e string, open int) bool {
	if open >= len(e) || e[open] != '(' {
		return false
	}
	depth := 0
	for i := open; i < len(e); i++ {
		switch q := e[i]; q {
		case '"', '\'', '`':
			for i++; i < len(e) && e[i] != q; i++ {
				if e[i] == '\\' && q != '`' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i == len(e)-1
			}
		}
	}
	return false
}

// check returns the problems of one expression.
func (c *checker) check(expr string) []string {
	var problems []string
	if m := labelValues.FindStringSubmatch(expr); m != nil { // a Grafana variable query
		if !c.labels[m[2]] {
			problems = append(problems, fmt.Sprintf("label_values: unknown label %q", m[2]))
		}
		if m[1] == "" {
			return problems
		}
		expr = m[1]
	}
	r, err := scan(grafana(expr))
	if err != nil {
		return append(problems, err.Error())
	}
	if len(r.selectors) == 0 && !strings.Contains(expr, "vector(") && !strings.Contains(expr, "time()") {
		problems = append(problems, "no metric selector")
	}
	for _, s := range r.selectors {
		name := s.metric
		if name == "" {
			for _, m := range s.matchers {
				if m.label == "__name__" && m.op == "=" {
					name = m.value
				}
			}
		}
		allowed, err := c.metricLabels(name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, m := range s.matchers {
			if !allowed[m.label] {
				problems = append(problems, fmt.Sprintf("%s has no label %q", name, m.label))
				continue
			}
			problems = append(problems, c.checkValue(name, m)...)
		}
	}
	for _, l := range r.groupLabels {
		if !c.labels[l] {
			problems = append(problems, fmt.Sprintf("grouping by unknown label %q", l))
		}
	}
	return problems
}

var simpleAlternatives = regexp.MustCompile(`^[a-z_]+(\|[a-z_]+)*$`)

// checkValue checks the value of a matcher on a closed-list label (a typo
// such as reason="login_fail" would make an alert that never fires).
func (c *checker) checkValue(metric string, m matcher) []string {
	vs, closed := c.values[m.label]
	if !closed || strings.HasPrefix(metric, "up") {
		return nil
	}
	var values []string
	switch {
	case m.op == "=" || m.op == "!=":
		values = []string{m.value}
	case simpleAlternatives.MatchString(m.value):
		values = strings.Split(m.value, "|")
	default:
		return nil // a real regex: not checked
	}
	var problems []string
	for _, v := range values {
		if !vs[v] {
			problems = append(problems, fmt.Sprintf("%s{%s%s%q}: %q is not a %s", metric, m.label, m.op, m.value, v, m.label))
		}
	}
	return problems
}

// --- tests -----------------------------------------------------------------

func TestScanner(t *testing.T) {
	r, err := scan(`sum by (target, endpoint, le) (rate(revprober_propagation_seconds_bucket{target=~"a|b", result!="pass"}[5m]))
		> on () group_left () revprober:propagation_slo_seconds # comment with revprober_nothing
		or absent(up{job=~".*revprober.*"}) unless {__name__="revprober_runs_total"} offset 1m`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range r.selectors {
		ms := []string{}
		for _, m := range s.matchers {
			ms = append(ms, m.label+m.op+m.value)
		}
		got = append(got, s.metric+"{"+strings.Join(ms, ",")+"}")
	}
	want := []string{`revprober_propagation_seconds_bucket{target=~a|b,result!=pass}`, `revprober:propagation_slo_seconds{}`,
		`up{job=~.*revprober.*}`, `{__name__=revprober_runs_total}`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("selectors\n got %v\nwant %v", got, want)
	}
	if g := strings.Join(r.groupLabels, ","); g != "target,endpoint,le" {
		t.Errorf("group labels %s", g)
	}
	for _, bad := range []string{`sum(rate(x[5m])`, `x{a="b"`, `x{a=b}`, `x{a=="b"}`, `"open`} {
		if _, err := scan(bad); err == nil {
			t.Errorf("scan(%q) accepted a broken expression", bad)
		}
	}
}

// The checker must catch the mistakes it exists for.
func TestCheckerCatchesMistakes(t *testing.T) {
	c := newChecker(t)
	for _, tc := range []struct{ expr, want string }{
		{`revprober_runs_totl`, "not emitted"},
		{`rate(revprober_propagation_seconds[5m])`, "is a histogram"},
		{`revprober_runs_total_bucket`, "not emitted"},
		{`revprober_failures_total{reason="login_fail"}`, `"login_fail" is not a reason`},
		{`revprober_failures_total{result="failed"}`, `"failed" is not a result`},
		{`revprober_runs_total{reason="timeout"}`, `has no label "reason"`},
		{`revprober_runs_total{user="alice"}`, `has no label "user"`},
		{`sum by (tenant) (revprober_runs_total)`, `unknown label "tenant"`},
		{`revprober:nope`, "not defined"},
		{`node_load1`, "unknown metric"},
		{`revprober_step_duration_seconds_bucket{step=~"login|revok"}`, `"revok" is not a step`},
		{`label_values(revprober_probe_interval_seconds, tenant)`, `unknown label "tenant"`},
		// recording rules that merge the replicas have no job or instance
		{`revprober:probe_last_result:latest{job=~"$job"}`, `has no label "job"`},
		{`revprober:propagation_seconds:p95_30m{instance="a"}`, `has no label "instance"`},
		{`revprober:propagation_slo_seconds{target="a"}`, `has no label "target"`},
		// the series budget: distributions and reasons are per driver, not per probe
		{`revprober_propagation_seconds_bucket{target="a"}`, `has no label "target"`},
		{`revprober_failures_total{endpoint="a"}`, `has no label "endpoint"`},
	} {
		problems := c.check(tc.expr)
		if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
			t.Errorf("check(%q) = %q, want a problem containing %q", tc.expr, problems, tc.want)
		}
	}
	for _, ok := range []string{
		`histogram_quantile(0.95, sum by (driver, le) (rate(revprober_propagation_seconds_bucket{driver=~"oidc"}[$__rate_interval])))`,
		`revprober_failures_total{result="error", reason=~"login_failed|timeout", job="revprober"}`,
		`label_values(revprober_probe_interval_seconds{target=~"$target"}, endpoint)`,
		`revprober_runs_skipped_total{reason="not_leader"}`,
		`revprober:last_run_timestamp_seconds:latest_replica{job="revprober", instance="a:9543", target="a"}`,
		`revprober:probe_last_result:latest{target="a", endpoint="b", result="fail"}`,
		`revprober:probe_last_result:latest{result="error", reason="login_failed"}`,
		`quantile_over_time(0.95, revprober:probe_propagation_seconds:latest{target="a"}[30m])`,
	} {
		if problems := c.check(ok); len(problems) > 0 {
			t.Errorf("check(%q) = %q, want no problem", ok, problems)
		}
	}
}

// Every metric and label the rules and dashboards use is one the code emits.
func TestExpressionsUseEmittedMetrics(t *testing.T) {
	c := newChecker(t)
	var qs []query
	for _, r := range loadRules(t) {
		name := r.Record + r.Alert
		qs = append(qs, query{rulesFile + ": " + name, r.Expr})
		for k, v := range r.Annotations {
			for _, m := range regexp.MustCompile(`\$labels\.(\w+)`).FindAllStringSubmatch(v, -1) {
				if !c.labels[m[1]] {
					t.Errorf("%s: annotation %s uses unknown label %q", name, k, m[1])
				}
			}
		}
	}
	for _, d := range loadDashboards(t) {
		qs = append(qs, d.queries()...)
	}
	used := map[string]bool{}
	for _, q := range qs {
		for _, p := range c.check(q.expr) {
			t.Errorf("%s: %s\n\t%s", q.where, p, q.expr)
		}
		if r, err := scan(grafana(q.expr)); err == nil {
			for _, s := range r.selectors {
				used[s.metric] = true
			}
		}
	}
	if len(qs) < 30 {
		t.Errorf("only %d expressions found", len(qs))
	}
	// Report the emitted metrics nothing shows (informational).
	var unused []string
	for name, mi := range c.golden {
		if used[name] || used[name+"_bucket"] || used[name+"_count"] || used[name+"_sum"] {
			continue
		}
		_ = mi
		unused = append(unused, name)
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Logf("metrics no rule or dashboard uses: %v", unused)
	}
}

var requiredAlerts = map[string][]string{ // alert → allowed severities
	"RevocationNotEnforced":     {"critical"},
	"RevocationPropagationSlow": {"warning"},
	"ProbeErroring":             {"warning"},
	"CanaryLoginFailing":        {"warning"},
	"ProbeStale":                {"warning", "critical"},
	"ProberDown":                {"warning", "critical"},
	"ConfigReloadFailed":        {"warning"},
	"ExpectationDrift":          {"info", "warning"},
	"CoordinationDown":          {"warning"},
}

func TestAlerts(t *testing.T) {
	anchors := runbookAnchors(t)
	seen := map[string]bool{}
	sloRecords := 0
	for _, r := range loadRules(t) {
		if r.Record == sloRecord {
			sloRecords++
		}
		if r.Alert == "" {
			continue
		}
		seen[r.Alert] = true
		sev := r.Labels["severity"]
		if allowed, ok := requiredAlerts[r.Alert]; ok && !contains(allowed, sev) {
			t.Errorf("%s: severity %q, want one of %v", r.Alert, sev, allowed)
		} else if !contains([]string{"critical", "warning", "info"}, sev) {
			t.Errorf("%s: severity %q", r.Alert, sev)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookURL)
		if !ok {
			t.Errorf("%s: runbook_url %q does not start with %s", r.Alert, r.Annotations["runbook_url"], runbookURL)
		} else if !anchors[anchor] {
			t.Errorf("%s: runbook_url anchor #%s is not a heading of %s", r.Alert, anchor, runbookFile)
		}
		if anchor != strings.ToLower(r.Alert) {
			t.Errorf("%s: runbook anchor #%s, want #%s", r.Alert, anchor, strings.ToLower(r.Alert))
		}
	}
	for a := range requiredAlerts {
		if !seen[a] {
			t.Errorf("alert %s missing", a)
		}
	}
	for _, r := range loadRules(t) {
		switch r.Alert {
		case "RevocationNotEnforced":
			if r.For != "" && r.For != "0m" && r.For != "0s" {
				t.Errorf("RevocationNotEnforced must fire on the first failed run: for: %s", r.For)
			}
			if !strings.Contains(r.Expr, `result="fail"`) {
				t.Errorf("RevocationNotEnforced does not select result=\"fail\"")
			}
		case "RevocationPropagationSlow":
			if !strings.Contains(r.Expr, sloRecord) {
				t.Errorf("RevocationPropagationSlow must compare with %s", sloRecord)
			}
		case "CanaryLoginFailing":
			if !strings.Contains(r.Expr, `reason="login_failed"`) {
				t.Errorf("CanaryLoginFailing does not select reason=\"login_failed\"")
			}
		}
	}
	if sloRecords != 1 {
		t.Errorf("%s recorded %d times, want exactly once", sloRecord, sloRecords)
	}
}

// Every alert has a promtool test where it fires and one where it does not.
func TestEveryAlertTestedFiringAndNot(t *testing.T) {
	b, err := os.ReadFile(rulesTest)
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &tf); err != nil {
		t.Fatal(err)
	}
	if !contains(tf.RuleFiles, rulesFile) {
		t.Errorf("%s does not load %s", rulesTest, rulesFile)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		if !firing[r.Alert] {
			t.Errorf("%s: no promtool test where it fires", r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s: no promtool test where it does not fire", r.Alert)
		}
	}
}

// promtool itself, when installed (make test-rules installs it).
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (make tools-prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTest}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestDashboards(t *testing.T) {
	uids := map[string]string{}
	for _, d := range loadDashboards(t) {
		t.Run(d.file, func(t *testing.T) {
			uid, _ := d.raw["uid"].(string)
			if uid == "" || len(uid) > 40 {
				t.Errorf("uid %q: want 1 to 40 characters", uid)
			}
			if other, dup := uids[uid]; dup {
				t.Errorf("uid %q also used by %s", uid, other)
			}
			uids[uid] = d.file
			if title, _ := d.raw["title"].(string); title == "" {
				t.Error("no title")
			}
			if v, ok := d.raw["schemaVersion"].(float64); !ok || v < 36 {
				t.Errorf("schemaVersion %v, want a number >= 36", d.raw["schemaVersion"])
			}
			if _, ok := d.raw["id"]; ok && d.raw["id"] != nil {
				t.Error("id must be absent or null (Grafana assigns it on import)")
			}

			vars := map[string]map[string]any{}
			for _, v := range d.variables() {
				name, _ := v["name"].(string)
				vars[name] = v
			}
			if v := vars["datasource"]; v == nil || v["type"] != "datasource" || v["query"] != "prometheus" {
				t.Errorf("templating.list: want a variable datasource of type datasource for prometheus, got %v", v)
			}
			if v := vars["target"]; v == nil || v["type"] != "query" || !usesDatasourceVar(v["datasource"]) {
				t.Errorf("templating.list: want a query variable target on ${datasource}, got %v", v)
			}

			panels := d.panels()
			if len(panels) == 0 {
				t.Fatal("no panels")
			}
			ids := map[float64]bool{}
			usesTarget := false
			for _, p := range panels {
				title, _ := p["title"].(string)
				id, ok := p["id"].(float64)
				if !ok || ids[id] {
					t.Errorf("panel %q: id %v missing or duplicated", title, p["id"])
				}
				ids[id] = true
				gp, _ := p["gridPos"].(map[string]any)
				if w, _ := gp["w"].(float64); w <= 0 || w > 24 {
					t.Errorf("panel %q: gridPos %v", title, gp)
				}
				if h, _ := gp["h"].(float64); h <= 0 {
					t.Errorf("panel %q: gridPos %v", title, gp)
				}
				if p["type"] == "row" || p["type"] == "text" {
					continue
				}
				if title == "" || p["type"] == "" || p["type"] == nil {
					t.Errorf("panel %v: no title or type", p["id"])
				}
				if !usesDatasourceVar(p["datasource"]) {
					t.Errorf("panel %q: datasource %v, want uid ${datasource}", title, p["datasource"])
				}
				targets, _ := p["targets"].([]any)
				if len(targets) == 0 {
					t.Errorf("panel %q: no targets", title)
				}
				refs := map[string]bool{}
				for _, tg := range targets {
					tm, _ := tg.(map[string]any)
					ref, _ := tm["refId"].(string)
					if ref == "" || refs[ref] {
						t.Errorf("panel %q: refId %q missing or duplicated", title, ref)
					}
					refs[ref] = true
					expr, _ := tm["expr"].(string)
					if strings.TrimSpace(expr) == "" {
						t.Errorf("panel %q %s: no expr", title, ref)
					}
					if !usesDatasourceVar(tm["datasource"]) {
						t.Errorf("panel %q %s: datasource %v, want uid ${datasource}", title, ref, tm["datasource"])
					}
					if strings.Contains(expr, "$target") {
						usesTarget = true
					}
				}
			}
			if !usesTarget {
				t.Error("no query uses $target")
			}
			all, _ := json.Marshal(d.raw)
			if !strings.Contains(string(all), sloRecord) {
				t.Errorf("does not show the SLO (%s)", sloRecord)
			}
		})
	}
	for _, want := range []string{"revprober-overview", "revprober-target"} {
		if _, ok := uids[want]; !ok {
			t.Errorf("no dashboard with uid %s", want)
		}
	}
}

// Prometheus adds job and instance to every series it scrapes from
// revprober. Each dashboard has multi-value job and instance variables, and
// every selector of a scraped series in every panel and variable query
// filters on job=~"$job", instance=~"$instance" (target and endpoint
// selectors stay). Recording rules that merge the replicas have neither
// label: the checker rejects a job or instance matcher on them, and
// dashboards/.lint excludes their queries from the linter's job/instance rules.
func TestDashboardsFilterByJobAndInstance(t *testing.T) {
	c := newChecker(t)
	for _, d := range loadDashboards(t) {
		t.Run(d.file, func(t *testing.T) {
			pos := map[string]int{}
			vars := map[string]map[string]any{}
			for i, v := range d.variables() {
				name, _ := v["name"].(string)
				pos[name], vars[name] = i, v
			}
			for _, name := range []string{"job", "instance"} {
				v := vars[name]
				if v == nil || v["type"] != "query" || !usesDatasourceVar(v["datasource"]) || v["multi"] != true ||
					v["includeAll"] != true || v["allValue"] != ".+" || v["refresh"] != float64(2) {
					t.Errorf("templating.list: want a multi-value query variable %s on ${datasource}, All = .+, refreshed on time range change; got %v", name, v)
					continue
				}
				m := labelValues.FindStringSubmatch(varQuery(v))
				if m == nil || m[2] != name || !strings.HasPrefix(strings.TrimSpace(m[1]), "revprober_build_info") {
					t.Errorf("variable %s: query %q, want label_values(revprober_build_info..., %s)", name, varQuery(v), name)
				}
			}
			if !(pos["job"] < pos["instance"] && pos["instance"] < pos["target"]) {
				t.Errorf("templating.list: want job, then instance, then target (each query uses the ones before), got positions %v", pos)
			}

			filtered := 0
			check := func(where, expr string, need ...string) {
				if m := labelValues.FindStringSubmatch(expr); m != nil {
					expr = m[1]
				}
				r, err := scan(grafanaDurations.ReplaceAllString(expr, "5m"))
				if err != nil {
					t.Errorf("%s: %v", where, err)
					return
				}
				for _, s := range r.selectors {
					allowed, err := c.metricLabels(s.metric)
					if err != nil || !allowed["job"] {
						continue // unknown: TestExpressionsUseEmittedMetrics; a merged recording rule cannot filter
					}
					filtered++
					for _, l := range need {
						if !hasMatcher(s, l, "=~", "$"+l) {
							t.Errorf("%s: %s does not filter on %s=~\"$%s\"\n\t%s", where, s.metric, l, l, expr)
						}
					}
				}
			}
			for _, p := range d.panels() {
				targets, _ := p["targets"].([]any)
				for _, tg := range targets {
					tm, _ := tg.(map[string]any)
					expr, _ := tm["expr"].(string)
					check(fmt.Sprintf("panel %q %v", p["title"], tm["refId"]), expr, "job", "instance")
				}
			}
			for _, v := range d.variables() {
				switch v["name"] {
				case "job": // lists the jobs
				case "instance":
					check("variable instance", varQuery(v), "job")
				default:
					if v["type"] == "query" {
						check(fmt.Sprintf("variable %v", v["name"]), varQuery(v), "job", "instance")
					}
				}
			}
			if filtered < 10 {
				t.Errorf("only %d selectors of scraped series found", filtered)
			}
		})
	}
}

func hasMatcher(s selector, label, op, value string) bool {
	for _, m := range s.matchers {
		if m.label == label && m.op == op && m.value == value {
			return true
		}
	}
	return false
}

// dashboards/.lint (read by dashboard-linter with yaml.v3) excludes single
// queries, each with a reason; the job/instance exclusions only queries that
// read a series without that label.
func TestLintExclusions(t *testing.T) {
	b, err := os.ReadFile(".lint")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Exclusions map[string]struct {
			Reason  string `yaml:"reason"`
			Entries []struct {
				Reason    string `yaml:"reason"`
				Dashboard string `yaml:"dashboard"`
				Panel     string `yaml:"panel"`
				TargetIdx string `yaml:"targetidx"` // the linter's key; "targetIdx" would be ignored
			} `yaml:"entries"`
		} `yaml:"exclusions"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf(".lint: %v", err)
	}
	byTitle := map[string]dashboard{}
	for _, d := range loadDashboards(t) {
		title, _ := d.raw["title"].(string)
		byTitle[title] = d
	}
	c := newChecker(t)
	for rule, ex := range cfg.Exclusions {
		if len(ex.Entries) == 0 {
			t.Errorf(".lint: %s excluded everywhere; list the queries", rule)
		}
		for _, e := range ex.Entries {
			where := fmt.Sprintf(".lint: %s: %s / %s / %s", rule, e.Dashboard, e.Panel, e.TargetIdx)
			idx, err := strconv.Atoi(e.TargetIdx)
			if e.Reason == "" || e.Dashboard == "" || e.Panel == "" || err != nil {
				t.Errorf("%s: want a reason, a dashboard, a panel and a targetidx", where)
				continue
			}
			d, ok := byTitle[e.Dashboard]
			if !ok {
				t.Errorf("%s: no such dashboard", where)
				continue
			}
			var exprs []string
			for _, p := range d.panels() {
				targets, _ := p["targets"].([]any)
				if p["title"] == e.Panel && idx < len(targets) {
					tm, _ := targets[idx].(map[string]any)
					expr, _ := tm["expr"].(string)
					exprs = append(exprs, expr)
				}
			}
			if len(exprs) == 0 {
				t.Errorf("%s: no such query", where)
				continue
			}
			label, ok := map[string]string{"target-job-rule": "job", "target-instance-rule": "instance"}[rule]
			if !ok {
				continue
			}
			needed := false
			for _, expr := range exprs {
				r, err := scan(grafana(expr))
				if err != nil {
					continue
				}
				for _, s := range r.selectors {
					if ls, err := c.metricLabels(s.metric); err == nil && !ls[label] {
						needed = true
					}
				}
			}
			if !needed {
				t.Errorf("%s: every series the query reads has the %s label: filter on it instead", where, label)
			}
		}
	}
}

func usesDatasourceVar(v any) bool {
	m, ok := v.(map[string]any)
	return ok && (m["uid"] == "${datasource}" || m["uid"] == "$datasource")
}

// runbookAnchors returns the GitHub anchors of docs/runbook.md's headings,
// and checks the runbook's own #links.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	strip := regexp.MustCompile(`[^a-z0-9 _-]`)
	fenced := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := strings.ReplaceAll(strip.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		anchors[a] = true
	}
	for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(string(b), -1) {
		if !anchors[m[1]] {
			t.Errorf("%s links to #%s, which is not a heading", runbookFile, m[1])
		}
	}
	return anchors
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
