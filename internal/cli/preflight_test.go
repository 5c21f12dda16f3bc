package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// pathLog records the path of every request that reaches the simulator.
type pathLog struct {
	next  http.Handler
	mu    sync.Mutex
	paths []string
}

func (l *pathLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.paths = append(l.paths, r.URL.Path)
	l.mu.Unlock()
	l.next.ServeHTTP(w, r)
}

// TestPreflightCommand: preflight reports per probe whether it is ready,
// what a run would verify and what not; it exits 2 when a probe is not
// (a wrong client secret here), 0 when all are, 3 on bad usage; and it
// never calls a revocation endpoint.
func TestPreflightCommand(t *testing.T) {
	paths := &pathLog{}
	_, base := simServer(t, func(h http.Handler) http.Handler { paths.next = h; return paths })
	wrong := strings.Replace(simTarget("wrong", base, "canary02", gtrEndpoint), "client_secret: canary-secret", "client_secret: not-the-app-secret", 1)
	cfg := writeSimConfig(t, t.TempDir(), simTarget("good", base, "canary01", gtrEndpoint, rfc7009Endpoint), wrong)

	code, out, errOut := run(t, "preflight", "-c", cfg)
	if code != ExitError {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitError, out, errOut)
	}
	for _, want := range []string{
		"good/gtr (janssen-global-token-revocation)  READY",
		"would verify: access_token dies (introspection, userinfo)",
		"would verify: refresh_token dies (refresh)",
		"unverified: session: a password login creates no OP session to check",
		"wrong/gtr (janssen-global-token-revocation)  NOT READY  reason=login_failed",
		`error "invalid_client"`,
		"2 ready, 1 not ready (nothing was revoked)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"not-the-app-secret", "canary-password-02", "admin-secret"} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("the secret %q reached the output", secret)
		}
	}

	code, out, _ = run(t, "preflight", "-c", cfg, "--target", "good", "--json")
	if code != ExitPass {
		t.Fatalf("--target good: exit %d\n%s", code, out)
	}
	var doc struct {
		Results []probe.PreflightReport `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 2 {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	for _, r := range doc.Results {
		if !r.Ready || len(r.Verified) == 0 || r.Cleanup == "" {
			t.Errorf("%s/%s: %+v", r.Target, r.Endpoint, r)
		}
		if r.Endpoint == "rfc7009" && (len(r.Unverified) == 0 || r.Unverified[0].Artifact != verdict.Resource) {
			t.Errorf("rfc7009: unverified %+v", r.Unverified)
		}
	}

	for _, p := range paths.paths {
		if strings.Contains(p, "global-token-revocation") {
			t.Fatalf("preflight called a revocation endpoint: %s", p)
		}
	}
	if code, _, _ := run(t, "preflight", "-c", cfg, "--target", "nope"); code != ExitConfig {
		t.Errorf("no matching probe: exit %d, want %d", code, ExitConfig)
	}
}
