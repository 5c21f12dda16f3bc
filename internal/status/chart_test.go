package status_test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/status"
	"github.com/revprober/revprober/internal/verdict"
)

// svgElem is what the test reads of the chart.
type svgElem struct {
	name  string
	attrs map[string]string
	title string // its <title> child
}

// parseSVG checks that svg is well-formed XML and lists its elements.
func parseSVG(t *testing.T, svg string) []*svgElem {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	dec.Strict = true
	var elems, stack []*svgElem
	inTitle := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v\n%s", err, svg)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			e := &svgElem{name: x.Name.Local, attrs: map[string]string{}}
			for _, a := range x.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			inTitle = e.name == "title"
			elems, stack = append(elems, e), append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			inTitle = false
		case xml.CharData:
			if inTitle && len(stack) > 1 {
				stack[len(stack)-2].title += string(x)
			}
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements in the chart")
	}
	return elems
}

func chartOf(t *testing.T, body string) string {
	t.Helper()
	i, j := strings.Index(body, "<svg"), strings.Index(body, "</svg>")
	if i < 0 || j < i {
		t.Fatalf("the probe page has no chart:\n%s", body)
	}
	return body[i : j+len("</svg>")]
}

// TestLatencyChart: the probe page draws the propagation latency of its
// recent runs as SVG: well-formed, one mark per run (skips are not runs),
// passes at their latency, the deadline and the SLO as lines at their
// latency, fails and errors each with a mark of their own, a title and a
// description for screen readers, and no secret planted in a run.
func TestLatencyChart(t *testing.T) {
	p := &probe.Probe{Target: "t", Endpoint: "e", Kind: "k", Interval: time.Minute, Timeout: 30 * time.Second, Deadline: 5 * time.Second}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	page := status.New(status.Options{Probes: func() []*probe.Probe { return []*probe.Probe{p} },
		SLO: func() time.Duration { return 2 * time.Second }, Now: func() time.Time { return now }})
	f := func(v float64) *float64 { return &v }
	runs := []*verdict.Run{
		{ID: "r-fast", Result: verdict.Pass, Reason: verdict.ReasonNone, PropagationSeconds: f(0.1)},
		{ID: "r-at-slo", Result: verdict.Pass, Reason: verdict.ReasonNone, PropagationSeconds: f(2)},
		{ID: "r-at-deadline", Result: verdict.Pass, Reason: verdict.ReasonNone, PropagationSeconds: f(5)},
		{ID: "r-fail", Result: verdict.Fail, Reason: verdict.AccessTokenStillActive,
			Detail: "Authorization: Bearer abcdefghijklmnopqrstuvwxyz eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJl"},
		{ID: "r-error", Result: verdict.Error, Reason: verdict.LoginFailed, Detail: "password=canary-password-01"},
	}
	for i, r := range runs {
		r.Target, r.Endpoint, r.Started, r.Duration = "t", "e", now.Add(time.Duration(i)*time.Minute), time.Second
		page.Record(r)
		if i == 2 {
			page.RecordSkip(schedule.Skip{Target: "t", Endpoint: "e", Reason: schedule.SkipCanaryBusy, At: r.Started.Add(30 * time.Second)})
		}
	}
	_, body := get(t, page.Handler(), "/probes/t/e")
	svg := chartOf(t, body)
	elems := parseSVG(t, svg)

	root := elems[0]
	if root.name != "svg" || root.attrs["role"] != "img" || root.attrs["aria-labelledby"] == "" || root.title == "" {
		t.Errorf("the chart has no text alternative: %v title %q", root.attrs, root.title)
	}
	if !strings.Contains(svg, "<desc") || !strings.Contains(svg, "3 passed") || !strings.Contains(svg, "1 failed, 1 in error") {
		t.Errorf("the chart's description does not sum the runs up:\n%s", svg)
	}
	marks := map[string]*svgElem{}
	var lines = map[string]*svgElem{}
	for _, e := range elems {
		if strings.HasPrefix(e.attrs["class"], "mark ") {
			if e.title == "" {
				t.Errorf("mark of %s has no title", e.attrs["data-run"])
			}
			marks[e.attrs["data-run"]] = e
		}
		if e.name == "line" {
			lines[lineClass(elems, e)] = e
		}
	}
	if len(marks) != len(runs) {
		t.Fatalf("%d marks for %d runs (a skip is not a run): %v", len(marks), len(runs), marks)
	}
	y := func(e *svgElem) string {
		if v, ok := e.attrs["cy"]; ok {
			return v
		}
		return e.attrs["data-y"]
	}
	if got, want := lines["deadline"].attrs["y1"], y(marks["r-at-deadline"]); got != want {
		t.Errorf("the deadline line is at y=%s, the pass that took exactly the deadline at y=%s", got, want)
	}
	if got, want := lines["slo"].attrs["y1"], y(marks["r-at-slo"]); got != want {
		t.Errorf("the SLO line is at y=%s, the pass that took exactly the SLO at y=%s", got, want)
	}
	if !(num(t, y(marks["r-fast"])) > num(t, y(marks["r-at-slo"])) && num(t, y(marks["r-at-slo"])) > num(t, y(marks["r-at-deadline"]))) {
		t.Errorf("faster runs are not drawn lower: %s %s %s", y(marks["r-fast"]), y(marks["r-at-slo"]), y(marks["r-at-deadline"]))
	}
	if m := marks["r-fail"]; m.attrs["class"] != "mark fail" || !strings.Contains(m.title, "access_token_still_active") {
		t.Errorf("the fail's mark: %v %q", m.attrs, m.title)
	}
	if m := marks["r-error"]; m.attrs["class"] != "mark error" || !strings.Contains(m.title, "login_failed") {
		t.Errorf("the error's mark: %v %q", m.attrs, m.title)
	}
	// Distinct by shape (an unfilled cross, a filled diamond) and colour.
	if fl, er := marks["r-fail"].attrs, marks["r-error"].attrs; fl["fill"] != "none" || er["fill"] == "none" || fl["stroke"] == er["fill"] || fl["stroke"] == marks["r-fast"].attrs["fill"] {
		t.Errorf("fails and errors are not drawn distinctly: %v %v", fl, er)
	}
	for _, s := range []string{"abcdefghijklmnop", "eyJhbGciOiJSUzI1NiJ9", "canary-password-01"} {
		if strings.Contains(svg, s) || strings.Contains(body, s) {
			t.Errorf("the probe page or its chart shows a secret: %s", s)
		}
	}
}

// lineClass is the class of the group a <line> is drawn in.
func lineClass(elems []*svgElem, line *svgElem) string {
	var class string
	for _, e := range elems {
		if e.name == "g" {
			class = e.attrs["class"]
		}
		if e == line {
			return class
		}
	}
	return ""
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return f
}
