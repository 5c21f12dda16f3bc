package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/evidence"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/metrics"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/status"
	"github.com/revprober/revprober/internal/verdict"
)

// The configured secrets of the hostile test: long enough for their
// 16-byte prefixes to be searched, and full of the characters that
// URL, JSON and HTML encode differently.
const (
	hostileAdminSecret = "Adm1n+S3cr/t&w=ch<rs>~0"
	hostileAppSecret   = "App+S3cret/w=&x0123456"
	hostilePassword    = "Can4ry+Pa55/w0rd&=<pw>"
	hostileHeaderKey   = "Hdr+Key/0123456789&=<k>"
	hostileQueryKey    = "QueryKey0123456789abcd"
)

// hostileIdP is the simulator with hostile admin APIs beside it on one
// server. Under /hostile/{style}/{what}/… every request is refused with an
// error body quoting one credential the request carried: {what} is auth
// (the Authorization credential), authz (the whole header), key (the
// webhook's X-Api-Key), token or secret (that form field) or body (the raw
// body); {style} is plain, json, or cut (the credential at byte 100, where
// a 120-byte excerpt cuts it). It records every token the simulator issues
// and every credential the hostile APIs received: what must never be seen.
type hostileIdP struct {
	sim *idpsim.Server

	mu       sync.Mutex
	issued   []string        // tokens in the simulator's JSON answers
	received []string        // credentials the hostile APIs were sent
	seen     map[string]bool // the {what} kinds echoed, for the sanity check
}

func (h *hostileIdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/hostile/"); ok {
		h.refuse(w, r, rest)
		return
	}
	rec := &teeWriter{ResponseWriter: w}
	h.sim.ServeHTTP(rec, r)
	var m map[string]any
	if json.Unmarshal(rec.body.Bytes(), &m) == nil {
		h.mu.Lock()
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			if s, ok := m[k].(string); ok && s != "" {
				h.issued = append(h.issued, s)
			}
		}
		h.mu.Unlock()
	}
}

func (h *hostileIdP) refuse(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.SplitN(rest, "/", 3)
	style, what := parts[0], parts[1]
	raw, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(raw))
	authz := r.Header.Get("Authorization")
	_, cred, _ := strings.Cut(authz, " ")
	echo := map[string]string{
		"auth": cred, "authz": authz, "key": r.Header.Get("X-Api-Key"),
		"token": form.Get("token"), "secret": form.Get("client_secret"), "body": string(raw),
	}[what]
	h.mu.Lock()
	h.received = append(h.received, cred, form.Get("token"), form.Get("client_secret"))
	if echo != "" {
		h.seen[what] = true
	}
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	switch style {
	case "plain":
		_, _ = io.WriteString(w, "request refused, you sent: "+echo)
	case "json": // encoding/json escapes & < > as \u0026 \u003c \u003e
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "server_error", "error_description": "refused " + echo})
	case "cut":
		_, _ = io.WriteString(w, strings.Repeat(".", 100)+echo+" was refused")
	}
}

type teeWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (t *teeWriter) Write(b []byte) (int, error) {
	t.body.Write(b)
	return t.ResponseWriter.Write(b)
}

