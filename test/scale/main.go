// Command scale is `make bench-scale`: N probes on N canaries (interval
// 1 min) in a `revprober run` against `revprober idpsim --users N`, each in
// its own process, for M minutes. Every minute it prints the runs completed
// against those expected, skips by reason, results, the schedule lag
// (p50/p99 from revprober_schedule_lag_seconds), the prober's RSS and CPU,
// the simulator's CPU, and the time (plain and gzip) and size of a /metrics
// scrape. It ends with a summary line and exits 1 when a target of the
// scale issue is missed:
//
//   - every tick run: no skip, and from minute 2 on at least 98 % of N runs
//     completed each minute (a minute's count moves by the runs that
//     straddle its edges; minute 1 is the warm-up, its last ticks end in
//     minute 2);
//   - all pass: no fail, no error;
//   - schedule lag p99 ≤ 100 ms in every minute;
//   - RSS ≤ 256 MB and flat (growth ≤ 10 %) over the last 5 minutes;
//   - a scrape ≤ 1 s, plain and gzip, and ≤ 15 MB uncompressed.
//
// Linux only (/proc). Not part of `make test`: it takes M minutes and the
// whole machine.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Targets (issue 12).
const (
	maxLagP99     = 100 * time.Millisecond
	maxRSS        = 256 << 20
	maxRSSGrowth  = 0.10
	maxScrape     = time.Second
	maxScrapeSize = 15 << 20
	minRunShare   = 0.98
	rssWindow     = 5 // minutes
	lagMetric     = "revprober_schedule_lag_seconds"
	clockTicks    = 100 // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s on Linux
)

func main() {
	n := flag.Int("n", 10000, "probes, each on a canary of its own")
	minutes := flag.Int("minutes", 10, "how long to run, in minutes (the interval is 1 min)")
	bin := flag.String("bin", "bin/revprober", "the revprober binary (make build)")
	logLevel := flag.String("log-level", "info", "log level of `revprober run` (its log goes to the temp dir)")
	keep := flag.Bool("keep", false, "keep the temp dir (config, logs) instead of removing it")
	pprof := flag.Bool("pprof", false, "take a heap profile of the prober at every minute into the temp dir "+
		"(heap-NN.pb.gz; -bin built with -tags pprof: make bench-scale PPROF=1, which also sets -keep)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, *n, *minutes, *bin, *logLevel, *keep, *pprof)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(ctx context.Context, n, minutes int, bin, logLevel string, keep, pprof bool) (int, error) {
	if n < 1 || minutes < 1 {
		return 0, errors.New("-n and -minutes must be at least 1")
	}
	dir, err := os.MkdirTemp("", "bench-scale-")
	if err != nil {
		return 0, err
	}
	if keep {
		fmt.Println("temp dir:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	simAddr, proberAddr := freeAddr(), freeAddr()
	if simAddr == "" || proberAddr == "" {
		return 0, errors.New("no free port on 127.0.0.1")
	}

	sim, err := start(bin, filepath.Join(dir, "idpsim.log"), nil, "idpsim", "--listen", simAddr, "--users", strconv.Itoa(n))
	if err != nil {
		return 0, err
	}
	defer stopProcess(sim)
	if err := await(ctx, "http://"+simAddr+"/jans-auth/.well-known/openid-configuration", time.Minute); err != nil {
		return 0, fmt.Errorf("the simulator did not answer (log %s): %w", filepath.Join(dir, "idpsim.log"), err)
	}
	cfgPath := filepath.Join(dir, "scale.yml")
	if err := os.WriteFile(cfgPath, config(n, "http://"+simAddr, proberAddr), 0o600); err != nil {
		return 0, err
	}
	var env []string
	pprofAddr := ""
	if pprof {
		if pprofAddr = freeAddr(); pprofAddr == "" {
			return 0, errors.New("no free port on 127.0.0.1")
		}
		env = append(env, "REVPROBER_PPROF_LISTEN="+pprofAddr)
	}
	prober, err := start(bin, filepath.Join(dir, "run.log"), env, "run", "-c", cfgPath, "--log-level", logLevel)
	if err != nil {
		return 0, err
	}
	defer stopProcess(prober)
	metricsURL := "http://" + proberAddr + "/metrics"
	if err := await(ctx, "http://"+proberAddr+"/-/ready", 5*time.Minute); err != nil {
		return 0, fmt.Errorf("revprober run did not get ready (log %s): %w", filepath.Join(dir, "run.log"), err)
	}
	fmt.Printf("bench-scale: %d probes on %d canaries, interval 1m, %d minutes; revprober pid %d, idpsim pid %d\n",
		n, n, minutes, prober.Process.Pid, sim.Process.Pid)
	fmt.Println("min  runs/expected  skips            pass/fail/error  lag p50/p99      rss MB  cpu s  sim cpu s  sim ms/run  scrape s plain/gzip   MB / gzip MB")

	b := &bench{n: n}
	// Minutes count from the start of each sample (a scrape reads the
	// counters when it starts), not from its end: a slow scrape must not
	// stretch the next minute.
	next := time.Now()
	prev, err := b.sample(metricsURL, prober.Process.Pid, sim.Process.Pid)
	if err != nil {
		return 0, err
	}
	for m := 1; m <= minutes; m++ {
		next = next.Add(time.Minute)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Until(next)):
		}
		cur, err := b.sample(metricsURL, prober.Process.Pid, sim.Process.Pid)
		if err != nil {
			return 0, fmt.Errorf("minute %d: %w", m, err)
		}
		b.minute(m, prev, cur)
		prev = cur
		if pprof {
			// After the sample, so the profile's own cost stays out of the
			// minute's scrape time.
			if err := heapProfile(pprofAddr, filepath.Join(dir, fmt.Sprintf("heap-%02d.pb.gz", m))); err != nil {
				return 0, fmt.Errorf("minute %d: %w", m, err)
			}
		}
	}
	return b.summary(minutes), nil
}

// config is N targets, each a canary of its own probed through Janssen
// global token revocation, as `idpsim --print-config` writes them. The
// daemon spreads the probes' ticks over the interval by itself (each
// probe's tick is k·interval plus an offset hashed from its name).
func config(n int, simURL, listen string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "global:\n  listen: %q\n  interval: 1m\n  timeout: 30s\n  deadline: 10s\n  hold: 2s\ntargets:\n", listen)
	width := max(5, len(strconv.Itoa(n)))
	for i := 1; i <= n; i++ {
		num := fmt.Sprintf("%0*d", width, i)
		fmt.Fprintf(&b, `  - name: scale-%[1]s
    issuer: %[2]s/jans-auth
    admin_client: {client_id: revprober-admin, client_secret: admin-secret}
    login:
      method: authorization_code
      redirect_uri: http://127.0.0.1/callback
      client: {client_id: canary-app, client_secret: canary-secret}
    canary:
      username: canary%[1]s
      password: canary-password-%[1]s
      attributes: {uid: canary%[1]s}
    checks: {prompt_none: true, session_status: true}
    endpoints:
      - name: global-token-revocation
        driver: janssen-global-token-revocation
`, num, simURL)
	}
	return b.Bytes()
}

