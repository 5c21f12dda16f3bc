package status_test

import (
	"context"
	"log/slog"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/status"
	"github.com/revprober/revprober/internal/testenv"
	"github.com/revprober/revprober/internal/verdict"
)

// busyCoordinator lets the first run through, then gives every tick up as
// canary_busy until allowed again (another probe holding the canary).
type busyCoordinator struct {
	allow atomic.Bool
	runs  atomic.Int32
	busy  atomic.Int32
}

func (c *busyCoordinator) Acquire(context.Context, *probe.Probe, time.Time) (func(), string, error) {
	if c.runs.Load() == 0 || c.allow.Load() {
		c.runs.Add(1)
		return func() {}, "", nil
	}
	c.busy.Add(1)
	return nil, schedule.SkipCanaryBusy, nil
}

// TestSkippedProbeIsStaleAndSaysWhy drives the real scheduler with a fake
// clock: after one pass, every tick of the probe is skipped as canary_busy.
// The page must not keep showing a plain green PASS: the verdict is marked
// stale with its age, the probe says it is being skipped and why, and the
// run history has one compact skipped entry for the streak. The log has one
// line at the first skip (not one per tick) and one when runs resume, with
// the count.
func TestSkippedProbeIsStaleAndSaysWhy(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	p := &probe.Probe{Target: "tenant", Endpoint: "logout", Kind: "janssen-global-token-revocation",
		Interval: 10 * time.Second, Timeout: 4 * time.Second, Deadline: 2 * time.Second,
		Canaries: []probe.Canary{{Username: "canary01"}}}
	logs := &testenv.SyncBuffer{}
	page := status.New(status.Options{Probes: func() []*probe.Probe { return []*probe.Probe{p} }, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	coord := &busyCoordinator{}
	var n atomic.Int32
	sched, err := schedule.New(schedule.Options{
		Recorders: []schedule.Recorder{page}, Coordinator: coord, Now: clock.Now,
		GocronOption: []gocron.SchedulerOption{gocron.WithClock(clock)},
		Logger:       slog.New(slog.DiscardHandler),
		Run: func(_ context.Context, p *probe.Probe) *verdict.Run {
			prop := 0.25
			return &verdict.Run{ID: "run-" + strconv.Itoa(int(n.Add(1))), Target: p.Target, Endpoint: p.Endpoint,
				Result: verdict.Pass, Reason: verdict.ReasonNone, Started: clock.Now(), Duration: time.Second, PropagationSeconds: &prop}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Load([]*probe.Probe{p}); err != nil {
		t.Fatal(err)
	}
	sched.Start()
	defer sched.Shutdown()
	h := page.Handler()

	// The first run passes; right after it the verdict is fresh.
	advanceUntil(t, clock, func() bool { return n.Load() == 1 }, "the first run")
	_, body := get(t, h, "/")
	if row := rowOf(t, body, p.ID()); strings.Contains(row, `data-stale="true"`) || strings.Contains(row, "STALE") || strings.Contains(row, "skipping") {
		t.Fatalf("a fresh pass is shown as stale or skipping:\n%s", row)
	}

	// Three ticks skipped.
	advanceUntil(t, clock, func() bool { return coord.busy.Load() >= 3 && strings.Contains(probePage(t, page), "canary_busy ×") }, "three skipped ticks")
	coord.allow.Store(false)
	_, body = get(t, h, "/")
	row := rowOf(t, body, p.ID())
	for _, want := range []string{
		`data-stale="true"`,
		`<span class="badge stale"`, ">STALE</span>",
		`<span class="badge pass old">PASS</span>`, // the old verdict, not a solid green badge
		`data-skipping="canary_busy ×`,
		"another probe held the shared canary",
		`<b class="stale-age">`,
	} {
		if !strings.Contains(row, want) {
			t.Errorf("overview row lacks %q:\n%s", want, row)
		}
	}
	if strings.Contains(row, `<span class="badge pass">`) {
		t.Errorf("the stale verdict is still a solid green PASS:\n%s", row)
	}
	if !strings.Contains(body, "stale (no verdict since one was due)") {
		t.Error("the overview's summary line does not count the stale probe")
	}
	pp := probePage(t, page)
	if !strings.Contains(pp, ">STALE</span>") || !strings.Contains(pp, "<b>skipping</b>") {
		t.Errorf("the probe page does not say the probe is stale and skipped:\n%s", pp)
	}
	// One compact history entry for the whole streak, newest first.
	skippedItems := regexp.MustCompile(`class="skipped-c"[^>]*title="([^"]*)"`).FindAllStringSubmatch(pp, -1)
	if len(skippedItems) != 1 || !regexp.MustCompile(`: \d+ runs skipped \(canary_busy\)`).MatchString(skippedItems[0][1]) {
		t.Errorf("run history: want one skipped entry for the streak, got %q", skippedItems)
	}

	// The log: one line for the streak so far, not one per tick.
	if c := strings.Count(logs.String(), "probe run skipped"); c != 1 {
		t.Errorf("%d log lines for a streak of skips, want 1:\n%s", c, logs)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "reason=canary_busy") || !strings.Contains(logs.String(), "probe=tenant/logout") {
		t.Errorf("the skip log line lacks level, probe or reason:\n%s", logs)
	}

	// Runs resume: the streak's end is logged with its count, and the page
	// is fresh again.
	coord.allow.Store(true)
	advanceUntil(t, clock, func() bool { return strings.Contains(logs.String(), "probe runs resumed") }, "runs to resume")
	m := regexp.MustCompile(`probe runs resumed after skipped ticks" probe=tenant/logout skipped=(\d+) reasons="canary_busy ×(\d+)"`).FindStringSubmatch(logs.String())
	if m == nil || m[1] != strconv.Itoa(int(coord.busy.Load())) || m[1] != m[2] {
		t.Fatalf("the end of the streak is not logged with its count (%d skips):\n%s", coord.busy.Load(), logs)
	}
	_, body = get(t, h, "/")
	if row := rowOf(t, body, p.ID()); strings.Contains(row, "STALE") || strings.Contains(row, "data-skipping") {
		t.Fatalf("after runs resumed the probe still looks stale or skipped:\n%s", row)
	}
}

// TestNotLeaderIsNotAWarning: a replica that does not own a probe's ticks
// skips them as not_leader all the time: the page says another replica
// runs them, and the log does not warn.
func TestNotLeaderIsNotAWarning(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	p := &probe.Probe{Target: "t", Endpoint: "e", Interval: time.Minute, Timeout: 30 * time.Second}
	logs := &testenv.SyncBuffer{}
	page := status.New(status.Options{Probes: func() []*probe.Probe { return []*probe.Probe{p} }, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	for range 5 {
		page.RecordSkip(schedule.Skip{Target: "t", Endpoint: "e", Reason: schedule.SkipNotLeader, At: now})
		now = now.Add(time.Minute)
	}
	_, body := get(t, page.Handler(), "/")
	if !strings.Contains(body, "NO RUN YET") || !strings.Contains(body, "another replica ran these ticks") || !strings.Contains(body, "not_leader ×5") {
		t.Fatalf("page:\n%s", body)
	}
	if logs.String() != "" {
		t.Fatalf("not_leader skips were logged at the default level:\n%s", logs)
	}
}

func probePage(t *testing.T, page *status.Page) string {
	t.Helper()
	_, body := get(t, page.Handler(), "/probes/tenant/logout")
	return body
}

// rowOf is the overview's table row of one probe.
func rowOf(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `data-probe="`+id+`"`)
	if i < 0 {
		t.Fatalf("no row for %s:\n%s", id, body)
	}
	j := strings.Index(body[i:], "</tr>")
	return body[i : i+j]
}

// advanceUntil moves the fake clock a second at a time until cond holds
// (gocron registers its timers asynchronously: polling, bounded in steps
// and real time, rather than a fixed number of steps).
func advanceUntil(t *testing.T, clock *clockwork.FakeClock, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for step := 0; !cond(); step++ {
		if step > 5000 || time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		clock.Advance(time.Second)
		runtime.Gosched()
		time.Sleep(2 * time.Millisecond)
	}
}
