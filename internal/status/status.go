// Package status is the daemon's human status page: every probe with its
// last verdict, its age (marked stale when no newer verdict came in time),
// the ticks it skipped and why, its propagation latency and a strip of
// recent runs; a latency chart per probe; one run's step trace; a "run
// now" button; and the running configuration with secrets as <secret>.
//
// The page is a schedule.Recorder and a schedule.SkipRecorder. What it
// keeps is bounded by bytes over all probes (history.go): compact
// summaries of each probe's recent runs and skips, and full traces only of
// the runs people look at, within Options.MemoryBudget. It logs each
// probe's skip streaks: the first skip and the end of the streak, counted.
// Nothing it renders can hold a token: runs carry fingerprints, redacted
// URLs and scrubbed text, and the page scrubs again anything shaped like a
// JWT or a bearer credential and every query string.
package status

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/internal/webguard"
)

// Options configure a Page.
type Options struct {
	// Probes returns the running probes (the daemon's d.Probes).
	Probes func() []*probe.Probe
	// Config returns the running configuration as YAML with secrets
	// redacted (config.Config.Redacted), and its file and digest.
	Config func() (yaml []byte, file, digest string, err error)
	// SLO returns the running global.slo (drawn in the latency chart);
	// nil or zero: not drawn.
	SLO func() time.Duration
	// EvidenceLog is the evidence log's path, where the traces the page
	// no longer keeps can be found; empty when none is configured.
	EvidenceLog string
	// RunNow runs a probe at once if its canary is free
	// (schedule.Scheduler.RunNow); nil hides the button.
	RunNow func(ctx context.Context, id string) (*verdict.Run, error)
	// RunNowEvery is the least time between two run-now of one probe.
	// Default 10s.
	RunNowEvery time.Duration
	// Refused, if set, is told of every run now refused here (reason
	// webguard.RateLimited or webguard.Busy). Whether a run-now request
	// may be made at all (Host, same origin) is the daemon's guard's call,
	// in front of the page.
	Refused func(r *http.Request, reason string)
	// Logger receives the skip streaks. Default slog.Default().
	Logger *slog.Logger
	// MemoryBudget bounds the bytes of everything the page keeps, over
	// all probes. Default 32 MiB.
	MemoryBudget int64
	// Keep is how many run summaries (and skip streaks) are kept per
	// probe. Default 30.
	Keep int
	// KeepBad is how many summaries of failures and errors are kept per
	// probe besides. Default 10.
	KeepBad int
	// KeepTraces is how many full runs (for /runs/{id}) are kept per
	// probe, besides its last failure and last error. Default 2.
	KeepTraces int
	// Strip is how many recent runs the overview shows per probe. Default 20.
	Strip int
	Now   func() time.Time
}

// DefaultMemoryBudget is Options.MemoryBudget's default.
const DefaultMemoryBudget = 32 << 20

// Page is the status page. Register it on a mux and add it to the
// recorders.
type Page struct {
	opts Options

	mu      sync.Mutex
	st      *store
	lastRun map[string]time.Time // probe id → last accepted run-now
	// records counts Record calls, to forget removed probes now and then.
	records  int
	probesOK bool // Options.Probes was given: removed probes can be told
}

// forgetEvery is how many records pass between two sweeps of the histories
// of probes a reload removed (cheap: a set of the running probes' ids).
const forgetEvery = 4096