// sample is what one scrape and /proc say at one moment.
type sample struct {
	at          time.Time
	runs        map[string]float64 // result → runs_total
	skips       map[string]float64 // reason → runs_skipped_total
	lag         map[float64]float64
	lagCount    float64
	hasLag      bool
	rss         int64
	cpu, simCPU float64 // seconds
	// scrape is the slower of a plain and a gzip scrape (Prometheus asks
	// for gzip; a scraper that does not gets plain text): the target is
	// for both.
	scrape, plain, gz time.Duration
	size, gzSize      int
}

type bench struct {
	n                       int
	missed                  []string
	lagP99Max               float64
	scrapeMax               time.Duration
	sizeMax                 int
	rss                     []int64
	runs, expected, bad     float64
	skips, fails, errs      float64
	lagMeasured, lagMissing bool
}

func (b *bench) sample(url string, pid, simPid int) (sample, error) {
	s := sample{at: time.Now(), runs: map[string]float64{}, skips: map[string]float64{}, lag: map[float64]float64{}}
	body, took, err := scrape(url, false)
	if err != nil {
		return s, err
	}
	s.plain, s.size = took, len(body)
	gz, took, err := scrape(url, true)
	if err != nil {
		return s, err
	}
	s.gz, s.gzSize = took, len(gz)
	s.scrape = max(s.plain, s.gz)
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, labels, v, ok := parseLine(sc.Text())
		if !ok {
			continue
		}
		switch name {
		case "revprober_runs_total":
			s.runs[labels["result"]] += v
		case "revprober_runs_skipped_total":
			s.skips[labels["reason"]] += v
		case lagMetric + "_bucket":
			le, err := strconv.ParseFloat(labels["le"], 64)
			if err == nil {
				s.lag[le] += v
				s.hasLag = true
			}
		case lagMetric + "_count":
			s.lagCount += v
		}
	}
	if s.rss, s.cpu, err = proc(pid); err != nil {
		return s, err
	}
	if _, s.simCPU, err = proc(simPid); err != nil {
		return s, err
	}
	return s, nil
}

