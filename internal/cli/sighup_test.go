package cli

import (
	"github.com/revprober/revprober/internal/testenv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/demo"
)

// TestMain lets a test run the real command line in a child process: the
// test binary re-executes itself with REVPROBER_CLI_CHILD=1.
func TestMain(m *testing.M) {
	if os.Getenv("REVPROBER_CLI_CHILD") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestSIGHUPReload: `revprober run` reloads on SIGHUP; a broken file keeps
// the running config and sets revprober_config_last_reload_successful 0;
// fixing it sets 1 again.
func TestSIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "revprober.yml")
	listen := testenv.FreeAddr(t)
	good := demo.ConfigYAML(demo.Params{SimURL: "http://127.0.0.1:1", Listen: listen, Interval: "1h", Timeout: "30s", Deadline: "5s"})
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "run", "-c", path)
	cmd.Env = append(os.Environ(), "REVPROBER_CLI_CHILD=1")
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	metric := func() string {
		resp, err := http.Get("http://" + listen + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "revprober_config_last_reload_successful ") {
				return strings.TrimPrefix(line, "revprober_config_last_reload_successful ")
			}
		}
		return ""
	}
	await := func(want, what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for metric() != want {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (reload gauge %q)", what, metric())
			}
			time.Sleep(20 * time.Millisecond) // polling the daemon, bounded
		}
	}
	await("1", "the daemon to serve")

	if err := os.WriteFile(path, []byte("global: {interval: nonsense}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGHUP)
	await("0", "the failed reload to show")
	if resp, err := http.Get("http://" + listen + "/-/ready"); err != nil || resp.StatusCode != 200 {
		t.Fatal("a failed reload made the daemon unready")
	}

	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGHUP)
	await("1", "the good reload to show")
}
