package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/daemon"
	"github.com/revprober/revprober/internal/demo"
	"github.com/revprober/revprober/internal/evidence"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/testenv"
	"github.com/revprober/revprober/internal/verdict"
)

func writeEvidence(t *testing.T, dir string, n int, signed bool) (string, string) {
	t.Helper()
	cfg := config.Evidence{Path: filepath.Join(dir, "evidence.jsonl"), RotateBytes: 2500}
	pubFile := ""
	if signed {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(priv)
		cfg.SigningKeyFile = filepath.Join(dir, "key.pem")
		os.WriteFile(cfg.SigningKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
		pder, _ := x509.MarshalPKIXPublicKey(pub)
		pubFile = filepath.Join(dir, "pub.pem")
		os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), 0o644)
	}
	l, err := evidence.OpenLogger(cfg, "r1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		p := 0.2
		r := &verdict.Run{ID: fmt.Sprintf("run-%d", i), Target: "idp", Endpoint: "gtr", Result: verdict.Pass, Reason: verdict.ReasonNone,
			Started: t0.Add(time.Duration(i) * time.Minute), PropagationSeconds: &p}
		if i == 3 {
			r.Result, r.Reason, r.PropagationSeconds, r.Detail = verdict.Fail, verdict.AccessTokenStillActive, nil, "access_token of canary c was still alive 30s after the revocation"
		}
		l.Record(r)
	}
	l.Close()
	return cfg.Path, pubFile
}

func TestEvidenceVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	path, pub := writeEvidence(t, dir, 8, true)
	glob := filepath.Join(dir, "evidence.jsonl*")

	code, out, errOut := runCLI(t, "evidence", "verify", glob, "--key", pub)
	if code != 0 || !strings.Contains(out, "OK: 8 records") || !strings.Contains(out, "signatures: all 8 verified") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "evidence", "verify", glob)
	if code != 0 || !strings.Contains(out, "NOT CHECKED") {
		t.Fatalf("without --key: exit %d\n%s", code, out)
	}
	// Edit the active file's first record.
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), `"result":"pass"`, `"result":"fail"`, 1)), 0o640)
	code, out, _ = runCLI(t, "evidence", "verify", glob, "--key", pub)
	if code != ExitFail || !strings.Contains(out, "FAILED: "+path+":1: seq ") || !strings.Contains(out, "edited") {
		t.Fatalf("tampered: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, "evidence", "verify"); code != ExitConfig {
		t.Fatalf("no file: exit %d", code)
	}
}

