package probe_test

import (
	"testing"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/probe"
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
