package cli

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/daemon"
	"github.com/revprober/revprober/internal/demo"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/verdict"
)

// TestDemoOnceFaultAnswersWithinADeadline: `demo --once --fault
// ignore-revocation` fails every probe and answers within about one
// deadline, because every demo probe has a canary of its own and once runs
// the probes of different canaries at the same time. (On one shared canary
// the 20 failing runs, each waiting out the 5 s deadline, took 100 s.) The
// bound, twice the deadline, tells the two apart by a wide margin.
func TestDemoOnceFaultAnswersWithinADeadline(t *testing.T) {
	const deadline = 5 * time.Second // demo's default
	start := time.Now()
	code, out, errOut := run(t, "demo", "--once", "--fault", "ignore-revocation")
	took := time.Since(start)
	if code != ExitFail || !strings.Contains(out, "0 passed, 20 failed, 0 errors") {
		t.Fatalf("exit %d, want %d with every probe failed:\n%s%s", code, ExitFail, out, errOut)
	}
	if took > 2*deadline {
		t.Errorf("demo --once with a fault took %s, more than twice the %s deadline: the probes ran one after another", took.Round(time.Millisecond), deadline)
	}
}

// TestDemoDaemonShowsEveryFault: in the running demo, a fault switched on
// turns every demo probe it affects (ignore-revocation affects them all)
// red within two intervals: no probe waits behind another's failing runs
// for a canary. The runs are watched as the status page and the metrics
// get them (a recorder of the scheduler), polled, never slept on.
func TestDemoDaemonShowsEveryFault(t *testing.T) {
	sim, err := demo.StartSim("127.0.0.1:0", idpsim.Faults{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	const interval = 4 * time.Second
	params := demo.Params{SimURL: sim.URL, Interval: interval.String(), Timeout: "3s", Deadline: "1s", Hold: "250ms"}
	load := func() (*config.Config, error) { return demo.Config(params, loadOptions()) }
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tg := range cfg.Targets {
		n += len(tg.Endpoints)
	}

	var mu sync.Mutex
	latest := map[string]*verdict.Run{}
	rec := schedule.RecorderFunc(func(r *verdict.Run) {
		mu.Lock()
		defer mu.Unlock()
		latest[r.Target+"/"+r.Endpoint] = r
	})
	d, err := daemon.New(daemon.Options{Load: load, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Recorders: []schedule.Recorder{rec}})
	if err != nil {
		t.Fatal(err)
	}
	d.Sched.Start()
	defer d.Sched.Shutdown()

	// await polls until every probe's latest run that started after since
	// has the result, or until the bound; it returns the probes that did not.
	await := func(want verdict.Result, since, bound time.Time) []string {
		for {
			var missing []string
			mu.Lock()
			for _, tg := range cfg.Targets {
				for _, e := range tg.Endpoints {
					id := tg.Name + "/" + e.Name
					if r := latest[id]; r == nil || r.Started.Before(since) || r.Result != want {
						missing = append(missing, id)
					}
				}
			}
			mu.Unlock()
			if len(missing) == 0 || time.Now().After(bound) {
				slices.Sort(missing)
				return missing
			}
			time.Sleep(50 * time.Millisecond) // polling the runs, bounded by bound
		}
	}
	start := time.Now()
	if missing := await(verdict.Pass, start, start.Add(3*interval)); len(missing) > 0 {
		t.Fatalf("without a fault, %d of %d probes never passed: %v", len(missing), n, missing)
	}
	sim.Server.SetFaults(idpsim.Faults{IgnoreRevocation: true})
	on := time.Now()
	if missing := await(verdict.Fail, on, on.Add(2*interval)); len(missing) > 0 {
		t.Errorf("%d of %d probes did not show FAIL within two intervals (%s) of the fault: %v", len(missing), n, 2*interval, missing)
	}
}