// New makes a page.
func New(opts Options) *Page {
	if opts.RunNowEvery <= 0 {
		opts.RunNowEvery = 10 * time.Second
	}
	if opts.MemoryBudget <= 0 {
		opts.MemoryBudget = DefaultMemoryBudget
	}
	if opts.Keep <= 0 {
		opts.Keep = 30
	}
	if opts.KeepBad <= 0 {
		opts.KeepBad = 10
	}
	if opts.KeepTraces <= 0 {
		opts.KeepTraces = 2
	}
	if opts.Strip <= 0 {
		opts.Strip = 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	probesOK := opts.Probes != nil
	if !probesOK {
		opts.Probes = func() []*probe.Probe { return nil }
	}
	if opts.SLO == nil {
		opts.SLO = func() time.Duration { return 0 }
	}
	return &Page{opts: opts, st: newStore(opts.MemoryBudget, opts.Keep, opts.KeepBad, opts.KeepTraces), lastRun: map[string]time.Time{}, probesOK: probesOK}
}

// Record implements schedule.Recorder.
func (p *Page) Record(r *verdict.Run) {
	if r == nil {
		return
	}
	id := r.Target + "/" + r.Endpoint
	p.mu.Lock()
	p.records++
	sweep := p.probesOK && p.records%forgetEvery == 0
	p.mu.Unlock()
	if sweep {
		p.forgetRemoved()
	}
	p.mu.Lock()
	if h := p.st.hist[id]; h != nil && h.hasRun && h.last.id == r.ID { // run now records it too, in case the page is not a recorder
		p.mu.Unlock()
		return
	}
	ended := p.st.record(id, r)
	p.mu.Unlock()
	if ended != nil {
		p.logStreakEnd(id, ended, r.Started)
	}
}

// forgetRemoved drops the histories of probes no longer configured: a
// stream of reloads that rename probes must not grow the page.
func (p *Page) forgetRemoved() {
	probes := p.opts.Probes() // before the page's lock: the daemon takes its own
	keep := make(map[string]bool, len(probes))
	for _, pr := range probes {
		keep[pr.ID()] = true
	}
	p.mu.Lock()
	p.st.forget(keep)
	p.mu.Unlock()
}

// RecordSkip implements schedule.SkipRecorder.
func (p *Page) RecordSkip(sk schedule.Skip) {
	id := sk.Target + "/" + sk.Endpoint
	p.mu.Lock()
	st, news := p.st.skip(id, sk.Reason, sk.At)
	first, count := st.first, st.count
	p.mu.Unlock()
	if news {
		p.logSkip(id, sk.Reason, first, count)
	}
}

// Usage is what the page keeps: bytes by its own accounting (all, and the
// traces'), the budget, the traces kept and those dropped for the budget.
type Usage struct {
	Bytes, TraceBytes, Budget int64
	Traces, Dropped           int
}

// Usage reports the page's memory accounting.
func (p *Page) Usage() Usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	var tb int64
	for _, t := range p.st.byID {
		tb += t.size
	}
	return Usage{Bytes: p.st.used, TraceBytes: tb, Budget: p.st.budget, Traces: len(p.st.byID), Dropped: int(p.st.evicted)}
}

// Register mounts the page's routes on mux: GET /, GET /runs/{id},
// GET /probes/{target}/{endpoint}, POST /probes/{target}/{endpoint}/run,
// GET /config.
func (p *Page) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", p.index)
	mux.HandleFunc("GET /runs/{id}", p.run)
	mux.HandleFunc("GET /probes/{target}/{endpoint}", p.probe)
	mux.HandleFunc("POST /probes/{target}/{endpoint}/run", p.runNow)
	mux.HandleFunc("GET /config", p.config)
}

// Handler is a mux with only the page's routes (tests, embedding).
func (p *Page) Handler() http.Handler {
	mux := http.NewServeMux()
	p.Register(mux)
	return mux
}

// --- views -----------------------------------------------------------------

type stripItem struct {
	ID, Title, Class string
	Linked           bool
}

// skipping is a probe's current streak of skipped ticks, for the page.
type skipping struct {
	Count   int
	Since   string // age of the first skip
	Reasons string // "canary_busy ×5, overlap ×1"
	Why     string // what the latest reason means
}

type probeRow struct {
	ID, Target, Endpoint, Driver string
	Interval                     time.Duration
	HasRun                       bool
	Result                       verdict.Result
	Reason                       string
	RunID                        string
	Age                          string
	// Stale: no verdict came since the last one was due (its start plus
	// the interval and the run's timeout).
	Stale       bool
	Skipping    *skipping
	Propagation string
	Detail      string
	Strip       []stripItem
	Bad         []stripItem // failures and errors older than the strip
	Chart       template.HTML
	RunPath     string
	ProbePath   string
}

