package cli

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/idpsim"
)

// TestIdpsimPrintConfig: `idpsim --users 3 --print-config` prints a
// config that works against the simulator `idpsim --users 3` serves: every
// user a canary (with its password and attributes: canary01, canary02 and
// canary00001 … canary00003), the clients it registers, the scheme of the
// generated canaries' passwords, and every probe passes.
func TestIdpsimPrintConfig(t *testing.T) {
	sim := idpsim.New(idpsim.Options{})
	ts := httptest.NewServer(sim)
	defer ts.Close()
	listen := strings.TrimPrefix(ts.URL, "http://")

	code, out, errOut := run(t, "idpsim", "--listen", listen, "--users", "3", "--print-config")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	path := filepath.Join(t.TempDir(), "sim.yml")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range sim.Clients() {
		if !strings.Contains(out, "#   "+c.ID+" / "+c.Secret+": ") {
			t.Errorf("the header does not list client %s", c.ID)
		}
	}
	cfg, err := config.Load(path, loadOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	users := idpsim.New(idpsim.Options{Canaries: 3}).Users()
	if !strings.Contains(out, "#   and 3 generated canaries (idpsim --users), canary00001 … canary00003:\n#   canaryN / canary-password-N,") {
		t.Errorf("the header does not give the generated canaries' scheme:\n%s", out)
	}
	if len(cfg.Targets) != len(users) {
		t.Fatalf("%d targets for %d users", len(cfg.Targets), len(users))
	}
	for i, u := range users {
		c := cfg.Targets[i].Canary
		if c.Username != u.UID || c.Password.Reveal() != u.Password || c.Attributes["user_dn"] != u.DN() || c.Attributes["mail"] != u.Mail {
			t.Errorf("target %d: canary %+v, attributes %v; want user %+v", i, c, c.Attributes, u)
		}
	}
	if code, out, errOut := run(t, "once", "-c", path); code != ExitPass {
		t.Fatalf("once with the printed config: exit %d\n%s%s", code, out, errOut)
	}

	if code, _, _ := run(t, "idpsim", "--listen", "127.0.0.1:0", "--print-config"); code != ExitConfig {
		t.Errorf("--listen with port 0: exit %d, want %d (the config needs the port)", code, ExitConfig)
	}
}
