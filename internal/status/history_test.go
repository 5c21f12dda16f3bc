package status_test

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/status"
	"github.com/revprober/revprober/internal/verdict"
)

var histStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// fullRun is a run the size of a real one (a Janssen run: 13 requests, four
// checks, six steps, fingerprints), its text freshly allocated so that the
// heap measures what the page keeps.
func fullRun(target string, i int, r verdict.Result) *verdict.Run {
	prop := 0.05 + float64(i%7)/100
	run := &verdict.Run{ID: fmt.Sprintf("20260301T%06d-%s", i, target), Target: target, Endpoint: "global-token-revocation",
		Driver: "janssen-global-token-revocation", Started: histStart.Add(time.Duration(i) * time.Minute), Duration: 800 * time.Millisecond,
		Result: r, Reason: verdict.ReasonNone, PropagationSeconds: &prop, ConfigDigest: fmt.Sprintf("%064x", i), Replica: "replica-" + target}
	if r != verdict.Pass {
		run.Reason, run.PropagationSeconds = verdict.AccessTokenStillActive, nil
		run.Detail = fmt.Sprintf("introspection still answered active=true %d s after the revocation (run %d)", 5, i)
	}
	for _, s := range verdict.Steps {
		run.Steps = append(run.Steps, verdict.Step{Name: s, Duration: time.Duration(i) * time.Microsecond})
	}
	for _, c := range []verdict.Check{verdict.Introspection, verdict.Userinfo, verdict.RefreshGrant, verdict.PromptNone} {
		p := prop
		run.Checks = append(run.Checks, verdict.Observation{Check: c, Artifact: c.Artifact(), Canary: "canary-" + target, Expect: verdict.Dies,
			Before: verdict.Alive, After: verdict.Dead, Polls: 3, PropagationSeconds: &p, Detail: fmt.Sprintf("seen dead after %d polls", i%5)})
	}
	for k := range 13 {
		run.Requests = append(run.Requests, verdict.Request{Step: verdict.StepVerify, Method: "POST", Status: 200,
			URL: fmt.Sprintf("https://idp-%s.example.com/jans-auth/restv1/introspection/%d", target, k), Duration: time.Millisecond})
	}
	run.Fingerprints = map[string]string{"access_token": fmt.Sprintf("%012x", i), "refresh_token": fmt.Sprintf("%012x", i+1), "id_token": fmt.Sprintf("%012x", i+2)}
	return run
}

func oneProbe(target string) func() []*probe.Probe {
	p := &probe.Probe{Target: target, Endpoint: "global-token-revocation", Kind: "k", Interval: time.Minute, Timeout: 30 * time.Second, Deadline: 5 * time.Second}
	return func() []*probe.Probe { return []*probe.Probe{p} }
}

// TestLastFailureSurvivesPasses: a probe's last failure keeps its full
// trace, and its place on the overview and the probe page, through 1,000
// later passes; old passes keep a summary that points to the evidence log.
func TestLastFailureSurvivesPasses(t *testing.T) {
	page := status.New(status.Options{Probes: oneProbe("acme"), EvidenceLog: "/var/lib/revprober/evidence.jsonl"})
	fail := fullRun("acme", 0, verdict.Fail)
	page.Record(fail)
	var passes []*verdict.Run
	for i := 1; i <= 1000; i++ {
		passes = append(passes, fullRun("acme", i, verdict.Pass))
		page.Record(passes[len(passes)-1])
	}
	h := page.Handler()
	code, body := get(t, h, "/runs/"+fail.ID)
	if code != 200 || !strings.Contains(body, `id="steps"`) || !strings.Contains(body, `id="requests"`) || !strings.Contains(body, "access_token_still_active") {
		t.Fatalf("the last failure's trace is gone after 1,000 passes: %d\n%s", code, body)
	}
	_, body = get(t, h, "/")
	if !strings.Contains(body, `href="/runs/`+fail.ID+`"`) || !strings.Contains(body, "earlier failures") {
		t.Fatal("the overview lost the last failure behind the passes")
	}
	_, body = get(t, h, "/probes/acme/global-token-revocation")
	if !strings.Contains(body, "Earlier failures and errors") || !strings.Contains(body, `href="/runs/`+fail.ID+`"`) {
		t.Fatal("the probe page lost the last failure")
	}
	// The latest pass has its trace; a pass from a while ago only its summary.
	if code, body := get(t, h, "/runs/"+passes[999].ID); code != 200 || !strings.Contains(body, `id="steps"`) {
		t.Fatalf("the latest pass has no trace: %d", code)
	}
	old := passes[990]
	code, body = get(t, h, "/runs/"+old.ID)
	if code != 200 || !strings.Contains(body, "Trace not kept in memory; see the evidence log") ||
		!strings.Contains(body, "/var/lib/revprober/evidence.jsonl") || !strings.Contains(body, old.ID) || strings.Contains(body, `id="steps"`) {
		t.Fatalf("a pass whose trace was dropped: %d\n%s", code, body)
	}
	if code, _ := get(t, h, "/runs/"+passes[0].ID); code != 404 {
		t.Fatalf("a pass beyond the summaries: %d, want 404", code)
	}
}

