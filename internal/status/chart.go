package status

import (
	"fmt"
	"html/template"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The latency chart: the propagation latency of a probe's recent runs as a
// server-rendered SVG (no script, no framework; the page's CSP allows
// none), with the deadline and the SLO drawn as lines. Passes are blue
// dots at their latency; failures (vermilion crosses) and errors (amber
// diamonds) that have no latency sit on the top edge over a tinted column.
// Colours are from the Okabe-Ito palette (told apart with the common colour
// vision deficiencies), and shapes differ too, so colour is never the only
// cue. The SVG has a title and a description for screen readers, and each
// mark a title (its time, verdict and latency) and a link to its run.

const (
	chartW, chartH = 640, 220
	plotL, plotR   = 64, 624 // plot area, x
	plotT, plotB   = 16, 192 // plot area, y
	minSlots       = 10      // so that two runs are not drawn a plot apart

	colPass, colFail, colError, colSLO = "#0072B2", "#D55E00", "#E69F00", "#1f2328"
)

// latencyChart draws the runs in r (skip streaks are not runs) oldest left.
func latencyChart(probeID string, r *ring, deadline, slo time.Duration) template.HTML {
	var runs []entry
	for i := range r.len() {
		if e := r.at(i); e.kind != kindSkipped {
			runs = append(runs, *e)
		}
	}
	top := max(deadline.Seconds(), slo.Seconds())
	var lat []float64
	var fails, errs int
	for _, e := range runs {
		if v, ok := e.Propagation(); ok {
			top = max(top, v)
			if e.kind == kindPass {
				lat = append(lat, v)
			}
		}
		switch e.kind {
		case kindFail:
			fails++
		case kindError:
			errs++
		}
	}
	top = niceCeil(top * 1.05)
	y := func(v float64) float64 { return plotB - (plotB-plotT)*v/top }
	step := float64(plotR-plotL) / float64(max(len(runs), minSlots))
	x := func(i int) float64 { return plotL + step*(float64(i)+0.5) }

	var b strings.Builder
	esc := template.HTMLEscapeString
	desc := fmt.Sprintf("%d runs, oldest first: %d passed", len(runs), len(lat))
	if len(lat) > 0 {
		s := slices.Clone(lat)
		slices.Sort(s)
		desc += fmt.Sprintf(" (median %s, slowest %s)", secs(s[len(s)/2]), secs(s[len(s)-1]))
	}
	desc += fmt.Sprintf(", %d failed, %d in error.", fails, errs)
	if deadline > 0 {
		desc += " Deadline " + secs(deadline.Seconds()) + "."
	}
	if slo > 0 {
		desc += " SLO " + secs(slo.Seconds()) + "."
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="latency-chart" class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="latency-title latency-desc">`, chartW, chartH)
	fmt.Fprintf(&b, `<title id="latency-title">Propagation latency of the recent runs of %s</title><desc id="latency-desc">%s</desc>`, esc(probeID), esc(desc))
	// Frame and y axis: 0, half and the top, in seconds.
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fff" stroke="#d0d7de"/>`, plotL, plotT, plotR-plotL, plotB-plotT)
	for _, v := range []float64{0, top / 2, top} {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#57606a">%s</text>`, plotL-6, y(v)+4, axisLabel(v))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#57606a">oldest</text><text x="%d" y="%d" font-size="11" text-anchor="end" fill="#57606a">newest</text>`,
		plotL, chartH-10, plotR, chartH-10)
	// Columns behind the fails and errors that have no latency.
	for i, e := range runs {
		if _, ok := e.Propagation(); !ok && e.kind != kindPass {
			col := colFail
			if e.kind == kindError {
				col = colError
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" fill-opacity="0.12"/>`, x(i)-step/2, plotT, step, plotB-plotT, col)
		}
	}
	line := func(class, label, col, dash string, v float64) {
		fmt.Fprintf(&b, `<g class="%s" data-seconds="%g"><title>%s</title><line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="%s"/>`,
			class, v, esc(label), plotL, plotR, y(v), y(v), col, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="%s">%s</text></g>`, plotR-4, y(v)-4, col, esc(label))
	}
	if deadline > 0 {
		line("deadline", "deadline "+secs(deadline.Seconds()), colFail, "6 4", deadline.Seconds())
	}
	if slo > 0 {
		line("slo", "SLO "+secs(slo.Seconds()), colSLO, "2 3", slo.Seconds())
	}
	for i, e := range runs {
		title := e.Started().UTC().Format("2006-01-02 15:04:05Z") + " " + e.kind.String()
		if e.kind != kindPass {
			title += " (" + e.Reason() + ")"
		}
		v, ok := e.Propagation()
		if ok {
			title += ", propagation " + secs(v)
		}
		cx, cy := x(i), float64(plotT)
		if ok {
			cy = y(v)
		}
		fmt.Fprintf(&b, `<a href="/runs/%s" aria-label="%s">`, esc(url.PathEscape(e.id)), esc(title))
		switch e.kind {
		case kindPass:
			fill := colPass
			if !ok {
				fill, cy = "#fff", plotB
			}
			fmt.Fprintf(&b, `<circle class="mark pass" data-run="%s" cx="%.1f" cy="%.1f" r="4.5" fill="%s" stroke="%s" stroke-width="1.5">`, esc(e.id), cx, cy, fill, colPass)
			fmt.Fprintf(&b, `<title>%s</title></circle>`, esc(title))
		case kindFail:
			fmt.Fprintf(&b, `<path class="mark fail" data-run="%s" data-x="%.1f" data-y="%.1f" d="M%.1f %.1fl10 10m0 -10l-10 10" stroke="%s" stroke-width="3" fill="none">`,
				esc(e.id), cx, cy, cx-5, cy-5, colFail)
			fmt.Fprintf(&b, `<title>%s</title></path>`, esc(title))
		default:
			fmt.Fprintf(&b, `<path class="mark error" data-run="%s" data-x="%.1f" data-y="%.1f" d="M%.1f %.1fl6 6l-6 6l-6 -6z" fill="%s" stroke="#6b4c00" stroke-width="1">`,
				esc(e.id), cx, cy, cx, cy-6, colError)
			fmt.Fprintf(&b, `<title>%s</title></path>`, esc(title))
		}
		b.WriteString(`</a>`)
	}
	if len(runs) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" text-anchor="middle" fill="#57606a">no run yet</text>`, (plotL+plotR)/2, (plotT+plotB)/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to a number that reads well on an axis (and whose
// half does too): 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// axisLabel is a tick label: "0", "600 ms", "2.5 s", "40 s".
func axisLabel(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return strconv.FormatFloat(math.Round(v*1000), 'f', -1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " s"
}