// hostileConfig: every probe's revocation (or one of its checks) is
// answered by a hostile API echoing a credential, for the Janssen global
// token revocation (Basic and client-credentials bearer), the webhook
// (auth bearer and basic, header_X-Api-Key), Keycloak and Okta (SSWS, and
// a token endpoint that echoes the client authentication).
func hostileConfig(base, dir string) string {
	h := base + "/hostile"
	admin := func(method string) string {
		return fmt.Sprintf("    admin_client: {client_id: revprober-admin, client_secret: '%s', auth_method: %s}\n", hostileAdminSecret, method)
	}
	target := func(name, adminMethod, extra, endpoints string) string {
		return "  - name: " + name + "\n    issuer: " + base + "/jans-auth\n    tls: {insecure_skip_verify: true}\n" + admin(adminMethod) +
			"    login: {client: {client_id: canary-app, client_secret: '" + hostileAppSecret + "'}}\n" +
			"    canary: {username: canary01, password: '" + hostilePassword + "', attributes: {user_id: CANARY01}}\n" +
			extra + "    endpoints:\n" + endpoints
	}
	ep := func(name, driver, u, params string) string {
		return fmt.Sprintf("      - {name: %s, driver: %s, url: '%s', params: {%s}}\n", name, driver, u, params)
	}
	key := "header_X-Api-Key: '" + hostileHeaderKey + "'"
	return "global: {interval: 1m, timeout: 20s, deadline: 300ms, poll_initial: 5ms, poll_max: 50ms}\n" +
		"evidence: {path: " + filepath.Join(dir, "evidence.jsonl") + "}\ntargets:\n" +
		target("basic", "client_secret_basic", "",
			ep("gtr-cut", "janssen-global-token-revocation", h+"/cut/auth", "")+
				ep("gtr-json", "janssen-global-token-revocation", h+"/json/authz", "")+
				ep("hook-bearer-json", "webhook", h+"/json/authz", "auth: bearer, "+key)+
				ep("hook-bearer-cut", "webhook", h+"/cut/auth", "auth: bearer, "+key)+
				ep("hook-key-cut", "webhook", h+"/cut/key", key)+
				ep("hook-key-json", "webhook", h+"/json/key", key)+
				ep("hook-basic", "webhook", h+"/plain/auth", "auth: basic")+
				ep("keycloak", "keycloak-user-logout", h+"/cut/auth", "realm: r")+
				ep("okta-ssws", "okta-user-sessions", h+"/cut/auth", "")+
				ep("okta-token-basic", "okta-user-sessions", h+"/plain/x", "auth: oauth, token_url: '"+h+"/cut/auth'")) +
		target("post", "client_secret_post", // Janssen's introspection takes Basic only
			"    introspection_client: {client_id: revprober-admin, client_secret: '"+hostileAdminSecret+"'}\n",
			ep("gtr-bearer-cut", "janssen-global-token-revocation", h+"/cut/auth", "")+
				ep("okta-token-secret", "okta-user-sessions", h+"/plain/x", "auth: oauth, token_url: '"+h+"/cut/secret'")+
				ep("okta-token-body", "okta-user-sessions", h+"/plain/x", "auth: oauth, token_url: '"+h+"/json/body'")) +
		target("introspect", "client_secret_basic",
			"    urls: {introspection: '"+h+"/cut/token'}\n"+
				"    checks: {resources: [{name: api, url: '"+h+"/plain/x?api_key="+hostileQueryKey+"'}]}\n",
			ep("gtr", "janssen-global-token-revocation", "", "")) +
		target("userinfo", "client_secret_basic", "    urls: {userinfo: '"+h+"/cut/auth'}\n",
			ep("gtr", "janssen-global-token-revocation", "", ""))
}