// TestDroppedTraceWithoutEvidenceLog: with no evidence log, the page says
// the trace is kept nowhere rather than pointing to a log that does not
// exist.
func TestDroppedTraceWithoutEvidenceLog(t *testing.T) {
	page := status.New(status.Options{Probes: oneProbe("acme")})
	for i := range 5 {
		page.Record(fullRun("acme", i, verdict.Pass))
	}
	_, body := get(t, page.Handler(), "/runs/"+fullRun("acme", 0, verdict.Pass).ID)
	if !strings.Contains(body, "Trace not kept in memory; no evidence log is configured") {
		t.Fatalf("%s", body)
	}
}

// TestMemoryBoundedAt10kProbes: 10,000 probes, each with a full history of
// runs (one in seven with a failure among them), stay within the page's
// budget by its own accounting, and the Go heap the page holds agrees
// within 20% (the accounting estimates; it measured within 5%, and
// forgetting to count strings alone takes it past 25%). Ten full traces
// per probe, as before, would be 100,000 runs of about 4 KiB here.
func TestMemoryBoundedAt10kProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("records 350,000 runs")
	}
	const probes, runs = 10000, 35
	const budget = 32 << 20
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	page := status.New(status.Options{MemoryBudget: budget})
	for i := range runs {
		for n := range probes {
			r := verdict.Pass
			if n%7 == 0 && i == 3 {
				r = verdict.Fail
			}
			target := "tenant-" + strconv.Itoa(100000 + n)[1:]
			if i < runs-3 && r == verdict.Pass {
				// Passes long gone from the traces a page could keep: a
				// light run (same summary) spares the test building a full one.
				prop := 0.05
				page.Record(&verdict.Run{ID: "20260301T" + strconv.Itoa(i) + "-" + target, Target: target, Endpoint: "global-token-revocation",
					Started: histStart.Add(time.Duration(i) * time.Minute), Result: r, Reason: verdict.ReasonNone, PropagationSeconds: &prop})
				continue
			}
			page.Record(fullRun(target, i, r))
		}
	}
	u := page.Usage()
	held := int64(heap()) - int64(before)
	runtime.KeepAlive(page)
	t.Logf("accounted %.1f MiB of %d MiB (summaries %.1f MiB, %d traces %.1f MiB, %d dropped for the budget); Go heap held %.1f MiB",
		float64(u.Bytes)/(1<<20), budget>>20, float64(u.Bytes-u.TraceBytes)/(1<<20), u.Traces, float64(u.TraceBytes)/(1<<20), u.Dropped, float64(held)/(1<<20))
	if u.Bytes > budget {
		t.Errorf("the page accounts %d bytes, over its budget of %d", u.Bytes, budget)
	}
	if held > budget*6/5 {
		t.Errorf("the page holds %.1f MiB of heap, over 1.2× its %d MiB budget: the accounting under-counts", float64(held)/(1<<20), budget>>20)
	}
	if u.Traces == 0 || u.Dropped == 0 {
		t.Errorf("traces kept %d, dropped %d: the test does not exercise the budget", u.Traces, u.Dropped)
	}
}

// TestRemovedProbesAreForgotten: probes a reload removed do not keep their
// history (a stream of reloads that rename probes must not grow the page).
func TestRemovedProbesAreForgotten(t *testing.T) {
	current := "old"
	p := func() []*probe.Probe {
		return []*probe.Probe{{Target: current, Endpoint: "global-token-revocation", Interval: time.Minute, Timeout: time.Second}}
	}
	page := status.New(status.Options{Probes: p})
	page.Record(fullRun("old", 0, verdict.Fail))
	before := page.Usage()
	current = "new"
	for i := range 5000 {
		page.Record(fullRun("new", i, verdict.Pass))
	}
	if code, _ := get(t, page.Handler(), "/runs/"+fullRun("old", 0, verdict.Fail).ID); code != 404 {
		t.Fatalf("the removed probe's failure is still kept: %d", code)
	}
	if u := page.Usage(); u.Traces > 2 || before.Traces != 1 {
		t.Fatalf("traces before %d, after %d", before.Traces, u.Traces)
	}
}
