package probe_test

import (
	"testing"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/secret"
)

// TestCompileSecretsAndTLS: a probe carries the values of the params its
// driver declares secret (a webhook's header_*), not the others, and
// whether its target turned TLS verification off.
func TestCompileSecretsAndTLS(t *testing.T) {
	cfg := &config.Config{Targets: []config.Target{{
		Name: "t", Issuer: "https://idp.example.com",
		TLS: config.TLS{InsecureSkipVerify: true},
		Endpoints: []config.Endpoint{{Name: "hook", Driver: "webhook", URL: "https://hook.example.com",
			Params: map[string]string{"header_X-Api-Key": "key-0123456789", "method": "POST"}}},
	}}}
	ps, err := probe.Compile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	if !p.InsecureTLS {
		t.Error("InsecureTLS not carried")
	}
	if len(p.ParamSecrets) != 1 || p.ParamSecrets[0].Reveal() != "key-0123456789" {
		t.Errorf("param secrets: %d values", len(p.ParamSecrets))
	}
}

// TestCompileSharesClients: targets that authenticate as the same client
// share one ClientAuth (ten thousand targets of one identity provider
// need not hold ten thousand copies); a different secret or method is a
// client of its own.
func TestCompileSharesClients(t *testing.T) {
	target := func(name, adminSecret, method string) config.Target {
		return config.Target{Name: name, Issuer: "https://idp.example.com",
			AdminClient: config.Client{ClientID: "admin", ClientSecret: secret.New(adminSecret), AuthMethod: method},
			Login:       config.Login{Client: config.Client{ClientID: "app", ClientSecret: secret.New("app-secret")}},
			Endpoints:   []config.Endpoint{{Name: "gtr", Driver: "janssen-global-token-revocation"}}}
	}
	cfg := &config.Config{Targets: []config.Target{target("a", "admin-secret", ""), target("b", "admin-secret", ""),
		target("c", "other-secret", ""), target("d", "admin-secret", "client_secret_post")}}
	ps, err := probe.Compile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Admin != ps[1].Admin || ps[0].LoginClient != ps[3].LoginClient {
		t.Error("the same client is not shared")
	}
	if ps[0].Admin == ps[2].Admin || ps[0].Admin == ps[3].Admin || ps[2].Admin.Secret.Reveal() != "other-secret" || ps[3].Admin.Method != "client_secret_post" {
		t.Error("clients that differ in secret or method are shared")
	}
}
