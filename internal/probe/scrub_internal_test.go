package probe

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

// TestFinishScrubsEverySecret: finish scrubs the configured secrets (and
// their Basic forms), the driver's secret params, the canaries' tokens and
// what the transport registered, longest first, from every text field.
func TestFinishScrubsEverySecret(t *testing.T) {
	const (
		tok      = "AbCdEfGhpass1234IjKlMnOpQrStUvWxYz0123456789" // holds the password below
		password = "pass1234"
		adminSec = "s3cr+t/w=ch&rs"
		apiKey   = "webhook-api-key-0123"
		sent     = "admin-bearer-issued-in-the-run"
	)
	p := &Probe{
		Admin:        &oauth.ClientAuth{ID: "revprober-admin", Secret: secret.New(adminSec)},
		Canaries:     []Canary{{Name: "c", Password: secret.New(password)}},
		ParamSecrets: []secret.Secret{secret.New(apiKey)},
	}
	r := &runner{p: p, run: &verdict.Run{Started: time.Now()}, trace: &httpx.Trace{}, now: time.Now}
	collectSecrets(p, r.trace.Secrets())
	r.addSecrets(&oauth.Tokens{AccessToken: secret.New(tok)})
	ctx := httpx.WithTrace(t.Context(), r.trace)
	httpx.Remember(ctx, sent)
	// A request whose path carries a secret is traced with it.
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/keys/"+apiKey, nil)
	if _, err := httpx.Do(httpx.Client(http.DefaultTransport, nil), req); err != nil {
		t.Fatal(err)
	}

	basic := base64.StdEncoding.EncodeToString([]byte("revprober-admin:" + url.QueryEscape(adminSec)))
	text := "token " + tok + " pw " + password + " basic " + basic + " form " + url.QueryEscape(adminSec) +
		" key " + apiKey + " bearer " + sent
	r.run.Detail, r.run.Cleanup, r.run.Notes = text, text, []string{text}
	r.run.Steps = []verdict.Step{{Name: "revoke", Error: text}}
	r.finish()

	if len(r.run.Requests) != 1 || r.run.Requests[0].URL != srv.URL+"/keys/<secret>" {
		t.Errorf("request trace: %+v", r.run.Requests)
	}
	for field, got := range map[string]string{"detail": r.run.Detail, "cleanup": r.run.Cleanup, "note": r.run.Notes[0], "step": r.run.Steps[0].Error} {
		want := "token <secret> pw <secret> basic <secret> form <secret> key <secret> bearer <secret>"
		if got != want {
			t.Errorf("%s: got %q\nwant %q", field, got, want)
		}
	}
}

// TestInsecureTLSNote: a target with verification off says so on every record.
func TestInsecureTLSNote(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		r := &runner{p: &Probe{InsecureTLS: insecure}, run: &verdict.Run{Started: time.Now()}, trace: &httpx.Trace{}, now: time.Now}
		r.finish()
		if got := slices.Contains(r.run.Notes, InsecureTLSNote); got != insecure {
			t.Errorf("insecure=%v: notes %q", insecure, r.run.Notes)
		}
		if insecure && !strings.Contains(InsecureTLSNote, "insecure_skip_verify") {
			t.Error("the note must name the setting")
		}
	}
}
