package probe_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/demo"
	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
)

// benchDrivers are the drivers measured by `make bench`.
var benchDrivers = []struct {
	kind   string
	params driver.Params
}{
	{"janssen-global-token-revocation", nil},
	{"rfc7009", driver.Params{"token": "refresh_token"}},
}

// benchSim starts the simulator. With REVPROBER_BIN set (make bench), it
// runs as a separate process, so the CPU time measured here is the
// prober's alone; otherwise in-process, and the CPU figure includes it.
func benchSim(b *testing.B) (base string, setFaults func(...string), separate bool) {
	bin := os.Getenv("REVPROBER_BIN")
	if bin == "" {
		s, u := probetest.Sim(b)
		return u, func(f ...string) {
			fs, err := parseFaults(f)
			if err != nil {
				b.Fatal(err)
			}
			s.SetFaults(fs)
		}, false
	}
	cmd := exec.Command(bin, "idpsim", "--listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("simulator did not start: %v", err)
	}
	// "simulator listening on http://127.0.0.1:PORT (issuer …)"
	f := strings.Fields(line)
	if len(f) < 4 {
		b.Fatalf("unexpected simulator banner %q", line)
	}
	base = f[3]
	return base, func(faults ...string) {
		body, _ := json.Marshal(map[string][]string{"faults": faults})
		req, _ := http.NewRequest(http.MethodPut, base+"/_sim/faults", bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("setting faults %v: %v", faults, err)
		}
		resp.Body.Close()
	}, true
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRun reports, per driver, HTTP requests and prober CPU per
// passing run, and the error of the measured propagation latency against
// injected delays.
func BenchmarkRun(b *testing.B) {
	for _, d := range benchDrivers {
		for _, delay := range []time.Duration{0, 250 * time.Millisecond, 2 * time.Second} {
			b.Run(fmt.Sprintf("%s/delay=%s", d.kind, delay), func(b *testing.B) {
				base, setFaults, separate := benchSim(b)
				setFaults(fmt.Sprintf("delay=%s", delay))
				counter := &httpx.CountingTransport{Next: probetest.Transport}
				p := probetest.Probe(b, base, d.kind, d.params, func(p *probe.Probe) {
					p.Transport = counter
					p.Deadline = 5 * time.Second
					// The config defaults, so the figures are what users get.
					p.PollInitial, p.PollMax = 10*time.Millisecond, time.Second
				})
				var errSum, errMax float64
				measure(b, p, counter, separate, func(r *verdict.Run) {
					e := math.Abs(*r.PropagationSeconds - delay.Seconds())
					errSum += e
					errMax = max(errMax, e)
				})
				b.ReportMetric(errSum/float64(b.N)*1000, "prop-err-mean-ms")
				b.ReportMetric(errMax*1000, "prop-err-max-ms")
			})
		}
	}
}

// BenchmarkHold is what the hold window costs a passing run of global
// token revocation (three promised checks) with the config's other
// defaults: ns/op is the run's duration, requests/run its HTTP requests.
// 10s is the config default, 1s the demo's.
func BenchmarkHold(b *testing.B) {
	for _, hold := range []time.Duration{time.Second, 10 * time.Second} {
		b.Run(fmt.Sprintf("hold=%s", hold), func(b *testing.B) {
			base, _, separate := benchSim(b)
			counter := &httpx.CountingTransport{Next: probetest.Transport}
			p := probetest.Probe(b, base, "janssen-global-token-revocation", nil, func(p *probe.Probe) {
				p.Transport = counter
				p.Timeout, p.Deadline, p.Hold = 45*time.Second, 30*time.Second, hold
				p.PollInitial, p.PollMax = 10*time.Millisecond, time.Second
			})
			measure(b, p, counter, separate, func(*verdict.Run) {})
		})
	}
}

// BenchmarkDrivers runs every probe of the demo configuration (one per
// driver configuration, as `revprober demo` does) against the simulator
// without injected delay, and reports per probe the HTTP requests and the
// prober CPU of a passing run, and its measured propagation (the Auth0 and
// Entra emulations revoke asynchronously by design: 300 ms, 500 ms).
func BenchmarkDrivers(b *testing.B) {
	base, _, separate := benchSim(b)
	cfg, err := demo.Config(demo.Params{SimURL: base}, config.LoadOptions{CheckDriver: func(kind string, params map[string]string) error {
		_, err := driver.Build(kind, params)
		return err
	}, SecretParam: driver.IsSecretParam})
	if err != nil {
		b.Fatal(err)
	}
	probes, err := probe.Compile(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range probes {
		b.Run(p.ID()+"/"+p.Kind, func(b *testing.B) {
			counter := &httpx.CountingTransport{Next: p.Transport}
			q := *p
			q.Transport = counter
			var prop float64
			measure(b, &q, counter, separate, func(r *verdict.Run) { prop += *r.PropagationSeconds })
			b.ReportMetric(prop/float64(b.N)*1000, "propagation-ms")
		})
	}
}

// measure runs p b.N times, each run must pass and is handed to each, and
// reports HTTP requests and CPU per run (the prober's alone when the
// simulator is a separate process).
func measure(b *testing.B, p *probe.Probe, counter *httpx.CountingTransport, separate bool, each func(*verdict.Run)) {
	b.ResetTimer()
	cpu0 := cpuNow()
	for i := 0; i < b.N; i++ {
		r := probe.Run(context.Background(), p)
		if r.Result != verdict.Pass {
			b.Fatalf("run %d: %s/%s: %s", i, r.Result, r.Reason, r.Detail)
		}
		each(r)
	}
	cpu := cpuNow() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(counter.N.Load())/float64(b.N), "requests/run")
	name := "prober-cpu-ms/run"
	if !separate {
		name = "cpu-ms/run(incl-sim)"
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), name)
}
