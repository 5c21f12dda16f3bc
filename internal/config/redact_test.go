package config

import (
	"strings"
	"testing"
)

// hooked is base with a webhook endpoint whose header carries an API key
// and a resource and endpoint URL with a key in the query string.
var hooked = strings.Replace(base, "    endpoints:\n      - driver: rfc7009\n", `    checks:
      resources:
        - name: api
          url: https://api.example.com/orders/me?api_key=query-key-0123456789&x=1
    endpoints:
      - driver: webhook
        url: https://hooks.example.com/offboard?token=hook-token-0123456789#frag
        params:
          method: POST
          header_X-Api-Key: header-key-0123456789
`, 1)

// TestRedactedSecretParamsAndQueries: /config shows no header value of a
// webhook and no query string, but keeps the rest of each.
func TestRedactedSecretParamsAndQueries(t *testing.T) {
	c := mustParse(t, hooked)
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, leak := range []string{"header-key-0123456789", "query-key-0123456789", "hook-token-0123456789", "frag"} {
		if strings.Contains(s, leak) {
			t.Errorf("%s on /config:\n%s", leak, s)
		}
	}
	for _, want := range []string{
		"header_X-Api-Key: <secret>",
		"method: POST",
		"url: https://api.example.com/orders/me?<redacted>",
		"url: https://hooks.example.com/offboard?<redacted>",
		"issuer: https://idp.example.com\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("want %q in:\n%s", want, s)
		}
	}
	// The output still parses, and prints the same again.
	c2 := mustParse(t, s)
	if out2, _ := c2.Redacted(); string(out2) != s {
		t.Errorf("round trip differs:\n%s\n---\n%s", s, out2)
	}
}

// TestRedactedWithoutRegistry: a config loaded without SecretParam shows
// no param value at all.
func TestRedactedWithoutRegistry(t *testing.T) {
	o := opts
	o.SecretParam = nil
	c, err := Parse("test.yml", []byte(hooked), o)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := c.Redacted()
	if s := string(out); strings.Contains(s, "POST") || !strings.Contains(s, "method: <secret>") {
		t.Errorf("params shown without the registry:\n%s", s)
	}
}