// minute prints one line and checks the minute's targets.
func (b *bench) minute(m int, prev, cur sample) {
	runs := total(cur.runs) - total(prev.runs)
	pass, fail, errs := cur.runs["pass"]-prev.runs["pass"], cur.runs["fail"]-prev.runs["fail"], cur.runs["error"]-prev.runs["error"]
	var skipParts []string
	skips := 0.0
	for _, reason := range keys(cur.skips) {
		if d := cur.skips[reason] - prev.skips[reason]; d > 0 {
			skipParts = append(skipParts, fmt.Sprintf("%s=%.0f", reason, d))
			skips += d
		}
	}
	skipText := "0"
	if len(skipParts) > 0 {
		skipText = strings.Join(skipParts, ",")
	}
	lagText := "n/a"
	if cur.hasLag {
		b.lagMeasured = true
		p50, p99 := quantile(prev, cur, 0.5), quantile(prev, cur, 0.99)
		lagText = fmt.Sprintf("%s/%s", secs(p50), secs(p99))
		if p99 > b.lagP99Max || math.IsInf(p99, 1) {
			b.lagP99Max = p99
		}
		if p99 > maxLagP99.Seconds() {
			b.missed = append(b.missed, fmt.Sprintf("minute %d: lag p99 %s > %s", m, secs(p99), maxLagP99))
		}
	} else {
		b.lagMissing = true
	}
	cpu, simCPU := cur.cpu-prev.cpu, cur.simCPU-prev.simCPU
	perRun := "n/a"
	if runs > 0 {
		perRun = fmt.Sprintf("%.2f", simCPU*1000/runs)
	}
	fmt.Printf("%3d  %6.0f/%-6d  %-15s  %.0f/%.0f/%.0f%s  %-15s  %6.1f  %5.1f  %9.1f  %10s  %6.3f/%-6.3f  %.1f / %.1f\n",
		m, runs, b.n, skipText, pass, fail, errs, strings.Repeat(" ", max(0, 15-len(fmt.Sprintf("%.0f/%.0f/%.0f", pass, fail, errs)))),
		lagText, float64(cur.rss)/(1<<20), cpu, simCPU, perRun, cur.plain.Seconds(), cur.gz.Seconds(), float64(cur.size)/(1<<20), float64(cur.gzSize)/(1<<20))

	b.runs += runs
	b.expected += float64(b.n)
	b.skips += skips
	b.fails += fail
	b.errs += errs
	b.rss = append(b.rss, cur.rss)
	b.scrapeMax = max(b.scrapeMax, cur.scrape)
	b.sizeMax = max(b.sizeMax, cur.size)
	if m > 1 && runs < minRunShare*float64(b.n) {
		b.missed = append(b.missed, fmt.Sprintf("minute %d: %.0f runs completed, want about %d (≥ %.0f %%)", m, runs, b.n, minRunShare*100))
	}
	if skips > 0 {
		b.missed = append(b.missed, fmt.Sprintf("minute %d: %s ticks skipped", m, skipText))
	}
	if fail+errs > 0 {
		b.missed = append(b.missed, fmt.Sprintf("minute %d: %.0f fail, %.0f error", m, fail, errs))
	}
	if cur.scrape > maxScrape {
		b.missed = append(b.missed, fmt.Sprintf("minute %d: scrape took %s > %s", m, cur.scrape.Round(time.Millisecond), maxScrape))
	}
	if cur.size > maxScrapeSize {
		b.missed = append(b.missed, fmt.Sprintf("minute %d: scrape %.1f MB > %d MB", m, float64(cur.size)/(1<<20), maxScrapeSize>>20))
	}
}

