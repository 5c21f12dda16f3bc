package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/testenv"
	"github.com/revprober/revprober/internal/verdict"
)

// signalsConfig is one probe of the stalling IdP, on a short schedule.
func signalsConfig(idp, listen, evidence, deadline string) []byte {
	return fmt.Appendf(nil, `global:
  listen: %q
  interval: 4s
  timeout: 3s
  deadline: %s
  hold: 250ms
  request_timeout: 2s
evidence:
  path: %q
targets:
  - name: janssen-sim
    issuer: %s/jans-auth
    admin_client: {client_id: revprober-admin, client_secret: admin-secret}
    login:
      method: password
      client: {client_id: canary-app, client_secret: canary-secret}
    canary:
      username: canary01
      password: canary-password-01
      attributes: {uid: canary01}
    endpoints:
      - name: global-token-revocation
        driver: janssen-global-token-revocation
        params: {format: uid}
`, listen, deadline, evidence, idp)
}

// TestDaemonSignalsDuringRuns: the real `revprober run`, in its own
// process. SIGHUP while a run verifies does not tear it: the run ends with
// its verdict (a fail: the revocation is swallowed) under the config it
// started with, and the reloaded config applies to the next run. SIGTERM
// while that next run verifies cuts it: the process exits 0 within the
// shutdown grace, the clean-up revoked what the run issued, and the
// evidence holds both records whole (the second one interrupted), its
// chain verifying.
func TestDaemonSignalsDuringRuns(t *testing.T) {
	idp := newStallingIdP(t)
	dir := t.TempDir()
	path, evidencePath := filepath.Join(dir, "revprober.yml"), filepath.Join(dir, "evidence.jsonl")
	listen := testenv.FreeAddr(t)
	write := func(deadline string) string {
		t.Helper()
		if err := os.WriteFile(path, signalsConfig(idp.URL, listen, evidencePath, deadline), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Digest
	}
	before := write("1500ms")
	logs := &testenv.SyncBuffer{}
	cmd := exec.Command(os.Args[0], "run", "-c", path)
	cmd.Env = append(os.Environ(), "REVPROBER_CLI_CHILD=1")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	await := func(what string, c <-chan struct{}) {
		t.Helper()
		select {
		case <-c:
		case err := <-exited:
			t.Fatalf("the daemon exited (%v) before %s:\n%s", err, what, logs)
		case <-time.After(30 * time.Second): // ticks are 4 s apart
			t.Fatalf("timed out waiting for %s:\n%s", what, logs)
		}
	}

	await("a scheduled run to verify", idp.Verifying)
	after := write("1600ms")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	await("the next run, under the reloaded config, to verify", idp.Verifying)
	stopped := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the clean-up
		if err != nil {
			t.Fatalf("the daemon exited with %v after SIGTERM:\n%s", err, logs)
		}
	case <-time.After(2 * schedule.ShutdownGrace):
		t.Fatalf("the daemon had not exited %s after SIGTERM (grace %s):\n%s", 2*schedule.ShutdownGrace, schedule.ShutdownGrace, logs)
	}
	if took := time.Since(stopped); took > schedule.ShutdownGrace {
		t.Errorf("the daemon took %s to exit after SIGTERM, more than its grace %s", took, schedule.ShutdownGrace)
	}

	runs := probeRecords(t, evidencePath)
	if len(runs) != 2 {
		t.Fatalf("%d evidence records, want 2 (the run the reload met, the run SIGTERM cut):\n%s", len(runs), logs)
	}
	first, second := runs[0], runs[1]
	if first.Result != verdict.Fail || first.Reason != verdict.AccessTokenStillActive {
		t.Errorf("the run SIGHUP met ended %s/%s (%s), want its own verdict, fail/access_token_still_active", first.Result, first.Reason, first.Detail)
	}
	if first.ConfigDigest != before {
		t.Errorf("the run SIGHUP met carries config %s, want the one it started with (%s)", first.ConfigDigest, before)
	}
	if second.ConfigDigest != after {
		t.Errorf("the run after the reload carries config %s, want the reloaded one (%s)", second.ConfigDigest, after)
	}
	// The reload was applied while the first run was under way.
	reloaded, ran := strings.Index(logs.String(), "digest="+after), strings.Index(logs.String(), `msg="probe run"`)
	if reloaded < 0 || ran < 0 || reloaded > ran {
		t.Errorf("the reload (at %d) was not logged before the first run's end (at %d):\n%s", reloaded, ran, logs)
	}
	assertInterrupted(t, second)
	idp.assertCleanedUp(t)
}