// rows lists every probe with its newest stripLen runs and at most badMax
// failures and errors older than those (failures are kept longer than
// passes, so the overview still shows the last one after many passes).
// With chart, each row carries its latency chart.
func (p *Page) rows(stripLen, badMax int, only string, chart bool) []probeRow {
	probes := p.opts.Probes()
	now := p.opts.Now()
	var slo time.Duration
	if chart {
		slo = p.opts.SLO()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rows := make([]probeRow, 0, len(probes))
	for _, pr := range probes {
		if only != "" && pr.ID() != only {
			continue
		}
		row := probeRow{ID: pr.ID(), Target: pr.Target, Endpoint: pr.Endpoint, Driver: pr.Kind, Interval: pr.Interval,
			RunPath:   "/probes/" + url.PathEscape(pr.Target) + "/" + url.PathEscape(pr.Endpoint) + "/run",
			ProbePath: "/probes/" + url.PathEscape(pr.Target) + "/" + url.PathEscape(pr.Endpoint)}
		h := p.st.hist[pr.ID()]
		if h == nil {
			rows = append(rows, row)
			continue
		}
		if st := h.streak; st != nil {
			row.Skipping = &skipping{Count: st.count, Since: age(now.Sub(st.first)), Reasons: streakReasons(st),
				Why: skipWhy(st.reasons[len(st.reasons)-1].reason)}
		}
		if h.hasRun {
			l := h.last
			row.HasRun, row.Result, row.Reason, row.RunID = true, verdict.Result(l.kind.String()), l.Reason(), l.id
			row.Age = age(now.Sub(l.Ended()))
			row.Stale = now.After(l.Started().Add(pr.Interval + pr.Timeout))
			row.Propagation = "-"
			if v, ok := l.Propagation(); ok {
				row.Propagation = secs(v)
			}
			row.Detail = h.detail
		}
		from := max(0, h.recent.len()-stripLen)
		for i := h.recent.len() - 1; i >= from; i-- {
			row.Strip = append(row.Strip, p.item(*h.recent.at(i)))
		}
		var oldest int64
		if from < h.recent.len() {
			oldest = h.recent.at(from).start
		}
		for i := h.bad.len() - 1; i >= 0 && len(row.Bad) < badMax; i-- {
			if e := h.bad.at(i); e.start < oldest {
				row.Bad = append(row.Bad, p.item(*e))
			}
		}
		if chart {
			row.Chart = latencyChart(pr.ID(), &h.recent, pr.Deadline, slo)
		}
		rows = append(rows, row)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		ri, rj := rank(rows[i]), rank(rows[j])
		if ri != rj {
			return ri < rj
		}
		return rows[i].ID < rows[j].ID
	})
	return rows
}

func (p *Page) item(e entry) stripItem {
	at := e.Started().UTC().Format("2006-01-02 15:04:05Z")
	if e.kind == kindSkipped {
		title := fmt.Sprintf("%s skipped (%s)", at, e.Reason())
		if e.count > 1 {
			title = fmt.Sprintf("%s to %s: %d runs skipped (%s)", at, e.Ended().UTC().Format("15:04:05Z"), e.count, e.Reason())
		}
		return stripItem{Title: title, Class: "skipped"}
	}
	title := fmt.Sprintf("%s %s", at, e.kind)
	if e.kind != kindPass {
		title += " (" + e.Reason() + ")"
	} else if v, ok := e.Propagation(); ok {
		title += " in " + secs(v)
	}
	return stripItem{ID: e.id, Title: title, Class: e.kind.String(), Linked: true}
}

// rank puts fails first, then errors, then probes never run, then stale
// or skipping ones (a PASS that is not renewed must not hide among the
// fresh ones), then passes.
func rank(r probeRow) int {
	switch {
	case r.Result == verdict.Fail:
		return 0
	case r.Result == verdict.Error:
		return 1
	case !r.HasRun:
		return 2
	case r.Stale || r.Skipping != nil:
		return 3
	}
	return 4
}

