package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/revprober/revprober/internal/metrics"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/verdict"
)

// tokenCatcher records every token the IdP hands out, straight off the
// wire, so the test knows exactly which strings must never be printed.
type tokenCatcher struct {
	next   http.RoundTripper
	mu     sync.Mutex
	tokens []string
}

func (c *tokenCatcher) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		c.mu.Lock()
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			if s, ok := m[k].(string); ok && s != "" {
				c.tokens = append(c.tokens, s)
			}
		}
		c.mu.Unlock()
	}
	return resp, nil
}

// TestNoSecretInAnyOutput plants known secrets (client secrets, canary
// password), captures every token the IdP issues, runs probes that pass,
// fail and error, and searches every output a user sees: the JSON
// document, the text report, the metrics page and the log lines.
func TestNoSecretInAnyOutput(t *testing.T) {
	cases := [][]string{nil, {"ignore-revocation"}, {"keep-refresh"}, {"login-fail"}, {"introspection-500"}, {"revoke-500"}}
	for _, faults := range cases {
		_, base := probetest.Sim(t, faults...)
		catcher := &tokenCatcher{next: probetest.Transport}
		p := probetest.Probe(t, base, "janssen-global-token-revocation", nil, probetest.CodeLogin,
			probetest.Deadline(200*time.Millisecond), func(p *probe.Probe) { p.Transport = catcher })

		var logs bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		reg := prometheus.NewRegistry()
		m := metrics.New(reg, metrics.BuildInfo{Version: "test"})
		m.SetProbes([]metrics.ProbeKey{{Target: p.Target, Endpoint: p.Endpoint, Interval: p.Interval}})
		s, err := schedule.New(schedule.Options{Recorders: []schedule.Recorder{schedule.RecorderFunc(m.Observe)}, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		run, _, err := s.RunOnce(context.Background(), p, time.Now())
		if err != nil {
			t.Fatal(err)
		}

		var out bytes.Buffer
		_ = json.NewEncoder(&out).Encode(struct {
			Results []*verdict.Run `json:"results"`
		}{[]*verdict.Run{run}})
		writeReport(&out, []*verdict.Run{run})
		rec := httptest.NewRecorder()
		promhttp.HandlerFor(m.Gatherer(reg), promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		out.Write(rec.Body.Bytes())
		out.Write(logs.Bytes())
		all := out.String()

		planted := []string{"admin-secret", "canary-secret", "canary-password-01"}
		if len(catcher.tokens) == 0 && faults == nil {
			t.Fatal("no token captured: the test would prove nothing")
		}
		for _, s := range append(planted, catcher.tokens...) {
			if strings.Contains(all, s) {
				t.Errorf("faults %v: a secret or token (%.6s…) reached the output", faults, s)
			}
		}
		if !strings.Contains(all, string(run.Result)) {
			t.Fatalf("faults %v: output lacks the verdict; the search proves nothing", faults)
		}
	}
}