// TestNoSecretReachesAnyOutputFromHostileAPIs: admin APIs and token
// endpoints that echo the credentials they were sent (plain, JSON-escaped,
// or cut by the 120-byte excerpt) leak none of them, nor the tokens the
// IdP issued, nor the configured secrets, into any output: once --json,
// the text report, JUnit, the evidence file, the status pages (/,
// /probes/…, /runs/…, /config), /metrics and the logs. Every secret is
// searched in the forms it could be echoed in, and by its 16-byte prefix.
func TestNoSecretReachesAnyOutputFromHostileAPIs(t *testing.T) {
	users := []idpsim.User{{Inum: "CANARY01", UID: "canary01", Mail: "canary01@example.com", Password: hostilePassword}}
	clients := idpsim.DefaultClients()
	clients[0].Secret, clients[1].Secret = hostileAdminSecret, hostileAppSecret
	idp := &hostileIdP{sim: idpsim.New(idpsim.Options{Users: users, Clients: clients}), seen: map[string]bool{}}
	srv := httptest.NewServer(idp)
	defer srv.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "revprober.yml")
	if err := os.WriteFile(cfgPath, []byte(hostileConfig(srv.URL, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{}

	// once --json and JUnit, then the text report, as the CLI prints them.
	var stdout, stderr bytes.Buffer
	junit := filepath.Join(dir, "junit.xml")
	cmdOnce([]string{"-c", cfgPath, "--json", "--junit", junit}, &stdout, &stderr)
	outputs["once --json"], outputs["once --json stderr"] = stdout.String(), stderr.String()
	x, _ := os.ReadFile(junit)
	outputs["junit"] = string(x)
	stdout.Reset()
	stderr.Reset()
	cmdOnce([]string{"-c", cfgPath}, &stdout, &stderr)
	outputs["once report"], outputs["once stderr"] = stdout.String(), stderr.String()

	// The daemon's outputs: runs recorded by the scheduler into the
	// evidence log, the status page and the metrics, with debug logs.
	cfg, err := config.Load(cfgPath, loadOptions())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	probes, err := probe.Compile(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evidence.Open(cfg.Evidence, "r1")
	if err != nil {
		t.Fatal(err)
	}
	page := status.New(status.Options{
		Probes: func() []*probe.Probe { return probes },
		Config: func() ([]byte, string, string, error) { y, err := cfg.Redacted(); return y, cfg.Path, cfg.Digest, err },
	})
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.BuildInfo{Version: "test"})
	var keys []metrics.ProbeKey
	for _, p := range probes {
		keys = append(keys, metrics.ProbeKey{Target: p.Target, Endpoint: p.Endpoint, Interval: p.Interval})
	}
	m.SetProbes(keys)
	s, err := schedule.New(schedule.Options{Logger: log,
		Recorders: []schedule.Recorder{ev, page, schedule.RecorderFunc(m.Observe)}})
	if err != nil {
		t.Fatal(err)
	}
	var runs []*verdict.Run
	for _, p := range probes {
		run, _, err := s.RunOnce(context.Background(), p, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
	}
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	e, _ := os.ReadFile(cfg.Evidence.Path)
	outputs["evidence"] = string(e)
	outputs["logs"] = logs.String()
	paths := []string{"/", "/config", "/metrics"}
	for _, r := range runs {
		paths = append(paths, "/runs/"+url.PathEscape(r.ID), "/probes/"+url.PathEscape(r.Target)+"/"+url.PathEscape(r.Endpoint))
	}
	mux := http.NewServeMux()
	mux.Handle("/", page.Handler())
	mux.Handle("/metrics", promhttp.HandlerFor(m.Gatherer(reg), promhttp.HandlerOpts{}))
	for _, p := range paths {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, rec.Code)
		}
		outputs["GET "+p] = rec.Body.String()
	}

	// The test proves something only if the hostile APIs were reached,
	// echoed every kind of credential, and the engine scrubbed the echoes.
	for _, what := range []string{"auth", "authz", "key", "token", "secret", "body"} {
		if !idp.seen[what] {
			t.Errorf("no hostile API echoed a %q credential: the test proves nothing about it", what)
		}
	}
	for _, r := range runs {
		if r.Result != verdict.Error || !strings.Contains(r.Detail, "<secret>") {
			t.Errorf("%s/%s: %s, detail %q: the echo was not reached or not scrubbed", r.Target, r.Endpoint, r.Result, r.Detail)
		}
		if !slices.Contains(r.Notes, probe.InsecureTLSNote) {
			t.Errorf("%s/%s: no TLS note: %q", r.Target, r.Endpoint, r.Notes)
		}
	}
	for _, o := range []string{"once --json", "evidence", "GET /runs/" + url.PathEscape(runs[0].ID)} {
		if !strings.Contains(outputs[o], "TLS verification is OFF") {
			t.Errorf("%s does not say TLS verification is off", o)
		}
	}
	if y := outputs["GET /config"]; !strings.Contains(y, "header_X-Api-Key: &lt;secret&gt;") || !strings.Contains(y, "/hostile/plain/x?&lt;redacted&gt;") {
		t.Errorf("/config does not redact the header or the query:\n%s", y)
	}

	idp.mu.Lock()
	secrets := map[string]string{"admin client secret": hostileAdminSecret, "app client secret": hostileAppSecret,
		"canary password": hostilePassword, "webhook header": hostileHeaderKey, "query api_key": hostileQueryKey}
	for i, v := range idp.issued {
		secrets[fmt.Sprintf("issued token #%d", i)] = v
	}
	for i, v := range idp.received {
		secrets[fmt.Sprintf("credential sent to a hostile API #%d", i)] = v
	}
	idp.mu.Unlock()
	for _, c := range []string{"revprober-admin", "canary-app"} {
		for _, sec := range []string{hostileAdminSecret, hostileAppSecret} {
			secrets["basic "+c] = base64.StdEncoding.EncodeToString([]byte(c + ":" + sec))
			secrets["basic, form-encoded "+c] = base64.StdEncoding.EncodeToString([]byte(c + ":" + url.QueryEscape(sec)))
		}
	}
	huntSecrets(t, outputs, secrets)
}

// huntSecrets fails for every secret found in an output, in any of its
// encoded forms, whole or by its first 16 bytes. Each output is searched as
// written, HTML-unescaped and JSON-unescaped.
func huntSecrets(t *testing.T, outputs, secrets map[string]string) {
	t.Helper()
	unJSON := strings.NewReplacer(`\u0026`, "&", `\u003c`, "<", `\u003e`, ">", `\"`, `"`, `\\`, `\`, `\/`, "/")
	views := map[string][]string{}
	for name, o := range outputs {
		views[name] = []string{o, html.UnescapeString(o), unJSON.Replace(o)}
	}
	for what, v := range secrets {
		if len(v) < 8 {
			continue // an empty echo; nothing else this short is planted
		}
		j, _ := json.Marshal(v)
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v), string(j[1 : len(j)-1]), html.EscapeString(v)} {
			needle := form[:min(16, len(form))]
			for name, vs := range views {
				for _, view := range vs {
					if i := strings.Index(view, needle); i >= 0 {
						t.Errorf("%s (%.4s…) in %s: …%s…", what, v, name, view[max(0, i-60):min(len(view), i+len(needle)+20)])
						break
					}
				}
			}
		}
	}
}