func age(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func secs(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.0f ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}

// Scrubbing, a second line of defence behind the engine's: nothing shaped
// like a JWT, a bearer credential or a query string reaches the page.
var (
	jwtLike    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	bearerLike = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`)
	credParam  = regexp.MustCompile(`(?i)\b(access_token|refresh_token|id_token|client_secret|password|code|token)=[^\s&"']+`)
)

func clean(s string) string {
	s = jwtLike.ReplaceAllString(s, "<secret>")
	s = bearerLike.ReplaceAllString(s, "$1 <secret>")
	s = credParam.ReplaceAllString(s, "$1=<secret>")
	return s
}

func cleanURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		s = u.String()
	}
	return clean(s)
}

// --- handlers --------------------------------------------------------------

type indexData struct {
	Rows                          []probeRow
	Pass, Fail, Error, New, Stale int
	RunNow                        bool
	Now                           string
}

func (p *Page) index(w http.ResponseWriter, r *http.Request) {
	d := indexData{Rows: p.rows(p.opts.Strip, 3, "", false), RunNow: p.opts.RunNow != nil, Now: p.opts.Now().UTC().Format(time.RFC3339)}
	for _, row := range d.Rows {
		if row.Stale {
			d.Stale++
		}
		switch {
		case !row.HasRun:
			d.New++
		case row.Result == verdict.Pass:
			d.Pass++
		case row.Result == verdict.Fail:
			d.Fail++
		default:
			d.Error++
		}
	}
	render(w, http.StatusOK, "index", d)
}

func (p *Page) probe(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("target") + "/" + r.PathValue("endpoint")
	for _, row := range p.rows(p.opts.Keep, p.opts.KeepBad, id, true) {
		if row.ID == id {
			render(w, http.StatusOK, "probe", struct {
				Row    probeRow
				RunNow bool
			}{row, p.opts.RunNow != nil})
			return
		}
	}
	message(w, http.StatusNotFound, "No such probe", fmt.Sprintf("There is no probe %q in the running configuration.", id))
}

type runData struct {
	Run       *verdict.Run
	Detail    string
	Cleanup   string
	Notes     []string // cleaned like Detail
	Steps     []verdict.Step
	Checks    []verdict.Observation
	Requests  []verdict.Request
	Prints    []string
	New       bool
	ProbePath string
}

// droppedData is a run whose summary the page has but not its trace.
type droppedData struct {
	ID, ProbeID, ProbePath string
	Result, Reason         string
	Started, Took, Prop    string
	EvidenceLog            string
}

func (p *Page) run(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	run, probeID, e, ok := p.st.find(r.PathValue("id"))
	p.mu.Unlock()
	if !ok {
		message(w, http.StatusNotFound, "Run not found",
			"This run is unknown to this page (it keeps the latest runs of each probe, and failures longer, since it started). "+p.evidenceHint())
		return
	}
	if run == nil {
		target, endpoint, _ := strings.Cut(probeID, "/")
		d := droppedData{ID: e.id, ProbeID: probeID, ProbePath: "/probes/" + url.PathEscape(target) + "/" + url.PathEscape(endpoint),
			Result: e.kind.String(), Reason: e.Reason(), Started: e.Started().UTC().Format("2006-01-02 15:04:05Z"),
			Took: e.Ended().Sub(e.Started()).Round(time.Millisecond).String(), Prop: "-", EvidenceLog: p.opts.EvidenceLog}
		if v, ok := e.Propagation(); ok {
			d.Prop = secs(v)
		}
		render(w, http.StatusOK, "dropped", d)
		return
	}
	d := runData{Run: run, Detail: clean(run.Detail), Cleanup: clean(run.Cleanup), New: r.URL.Query().Has("new"),
		ProbePath: "/probes/" + url.PathEscape(run.Target) + "/" + url.PathEscape(run.Endpoint)}
	for _, n := range run.Notes {
		d.Notes = append(d.Notes, clean(n))
	}
	for _, s := range run.Steps {
		s.Error = clean(s.Error)
		d.Steps = append(d.Steps, s)
	}
	for _, c := range run.Checks {
		c.Detail = clean(c.Detail)
		d.Checks = append(d.Checks, c)
	}
	for _, q := range run.Requests {
		q.URL, q.Error = cleanURL(q.URL), clean(q.Error)
		d.Requests = append(d.Requests, q)
	}
	for k, v := range run.Fingerprints {
		d.Prints = append(d.Prints, k+" "+v)
	}
	sort.Strings(d.Prints)
	render(w, http.StatusOK, "run", d)
}

