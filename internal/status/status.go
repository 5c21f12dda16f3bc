// Package status is the daemon's human status page: every probe with its
// last verdict, its age, its propagation latency and a strip of recent
// runs; one run's step trace; a "run now" button; and the running
// configuration with secrets as <secret>.
//
// The page is a schedule.Recorder: it keeps a bounded history per probe
// (Options.Keep summaries of the latest runs, and as many of the latest
// failures and errors, which therefore outlive passes; full traces of the
// latest Options.KeepTraces runs and as many of the latest non-passes).
// Nothing it renders can hold a token: runs carry fingerprints, redacted
// URLs and scrubbed text, and the page scrubs again anything shaped like a
// JWT or a bearer credential and every query string.
package status

import (
	"context"
	"errors"
	"fmt"
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
	// Keep is how many run summaries are kept per probe, and again how
	// many failures and errors. Default 50.
	Keep int
	// KeepTraces is how many full runs (for /runs/{id}) are kept per
	// probe, and again how many failures and errors. Default 10.
	KeepTraces int
	// Strip is how many recent runs the overview shows per probe. Default 20.
	Strip int
	Now   func() time.Time
}

// Page is the status page. Register it on a mux and add it to the
// recorders.
type Page struct {
	opts Options

	mu      sync.Mutex
	hist    map[string]*history // probe id → history
	byID    map[string]*verdict.Run
	lastRun map[string]time.Time // probe id → last accepted run-now
}

type summary struct {
	ID          string
	Started     time.Time
	Result      verdict.Result
	Reason      verdict.Reason
	Propagation *float64
}

type history struct {
	recent, bad         []summary       // newest last
	recentFull, badFull []*verdict.Run  // newest last
	last                *verdict.Run    // the newest run
	lastEnd             time.Time       // when it ended
	traced              map[string]bool // ids of the kept traces
}