// TestEvidenceVerifyHead: --head anchors the chain's end: the last
// records cut off pass a plain verify (which says how to anchor) but not
// one given the head.
func TestEvidenceVerifyHead(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeEvidence(t, dir, 8, false)
	glob := filepath.Join(dir, "evidence.jsonl*")
	res, err := evidence.Verify(mustOrder(t, glob), evidence.VerifyOptions{}, nil)
	if err != nil || !res.OK() {
		t.Fatal(err, res.Problem)
	}
	head := fmt.Sprintf("%d:%s", res.LastSeq, res.LastHash[:12])
	code, out, _ := runCLI(t, "evidence", "verify", glob, "--head", head)
	if code != 0 || !strings.Contains(out, "anchored head "+head+" of replica r1: reached (0 record(s) after it)") || strings.Contains(out, "note:") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// Cut the last record of the active file.
	b, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(b), "\n")
	os.WriteFile(path, []byte(strings.Join(lines[:len(lines)-2], "")), 0o640)
	code, out, _ = runCLI(t, "evidence", "verify", glob)
	if code != 0 || !strings.Contains(out, "anchor the head with --head") {
		t.Fatalf("plain verify after the cut: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "evidence", "verify", glob, "--head", head)
	if code != ExitFail || !strings.Contains(out, "FAILED: "+path) || !strings.Contains(out, "cut: the chain of replica r1 ends at seq 7") {
		t.Fatalf("with --head after the cut: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "evidence", "verify", glob, "--head", "seven"); code != ExitConfig || !strings.Contains(errOut, "--head") {
		t.Fatalf("bad --head: exit %d %s", code, errOut)
	}
}

func mustOrder(t *testing.T, args ...string) []string {
	t.Helper()
	files, err := evidence.OrderFiles(args)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestEvidenceReplicasCommand: the files of two replicas verify and
// report together, one chain each.
func TestEvidenceReplicasCommand(t *testing.T) {
	dir := t.TempDir()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var logs []*evidence.Log
	for _, name := range []string{"r1", "r2"} {
		l, err := evidence.OpenLogger(config.Evidence{Path: filepath.Join(dir, name, "evidence.jsonl"), RotateBytes: 2500}, name, lg)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	for i := range 12 {
		p := 0.2
		logs[i%2].Record(&verdict.Run{ID: fmt.Sprintf("run-%d", i), Target: "idp", Endpoint: "gtr", Result: verdict.Pass, Reason: verdict.ReasonNone,
			Started: t0.Add(time.Duration(i) * time.Minute), PropagationSeconds: &p})
	}
	for _, l := range logs {
		l.Close()
	}
	glob := filepath.Join(dir, "*", "evidence.jsonl*")
	code, out, errOut := runCLI(t, "evidence", "verify", glob)
	if code != 0 || !strings.Contains(out, "OK: 12 records in 2 chains (one per replica)") || !strings.Contains(out, "chain r1: 6 records, seq 1 to 6") || !strings.Contains(out, "chain r2: 6 records, seq 1 to 6") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "evidence", "verify", glob, "--head", "6"); code != ExitConfig || !strings.Contains(errOut, "REPLICA=") {
		t.Fatalf("--head without a replica: exit %d %s", code, errOut)
	}
	if code, out, _ := runCLI(t, "evidence", "verify", glob, "--head", "r1=6", "--head", "r2=7"); code != ExitFail || !strings.Contains(out, "cut: the chain of replica r2 ends at seq 6") {
		t.Fatalf("--head per replica: exit %d\n%s", code, out)
	}
	code, out, errOut = runCLI(t, "evidence", "report", glob)
	if code != 0 || !strings.Contains(out, "| idp | gtr | 12 | 100.0 % |") || !strings.Contains(out, "verified: 2 chains (one per replica), 12 records in all") {
		t.Fatalf("report: exit %d %s\n%s", code, errOut, out)
	}
}

// TestEvidenceReportPeriodErrors: an inverted period is bad usage.
func TestEvidenceReportPeriodErrors(t *testing.T) {
	dir := t.TempDir()
	writeEvidence(t, dir, 3, false)
	glob := filepath.Join(dir, "evidence.jsonl*")
	code, out, errOut := runCLI(t, "evidence", "report", glob, "--since", "2026-03-02", "--until", "2026-03-01")
	if code != ExitConfig || out != "" || !strings.Contains(errOut, "is not before --until") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestEvidenceReportCommand(t *testing.T) {
	dir := t.TempDir()
	writeEvidence(t, dir, 10, false)
	glob := filepath.Join(dir, "evidence.jsonl*")
	code, out, errOut := runCLI(t, "evidence", "report", glob, "--slo", "1s", "--since", "2026-03-01T00:02:00Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"| idp | gtr | 8 | 87.5 % | 1 | 0 |", "access_token_still_active", "| Hash chain | verified: 10 records"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	html := filepath.Join(dir, "report.html")
	if code, _, errOut := runCLI(t, "evidence", "report", glob, "--format", "html", "-o", html); code != 0 {
		t.Fatalf("html: exit %d %s", code, errOut)
	}
	if b, _ := os.ReadFile(html); !strings.Contains(string(b), "<table") {
		t.Fatal("no HTML table")
	}
}

// TestDaemonWiring: the daemon built as `run` builds it records runs into
// the evidence log and the status page, and run-now goes through both.
func TestDaemonWiring(t *testing.T) {
	sim, err := demo.StartSim("127.0.0.1:0", idpsim.Faults{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	load := func() (*config.Config, error) {
		return demo.Config(demo.Params{SimURL: sim.URL, Interval: "1h", Timeout: "20s"}, loadOptions())
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Evidence.Path = filepath.Join(t.TempDir(), "evidence.jsonl")
	logs := &testenv.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	x, err := newDaemonExtras(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{Load: load, Logger: log, Recorders: x.recorders(), Loaded: x.loaded})
	if err != nil {
		t.Fatal(err)
	}
	x.attach(d)
	defer d.Sched.Shutdown()
	if !strings.Contains(logs.String(), `msg="evidence log open"`) || !strings.Contains(logs.String(), "head_seq=0") {
		t.Fatalf("the head is not logged at start:\n%s", logs.String())
	}

	rec := httptest.NewRecorder()
	d.Mux.ServeHTTP(rec, httptest.NewRequest("POST", "/probes/janssen-sim/global-token-revocation/run", nil))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("run now: %d %s", rec.Code, rec.Body)
	}
	loc := rec.Header().Get("Location")
	rec = httptest.NewRecorder()
	d.Mux.ServeHTTP(rec, httptest.NewRequest("GET", loc, nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "PASS") {
		t.Fatalf("trace: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	d.Mux.ServeHTTP(rec, httptest.NewRequest("GET", "/config", nil))
	if !strings.Contains(rec.Body.String(), "&lt;secret&gt;") || strings.Contains(rec.Body.String(), "admin-secret") {
		t.Fatal("/config does not redact")
	}
	if v, n := sample(t, d, "revprober_evidence_last_seq"); n != 1 || v != 1 {
		t.Fatalf("revprober_evidence_last_seq: %d series, value %v", n, v)
	}
	x.close()
	var written evidence.Record
	b, err := os.ReadFile(cfg.Evidence.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &written); err != nil {
		t.Fatal(err)
	}
	// The envelope carries the probe's interval and global.slo.
	if written.Interval != time.Hour || written.SLO != cfg.Global.SLO.D() || written.SLO == 0 {
		t.Fatalf("envelope: interval %s, slo %s (config %s)", written.Interval, written.SLO, cfg.Global.SLO.D())
	}
	res, err := evidence.Verify([]string{cfg.Evidence.Path}, evidence.VerifyOptions{}, nil)
	if err != nil || !res.OK() || res.Records != 1 {
		t.Fatalf("evidence: %+v %v", res, err)
	}
	if !strings.Contains(logs.String(), `msg="evidence log closed"`) || !strings.Contains(logs.String(), "head_seq=1 head_hash="+res.LastHash) {
		t.Fatalf("the head is not logged at shutdown:\n%s", logs.String())
	}
}

// sample is the value of a metric without labels and its series count.
func sample(t *testing.T, d *daemon.Daemon, name string) (float64, int) {
	t.Helper()
	mfs, err := d.Gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue(), len(mf.GetMetric())
		}
	}
	return 0, 0
}