func (p *Page) runNow(w http.ResponseWriter, r *http.Request) {
	if p.opts.RunNow == nil {
		message(w, http.StatusNotImplemented, "Run now is off", "This prober does not offer run now.")
		return
	}
	id := r.PathValue("target") + "/" + r.PathValue("endpoint")
	var known *probe.Probe
	for _, pr := range p.opts.Probes() {
		if pr.ID() == id {
			known = pr
		}
	}
	if known == nil {
		message(w, http.StatusNotFound, "No such probe", fmt.Sprintf("There is no probe %q in the running configuration.", id))
		return
	}
	now := p.opts.Now()
	p.mu.Lock()
	prev, ok := p.lastRun[id]
	if ok && now.Sub(prev) < p.opts.RunNowEvery {
		p.mu.Unlock()
		wait := p.opts.RunNowEvery - now.Sub(prev)
		p.refused(r, webguard.RateLimited)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		message(w, http.StatusTooManyRequests, "Run now refused: too soon",
			fmt.Sprintf("%s was run on request %s; run now is allowed once every %s per probe. Try again in %s.",
				id, age(now.Sub(prev)), p.opts.RunNowEvery, wait.Round(100*time.Millisecond)))
		return
	}
	p.lastRun[id] = now
	p.mu.Unlock()

	// The answer waits for the run: past the server's write timeout, up
	// to the probe's own timeout (an httptest recorder cannot, and needs
	// not).
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(known.Timeout + time.Minute))
	run, err := p.opts.RunNow(r.Context(), id)
	if err != nil {
		p.mu.Lock()
		if p.lastRun[id].Equal(now) {
			if ok {
				p.lastRun[id] = prev
			} else {
				delete(p.lastRun, id)
			}
		}
		p.mu.Unlock()
		switch {
		case errors.Is(err, schedule.ErrBusy):
			p.refused(r, webguard.Busy)
			message(w, http.StatusConflict, "Run now refused: the canary is busy",
				fmt.Sprintf("Another run holds the canary of %s right now (two runs on one canary spoil each other's verdicts). Try again when it has finished.", id))
		case errors.Is(err, schedule.ErrCannotRunHere):
			message(w, http.StatusServiceUnavailable, "Run now refused: this replica cannot run probes now", clean(err.Error()))
		case errors.Is(err, schedule.ErrNoProbe):
			message(w, http.StatusNotFound, "No such probe", fmt.Sprintf("There is no probe %q in the running configuration.", id))
		default:
			message(w, http.StatusServiceUnavailable, "Run now failed", clean(err.Error()))
		}
		return
	}
	// The run was recorded through the recorders (this page among them);
	// record it here too in case the page is not one of them (Record
	// ignores a run it has).
	p.Record(run)
	http.Redirect(w, r, "/runs/"+url.PathEscape(run.ID)+"?new=1", http.StatusSeeOther)
}

// evidenceHint says where runs the page does not keep can be found.
func (p *Page) evidenceHint() string {
	if p.opts.EvidenceLog == "" {
		return "No evidence log is configured (evidence.path), so older traces are not kept anywhere."
	}
	return "Every run's full record is in the evidence log, " + p.opts.EvidenceLog + ", found by its run_id."
}

func (p *Page) refused(r *http.Request, reason string) {
	if p.opts.Refused != nil {
		p.opts.Refused(r, reason)
	}
}

func (p *Page) config(w http.ResponseWriter, r *http.Request) {
	if p.opts.Config == nil {
		message(w, http.StatusNotFound, "No configuration", "This page has no configuration to show.")
		return
	}
	y, file, digest, err := p.opts.Config()
	if err != nil {
		message(w, http.StatusInternalServerError, "Configuration unavailable", clean(err.Error()))
		return
	}
	render(w, http.StatusOK, "config", struct{ YAML, File, Digest string }{string(y), file, digest})
}

func message(w http.ResponseWriter, code int, title, text string) {
	render(w, code, "message", struct{ Title, Text string }{title, text})
}

func render(w http.ResponseWriter, code int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(code)
	_ = pages.ExecuteTemplate(w, name, data)
}
