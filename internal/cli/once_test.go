package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/evidence"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/verdict"
)

// simTarget is a target of the simulator at base, logging canary in by
// password, with the given endpoints (YAML list items).
func simTarget(name, base, canary string, endpoints ...string) string {
	n := strings.TrimPrefix(canary, "canary")
	return fmt.Sprintf(`  - name: %s
    issuer: %s/jans-auth
    admin_client: {client_id: revprober-admin, client_secret: admin-secret}
    login: {client: {client_id: canary-app, client_secret: canary-secret}}
    canary: {username: %s, password: canary-password-%s, attributes: {mail: %s@example.com, user_dn: "inum=CANARY%s,ou=people,o=jans"}}
    endpoints:
`, name, base, canary, n, canary, n) + "      - " + strings.Join(endpoints, "\n      - ") + "\n"
}

// writeSimConfig writes a config of the given targets (with evidence in
// dir/evidence.jsonl) and returns its path.
func writeSimConfig(t *testing.T, dir string, targets ...string) string {
	t.Helper()
	path := filepath.Join(dir, "revprober.yml")
	doc := "global: {interval: 1m, timeout: 20s, deadline: 2s, hold: 100ms, poll_initial: 5ms, poll_max: 100ms}\n" +
		"evidence: {path: evidence.jsonl}\ntargets:\n" + strings.Join(targets, "")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	gtrEndpoint     = "{name: gtr, driver: janssen-global-token-revocation}"
	rfc7009Endpoint = "{name: rfc7009, driver: rfc7009, params: {token: refresh_token}}"
)

