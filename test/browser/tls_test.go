//go:build browser

package browser

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/revprober/revprober/internal/testenv"
)

// TestStatusPageOverTLSWithBasicAuth runs the demo with a web config (TLS
// from a test CA, a bcrypt basic-auth user) and drives it in Chromium,
// which trusts the test server's key (--ignore-certificate-errors-spki-list,
// honoured with a user data dir) and answers the basic-auth challenge
// through the DevTools Fetch domain, as a person types the password into
// the browser's dialog. Without credentials every page is refused; with
// them the pages, run now (a same-origin https form post), /config and
// /metrics work.
func TestStatusPageOverTLSWithBasicAuth(t *testing.T) {
	dir := t.TempDir()
	tf := testenv.NewTLSFiles(t, dir)
	const user, pass = "sre", "correct horse battery"
	web := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(web, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %q\n",
		tf.ServerCert, tf.ServerKey, user, testenv.BcryptHash(t, pass))), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := startDemoWith(t, demoOptions{args: []string{"--web.config.file", web}, scheme: "https", user: user, pass: pass,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tf.Pool}}}})
	ctx := browser(t, chromedp.Flag("ignore-certificate-errors-spki-list", tf.ServerSPKI))
	// The browser's basic-auth dialog, through the DevTools Fetch domain:
	// Cancel (a person without the password) or the credentials.
	var (
		mu         sync.Mutex
		answer     = fetch.AuthChallengeResponseResponseCancelAuth
		challenges int
	)
	chromedp.ListenTarget(ctx, func(ev any) {
		c := chromedp.FromContext(ctx)
		exec := cdp.WithExecutor(ctx, c.Target)
		switch e := ev.(type) {
		case *fetch.EventAuthRequired:
			mu.Lock()
			challenges++
			resp := &fetch.AuthChallengeResponse{Response: answer}
			if answer == fetch.AuthChallengeResponseResponseProvideCredentials {
				resp.Username, resp.Password = user, pass
			}
			mu.Unlock()
			go func() { _ = fetch.ContinueWithAuth(e.RequestID, resp).Do(exec) }()
		case *fetch.EventRequestPaused:
			go func() { _ = fetch.ContinueRequest(e.RequestID).Do(exec) }()
		}
	})
	if err := chromedp.Run(ctx, fetch.Enable().WithHandleAuthRequests(true)); err != nil {
		t.Fatal(err)
	}

	// Without credentials every page answers 401 and shows nothing of the
	// prober.
	for _, path := range []string{"/", "/config", "/metrics", "/probes/" + probeID} {
		var text string
		if err := chromedp.Run(ctx,
			chromedp.Navigate(base+path),
			chromedp.Text("body", &text, chromedp.ByQuery),
		); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "Unauthorized") || strings.Contains(text, "janssen") || strings.Contains(text, "revprober_") {
			t.Fatalf("%s without credentials shows %.200q", path, text)
		}
		if path == "/" {
			saveShot(t, ctx, "status-tls-unauthorized.png")
		}
	}

	// With them.
	mu.Lock()
	answer, challenges = fetch.AuthChallengeResponseResponseProvideCredentials, 0
	mu.Unlock()
	row := fmt.Sprintf(`tr[data-probe=%q]`, probeID)
	var loc string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#probes`, chromedp.ByQuery),
		chromedp.Location(&loc),
	); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := challenges
	mu.Unlock()
	if !strings.HasPrefix(loc, "https://") || n == 0 {
		t.Fatalf("overview at %s after %d challenges", loc, n)
	}
	saveShot(t, ctx, "status-tls-overview.png")

	// Run now: a same-origin form post over https (the daemon compares the
	// Origin's scheme with its own). A scheduled run may hold the canary.
	for attempt := 1; ; attempt++ {
		var msg string
		if err := chromedp.Run(ctx,
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(row+` button`, chromedp.ByQuery),
			chromedp.Click(row+` button`, chromedp.ByQuery),
			chromedp.WaitVisible(`#run, #message`, chromedp.ByQuery),
			chromedp.Location(&loc),
			chromedp.Evaluate(`(document.querySelector("#message")||{}).textContent || ""`, &msg),
		); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(loc, "/runs/") {
			break
		}
		if !strings.Contains(msg, "canary") || attempt == 20 {
			t.Fatalf("run now over TLS refused (attempt %d): %s", attempt, msg)
		}
	}
	saveShot(t, ctx, "status-tls-run-now.png")

	var cfg, metrics string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/config"),
		chromedp.Text(`#config`, &cfg, chromedp.ByQuery),
		chromedp.Navigate(base+"/metrics"),
		chromedp.Text(`body`, &metrics, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg, "<secret>") || strings.Contains(cfg, "admin-secret") {
		t.Fatalf("/config over TLS: %.300q", cfg)
	}
	if !strings.Contains(metrics, "revprober_build_info") {
		t.Fatalf("/metrics over TLS: %.300q", metrics)
	}
}