// New makes a page.
func New(opts Options) *Page {
	if opts.RunNowEvery <= 0 {
		opts.RunNowEvery = 10 * time.Second
	}
	if opts.Keep <= 0 {
		opts.Keep = 50
	}
	if opts.KeepTraces <= 0 {
		opts.KeepTraces = 10
	}
	if opts.Strip <= 0 {
		opts.Strip = 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Probes == nil {
		opts.Probes = func() []*probe.Probe { return nil }
	}
	return &Page{opts: opts, hist: map[string]*history{}, byID: map[string]*verdict.Run{}, lastRun: map[string]time.Time{}}
}

// Record implements schedule.Recorder.
func (p *Page) Record(r *verdict.Run) {
	if r == nil {
		return
	}
	id := r.Target + "/" + r.Endpoint
	s := summary{ID: r.ID, Started: r.Started, Result: r.Result, Reason: r.Reason, Propagation: r.PropagationSeconds}
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.hist[id]
	if h == nil {
		h = &history{traced: map[string]bool{}}
		p.hist[id] = h
	}
	h.last, h.lastEnd = r, r.Started.Add(r.Duration)
	h.recent = pushSummary(h.recent, s, p.opts.Keep)
	var evicted []*verdict.Run
	h.recentFull, evicted = pushRun(h.recentFull, r, p.opts.KeepTraces, evicted)
	if r.Result != verdict.Pass {
		h.bad = pushSummary(h.bad, s, p.opts.Keep)
		h.badFull, evicted = pushRun(h.badFull, r, p.opts.KeepTraces, evicted)
	}
	p.byID[r.ID] = r
	h.traced[r.ID] = true
	for _, e := range evicted {
		if !containsRun(h.recentFull, e) && !containsRun(h.badFull, e) {
			delete(p.byID, e.ID)
			delete(h.traced, e.ID)
		}
	}
}

func pushSummary(list []summary, s summary, n int) []summary {
	list = append(list, s)
	if len(list) > n {
		list = append(list[:0:0], list[len(list)-n:]...)
	}
	return list
}

func pushRun(list []*verdict.Run, r *verdict.Run, n int, evicted []*verdict.Run) ([]*verdict.Run, []*verdict.Run) {
	list = append(list, r)
	if len(list) > n {
		evicted = append(evicted, list[:len(list)-n]...)
		list = append(list[:0:0], list[len(list)-n:]...)
	}
	return list, evicted
}

func containsRun(list []*verdict.Run, r *verdict.Run) bool {
	for _, x := range list {
		if x == r {
			return true
		}
	}
	return false
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

type probeRow struct {
	ID, Target, Endpoint, Driver string
	Interval                     time.Duration
	HasRun                       bool
	Result                       verdict.Result
	Reason                       verdict.Reason
	RunID                        string
	Age                          string
	Propagation                  string
	Detail                       string
	Strip                        []stripItem
	Bad                          []stripItem // failures and errors older than the strip
	RunPath, ProbePath           string
}

// rows lists every probe with its newest stripLen runs and at most badMax
// failures and errors older than those (failures are kept longer than
// passes, so the overview still shows the last one after many passes).
func (p *Page) rows(stripLen, badMax int) []probeRow {
	probes := p.opts.Probes()
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	rows := make([]probeRow, 0, len(probes))
	for _, pr := range probes {
		row := probeRow{ID: pr.ID(), Target: pr.Target, Endpoint: pr.Endpoint, Driver: pr.Kind, Interval: pr.Interval,
			RunPath:   "/probes/" + url.PathEscape(pr.Target) + "/" + url.PathEscape(pr.Endpoint) + "/run",
			ProbePath: "/probes/" + url.PathEscape(pr.Target) + "/" + url.PathEscape(pr.Endpoint)}
		if h := p.hist[pr.ID()]; h != nil && h.last != nil {
			l := h.last
			row.HasRun, row.Result, row.Reason, row.RunID = true, l.Result, l.Reason, l.ID
			row.Age = age(now.Sub(h.lastEnd))
			row.Propagation = "-"
			if l.PropagationSeconds != nil {
				row.Propagation = secs(*l.PropagationSeconds)
			}
			row.Detail = clean(l.Detail)
			from := max(0, len(h.recent)-stripLen)
			for i := len(h.recent) - 1; i >= from; i-- {
				row.Strip = append(row.Strip, p.item(h, h.recent[i]))
			}
			oldest := time.Time{}
			if from < len(h.recent) {
				oldest = h.recent[from].Started
			}
			for i := len(h.bad) - 1; i >= 0 && len(row.Bad) < badMax; i-- {
				if h.bad[i].Started.Before(oldest) {
					row.Bad = append(row.Bad, p.item(h, h.bad[i]))
				}
			}
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

func (p *Page) item(h *history, s summary) stripItem {
	title := fmt.Sprintf("%s %s", s.Started.UTC().Format("2006-01-02 15:04:05Z"), s.Result)
	if s.Result != verdict.Pass {
		title += " (" + string(s.Reason) + ")"
	} else if s.Propagation != nil {
		title += " in " + secs(*s.Propagation)
	}
	return stripItem{ID: s.ID, Title: title, Class: string(s.Result), Linked: h.traced[s.ID]}
}

// rank puts fails first, then errors, then probes never run, then passes.
func rank(r probeRow) int {
	switch {
	case r.Result == verdict.Fail:
		return 0
	case r.Result == verdict.Error:
		return 1
	case !r.HasRun:
		return 2
	}
	return 3
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
	Rows                   []probeRow
	Pass, Fail, Error, New int
	RunNow                 bool
	Now                    string
}

func (p *Page) index(w http.ResponseWriter, r *http.Request) {
	d := indexData{Rows: p.rows(p.opts.Strip, 3), RunNow: p.opts.RunNow != nil, Now: p.opts.Now().UTC().Format(time.RFC3339)}
	for _, row := range d.Rows {
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
	for _, row := range p.rows(p.opts.Keep, p.opts.Keep) {
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

func (p *Page) run(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	run := p.byID[r.PathValue("id")]
	p.mu.Unlock()
	if run == nil {
		message(w, http.StatusNotFound, "Run not found",
			"This run is unknown or its trace is no longer kept (the page keeps the latest runs of each probe, and failures longer).")
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
		case errors.Is(err, schedule.ErrNoProbe):
			message(w, http.StatusNotFound, "No such probe", fmt.Sprintf("There is no probe %q in the running configuration.", id))
		default:
			message(w, http.StatusServiceUnavailable, "Run now failed", clean(err.Error()))
		}
		return
	}
	// The run was recorded through the recorders (this page among them);
	// record it here too in case the page is not one of them.
	p.mu.Lock()
	_, seen := p.byID[run.ID]
	p.mu.Unlock()
	if !seen {
		p.Record(run)
	}
	http.Redirect(w, r, "/runs/"+url.PathEscape(run.ID)+"?new=1", http.StatusSeeOther)
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