func onceResults(t *testing.T, out string) []verdict.Run {
	t.Helper()
	var doc struct {
		Results []verdict.Run `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("once --json: %v\n%s", err, out)
	}
	return doc.Results
}

// evidenceLine is what the tests read of an evidence record.
type evidenceLine struct {
	Seq     uint64      `json:"seq"`
	Replica string      `json:"replica"`
	Run     verdict.Run `json:"run"`
}

// evidenceRecords reads the records of an evidence file.
func evidenceRecords(t *testing.T, path string) []evidenceLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []evidenceLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r evidenceLine
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestOnceWritesEvidence: a smoke check leaves evidence. Each `once`
// appends one record per run to the configured evidence.path, chained
// after the records already there, and `evidence verify` accepts the file.
func TestOnceWritesEvidence(t *testing.T) {
	_, base := simServer(t, nil)
	dir := t.TempDir()
	cfg := writeSimConfig(t, dir, simTarget("sim", base, "canary01", gtrEndpoint, rfc7009Endpoint))
	ev := filepath.Join(dir, "evidence.jsonl")

	var ids []string
	for i := range 2 {
		code, out, errOut := run(t, "once", "-c", cfg, "--json")
		if code != ExitPass {
			t.Fatalf("once #%d: exit %d\n%s", i+1, code, errOut)
		}
		for _, r := range onceResults(t, out) {
			ids = append(ids, r.ID)
		}
		if !strings.Contains(errOut, fmt.Sprintf("evidence: 2 records written to %s, head seq %d", ev, 2*(i+1))) {
			t.Errorf("once #%d does not name the chain's head:\n%s", i+1, errOut)
		}
	}
	recs := evidenceRecords(t, ev)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4 (one per run, two runs of once)", len(recs))
	}
	host, _ := os.Hostname()
	for i, r := range recs {
		if r.Seq != uint64(i+1) || r.Run.ID != ids[i] || r.Replica != host || r.Run.Replica != host {
			t.Errorf("record %d: seq %d run %s replica %q/%q, want seq %d run %s replica %q", i, r.Seq, r.Run.ID, r.Replica, r.Run.Replica, i+1, ids[i], host)
		}
	}
	code, out, errOut := run(t, "evidence", "verify", ev, "--head", "4")
	if code != 0 || !strings.Contains(out, "OK: 4 records, seq 1 to 4") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
	b, _ := os.ReadFile(ev)
	for _, s := range []string{"admin-secret", "canary-secret", "canary-password-01"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("the evidence holds the secret %q", s)
		}
	}
}

// TestOnceEvidenceHeldByADaemon: the evidence file is held by another
// writer (a running daemon). `once` says so before probing anything,
// naming the holder and the two ways out, which both work.
func TestOnceEvidenceHeldByADaemon(t *testing.T) {
	_, base := simServer(t, nil)
	dir := t.TempDir()
	path := writeSimConfig(t, dir, simTarget("sim", base, "canary01", gtrEndpoint))
	cfg, err := config.Load(path, loadOptions())
	if err != nil {
		t.Fatal(err)
	}
	daemon, err := evidence.Open(cfg.Evidence, "daemon")
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()

	code, _, errOut := run(t, "once", "-c", path, "--evidence-wait", "0s")
	if code != ExitConfig {
		t.Fatalf("exit %d, want %d\n%s", code, ExitConfig, errOut)
	}
	for _, want := range []string{"is locked by another writer, this process (pid", "nothing was probed", "--evidence FILE", "--no-evidence"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "[1/1]") {
		t.Errorf("a probe ran although its evidence could not be written:\n%s", errOut)
	}

	own := filepath.Join(dir, "smoke.jsonl")
	if code, _, errOut := run(t, "once", "-c", path, "--evidence", own); code != ExitPass {
		t.Fatalf("--evidence FILE: exit %d\n%s", code, errOut)
	}
	host, _ := os.Hostname()
	recs := evidenceRecords(t, own)
	if len(recs) != 1 || recs[0].Replica != host+"/once" {
		t.Fatalf("--evidence FILE: %d records, replica %q", len(recs), recs[0].Replica)
	}
	if code, out, _ := run(t, "evidence", "verify", own); code != 0 {
		t.Fatalf("verify %s: exit %d\n%s", own, code, out)
	}

	if code, _, errOut := run(t, "once", "-c", path, "--no-evidence"); code != ExitPass || strings.Contains(errOut, "evidence") {
		t.Fatalf("--no-evidence: exit %d\n%s", code, errOut)
	}
	if st, _ := os.Stat(cfg.Evidence.Path); st.Size() != 0 {
		t.Errorf("the held file grew to %d bytes", st.Size())
	}
}

// signalWriter collects output and closes seen once it contains want.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(b)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// TestOnceWaitsForTheEvidenceLock: another `once` holding the file for a
// moment is waited for, and the runs then go on its chain.
func TestOnceWaitsForTheEvidenceLock(t *testing.T) {
	_, base := simServer(t, nil)
	dir := t.TempDir()
	path := writeSimConfig(t, dir, simTarget("sim", base, "canary01", gtrEndpoint))
	cfg, err := config.Load(path, loadOptions())
	if err != nil {
		t.Fatal(err)
	}
	other, err := evidence.Open(cfg.Evidence, "other")
	if err != nil {
		t.Fatal(err)
	}
	stderr := &signalWriter{want: "waiting up to 1m0s for the lock", seen: make(chan struct{})}
	done := make(chan int)
	go func() { done <- Main([]string{"once", "-c", path, "--evidence-wait", "1m"}, new(bytes.Buffer), stderr) }()
	select {
	case <-stderr.seen:
	case code := <-done:
		t.Fatalf("once did not wait for the lock: exit %d\n%s", code, stderr.buf.String())
	}
	if _, err := other.Append(&verdict.Run{ID: "other-run", Target: "sim", Endpoint: "gtr"}); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if code := <-done; code != ExitPass {
		t.Fatalf("exit %d\n%s", code, stderr.buf.String())
	}
	recs := evidenceRecords(t, cfg.Evidence.Path)
	if len(recs) != 2 || recs[0].Run.ID != "other-run" || recs[1].Seq != 2 {
		t.Fatalf("records %+v", recs)
	}
	if code, out, _ := run(t, "evidence", "verify", cfg.Evidence.Path); code != 0 {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
}

// loginGate stands in front of the simulator and holds every password
// login until want logins are in flight at once, or until wait has passed;
// it records the most logins it saw in flight.
type loginGate struct {
	next     http.Handler
	want     int
	wait     time.Duration
	mu       sync.Mutex
	inflight int
	most     int
	all      chan struct{}
	allOnce  sync.Once // a run logs each canary in once per grant: want may be reached again
}

func (g *loginGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/token") || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "password" {
		g.next.ServeHTTP(w, r)
		return
	}
	g.mu.Lock()
	g.inflight++
	g.most = max(g.most, g.inflight)
	if g.inflight == g.want {
		g.allOnce.Do(func() { close(g.all) })
	}
	g.mu.Unlock()
	t := time.NewTimer(g.wait)
	select {
	case <-g.all:
	case <-t.C:
	}
	t.Stop()
	g.next.ServeHTTP(w, r)
	g.mu.Lock()
	g.inflight--
	g.mu.Unlock()
}

// simServer serves a simulator, through wrap when given.
func simServer(t *testing.T, wrap func(http.Handler) http.Handler) (*idpsim.Server, string) {
	t.Helper()
	s := idpsim.New(idpsim.Options{})
	var h http.Handler = s
	if wrap != nil {
		h = wrap(s)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

// TestOnceRunsCanariesConcurrently: probes of different canaries run at
// the same time (their logins meet at the gate), and the report keeps the
// config's order.
func TestOnceRunsCanariesConcurrently(t *testing.T) {
	gate := &loginGate{want: 2, wait: time.Minute, all: make(chan struct{})}
	_, base := simServer(t, func(h http.Handler) http.Handler { gate.next = h; return gate })
	cfg := writeSimConfig(t, t.TempDir(),
		simTarget("first", base, "canary01", gtrEndpoint),
		simTarget("second", base, "canary02", gtrEndpoint))
	code, out, errOut := run(t, "once", "-c", cfg, "--json", "--no-evidence")
	if code != ExitPass {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if gate.most != 2 {
		t.Errorf("at most %d logins in flight: the two canaries were probed one after the other", gate.most)
	}
	rs := onceResults(t, out)
	if len(rs) != 2 || rs[0].Target != "first" || rs[1].Target != "second" {
		t.Errorf("results out of config order: %+v", rs)
	}
}

// TestOnceSerialisesASharedCanary: two probes of one canary never run at
// the same time, however many may run at once: the first login waits at
// the gate for a second one, which must not come.
func TestOnceSerialisesASharedCanary(t *testing.T) {
	gate := &loginGate{want: 2, wait: 300 * time.Millisecond, all: make(chan struct{})}
	_, base := simServer(t, func(h http.Handler) http.Handler { gate.next = h; return gate })
	cfg := writeSimConfig(t, t.TempDir(), simTarget("one", base, "canary01", gtrEndpoint, rfc7009Endpoint))
	code, out, errOut := run(t, "once", "-c", cfg, "--json", "--no-evidence", "--parallel", "0")
	if code != ExitPass {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if gate.most != 1 {
		t.Errorf("%d logins of one canary in flight at once: its runs overlapped", gate.most)
	}
	rs := onceResults(t, out)
	if len(rs) != 2 || rs[0].Endpoint != "gtr" || rs[1].Endpoint != "rfc7009" {
		t.Errorf("results out of config order: %+v", rs)
	}
}
