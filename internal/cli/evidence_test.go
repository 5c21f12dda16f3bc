package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
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
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	x, err := newDaemonExtras(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{Load: load, Logger: log, Recorders: x.recorders()})
	if err != nil {
		t.Fatal(err)
	}
	x.attach(d)
	defer d.Sched.Shutdown()

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
	x.close()
	res, err := evidence.Verify([]string{cfg.Evidence.Path}, evidence.VerifyOptions{}, nil)
	if err != nil || !res.OK() || res.Records != 1 {
		t.Fatalf("evidence: %+v %v", res, err)
	}
}