// summary checks RSS over the last minutes, prints the summary line and
// returns the exit code.
func (b *bench) summary(minutes int) int {
	last := b.rss[max(0, len(b.rss)-rssWindow):]
	lo, hi := last[0], last[0]
	for _, r := range last {
		lo, hi = min(lo, r), max(hi, r)
	}
	growth := float64(last[len(last)-1]-last[0]) / float64(last[0])
	if hi > maxRSS {
		b.missed = append(b.missed, fmt.Sprintf("RSS %.0f MB > %d MB over the last %d minutes", float64(hi)/(1<<20), maxRSS>>20, len(last)))
	}
	if growth > maxRSSGrowth {
		b.missed = append(b.missed, fmt.Sprintf("RSS grew %.0f %% over the last %d minutes (> %.0f %%)", growth*100, len(last), maxRSSGrowth*100))
	}
	if len(b.rss) < rssWindow {
		b.missed = append(b.missed, fmt.Sprintf("RSS flatness needs %d minutes, the run had %d", rssWindow, len(b.rss)))
	}
	if !b.lagMeasured || b.lagMissing {
		b.missed = append(b.missed, "schedule lag not measured: the prober exports no "+lagMetric)
	}
	for _, m := range b.missed {
		fmt.Println("missed:", m)
	}
	verdict := "PASS"
	if len(b.missed) > 0 {
		verdict = "FAIL"
	}
	lag := "n/a"
	if b.lagMeasured {
		lag = secs(b.lagP99Max)
	}
	fmt.Printf("bench-scale %s: N=%d minutes=%d runs=%.0f/%.0f skips=%.0f fail=%.0f error=%.0f lag_p99_max=%s rss_last%d=%.0f-%.0fMB (growth %+.1f%%) scrape_max=%s size_max=%.1fMB\n",
		verdict, b.n, minutes, b.runs, b.expected, b.skips, b.fails, b.errs, lag, len(last),
		float64(lo)/(1<<20), float64(hi)/(1<<20), growth*100, b.scrapeMax.Round(time.Millisecond), float64(b.sizeMax)/(1<<20))
	if len(b.missed) > 0 {
		return 1
	}
	return 0
}

// quantile is the upper bound of the bucket holding the q-quantile of the
// observations between two samples (+Inf past the last finite bucket).
func quantile(prev, cur sample, q float64) float64 {
	les := make([]float64, 0, len(cur.lag))
	for le := range cur.lag {
		les = append(les, le)
	}
	sort.Float64s(les)
	totalObs := cur.lag[math.Inf(1)] - prev.lag[math.Inf(1)]
	if totalObs <= 0 {
		return 0
	}
	for _, le := range les {
		if cur.lag[le]-prev.lag[le] >= q*totalObs {
			return le
		}
	}
	return math.Inf(1)
}

func secs(s float64) string {
	if math.IsInf(s, 1) {
		return "+Inf"
	}
	return (time.Duration(s * float64(time.Second))).Round(100 * time.Microsecond).String()
}

// scrape GETs url; with gzip it asks for gzip and returns the bytes as sent.
func scrape(url string, gzip bool) ([]byte, time.Duration, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, 0, err
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	start := time.Now()
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil || resp.StatusCode != 200 {
		return nil, 0, fmt.Errorf("scrape %s: status %d, %v", url, resp.StatusCode, err)
	}
	return body, took, nil
}

// parseLine reads one sample line of the Prometheus text format.
func parseLine(line string) (name string, labels map[string]string, v float64, ok bool) {
	if line == "" || line[0] == '#' {
		return "", nil, 0, false
	}
	labels = map[string]string{}
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", nil, 0, false
		}
		name, rest = line[:i], line[j+1:]
		for _, kv := range splitLabels(line[i+1 : j]) {
			k, val, _ := strings.Cut(kv, "=")
			labels[k] = strings.Trim(val, `"`)
		}
	} else {
		name, rest, _ = strings.Cut(line, " ")
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return name, labels, v, err == nil
}

// splitLabels splits `a="x",b="y,z"` on the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// proc reads a process's resident set (bytes) and CPU time (user+system, s).
func proc(pid int) (rss int64, cpu float64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The fields after the command name (which may hold spaces) in ")".
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	return rss, (utime + stime) / clockTicks, nil
}

func total(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}

func keys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer ln.Close()
	return ln.Addr().String()
}

// heapProfile saves the prober's heap profile (in use and allocated since
// the start, as of the last GC) to path.
func heapProfile(addr, path string) error {
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap")
	if err != nil {
		return fmt.Errorf("heap profile: %w (was -bin built with -tags pprof?)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// start runs the binary with args and env added to ours, its output to logPath.
func start(bin, logPath string, env []string, args ...string) (*exec.Cmd, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("%s %s: %w (make build)", bin, args[0], err)
	}
	return cmd, nil
}

func stopProcess(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// await polls url until it answers 200, ctx ends or within passes.
func await(ctx context.Context, url string, within time.Duration) error {
	bound := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(bound) {
			return fmt.Errorf("%s: no 200 within %s (%v)", url, within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
