package config

import (
	"strings"
	"testing"
)

// facts stands in for the driver registry's facts.
func facts(kind string, params map[string]string) DriverFacts {
	switch kind {
	case "keycloak-user-logout":
		return DriverFacts{KeepsOfflineTokens: true, Doc: "docs/drivers-vendors.md#keycloak"}
	case "entra-revoke-signin-sessions":
		return DriverFacts{Async: true, Doc: "docs/drivers-vendors.md#microsoft-entra-id"}
	case "webhook":
		return DriverFacts{Async: params["async"] == "true"}
	}
	return DriverFacts{}
}

func checkAny(string, map[string]string) error { return nil }

var warnOpts = LoadOptions{CheckDriver: checkAny, LookupEnv: lookup, DriverFacts: facts}

// warnBase is valid and draws no warning; cases edit it.
const warnBase = `global:
  interval: 1m
targets:
  - name: idp
    issuer: https://idp.example.com
    admin_client: {client_id: prober, client_secret: s3cret}
    login:
      client: {client_id: app, auth_method: none}
      scopes: [openid, profile, email]
    canary: {username: canary1, password: pw}
    endpoints:
      - driver: rfc7009
`

func TestWarnings(t *testing.T) {
	const scopes = "      scopes: [openid, profile, email]\n"
	cases := []struct {
		name, old, new string
		driver         string // replaces rfc7009 in the edited document
		path, msg      string // "" = no warning; else it is at the #< line
	}{
		{"none", "", "", "rfc7009", "", ""},

		// keycloak-user-logout leaves offline tokens alive (endpoints.md §3).
		{"keycloak logout, online login", "", "", "keycloak-user-logout", "", ""},
		{"keycloak logout, offline_access in login.scopes", scopes, "      scopes: [openid, offline_access]\n", "keycloak-user-logout #<",
			"targets[0].endpoints[0].driver", "the target's login.scopes (line 9) ask for offline_access"},
		{"keycloak logout, default scopes", scopes, "", "keycloak-user-logout #<",
			"targets[0].endpoints[0].driver", "login.scopes (the default) ask for offline_access: the refresh check will fail with refresh_token_still_works"},
		{"keycloak logout, offline, refresh expected to survive", scopes, "", "keycloak-user-logout\n        expect: {refresh_token: survives}", "", ""},
		{"keycloak logout, offline, refresh expected to die", scopes, "", "keycloak-user-logout #<\n        expect: {refresh_token: dies}",
			"targets[0].endpoints[0].driver", "offline_access"},
		{"keycloak logout, offline, no refresh check", scopes, "    checks: {refresh: false}\n", "keycloak-user-logout", "", ""},
		{"offline consent, offline login", scopes, "", "keycloak-offline-consent", "", ""},

		// Asynchronous drivers left on a deadline nobody chose for them.
		{"async, default deadline", "", "", "entra-revoke-signin-sessions #<",
			"targets[0].endpoints[0].deadline", "revokes asynchronously, and neither this endpoint nor its target sets a deadline: it inherits the global 30s (the default)"},
		{"async, global 30s written", "  interval: 1m\n", "  interval: 1m\n  deadline: 30s\n", "entra-revoke-signin-sessions #<",
			"targets[0].endpoints[0].deadline", "it inherits the global 30s (line 3)"},
		{"async, global deadline longer", "  interval: 1m\n", "  interval: 20m\n  timeout: 10m\n  deadline: 5m\n", "entra-revoke-signin-sessions", "", ""},
		{"async, endpoint deadline", "", "", "entra-revoke-signin-sessions\n        deadline: 40s\n    timeout: 55s", "", ""},
		{"async, target deadline", "    endpoints:\n", "    deadline: 10s\n    endpoints:\n", "entra-revoke-signin-sessions", "", ""},
		{"async webhook", "", "", "webhook #<\n        params: {async: \"true\"}",
			"targets[0].endpoints[0].deadline", "webhook revokes asynchronously"},
		{"sync webhook", "", "", "webhook\n        params: {async: \"false\"}", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(warnBase, tc.old) {
				t.Fatalf("base has no %q", tc.old)
			}
			doc := strings.Replace(warnBase, tc.old, tc.new, 1)
			doc = strings.Replace(doc, "- driver: rfc7009", "- driver: "+tc.driver, 1)
			c, err := Parse("w.yml", []byte(doc), warnOpts)
			if err != nil {
				t.Fatalf("a warning case must stay valid: %v\n%s", err, doc)
			}
			if tc.path == "" {
				if len(c.Warnings) != 0 {
					t.Fatalf("unexpected warnings: %v", c.Warnings)
				}
				return
			}
			if len(c.Warnings) != 1 {
				t.Fatalf("want one warning, got %v", c.Warnings)
			}
			w := c.Warnings[0]
			if w.Path != tc.path || !strings.Contains(w.Message, tc.msg) {
				t.Errorf("got %q, want path %q and message containing %q", w.Warning(), tc.path, tc.msg)
			}
			if want := markedLine(doc); w.Line != want {
				t.Errorf("line %d, want %d:\n%s", w.Line, want, doc)
			}
		})
	}
}

// TestWarningFormat: the error format with "warning: " before the message.
func TestWarningFormat(t *testing.T) {
	doc := strings.Replace(warnBase, "- driver: rfc7009", "- driver: entra-revoke-signin-sessions", 1)
	c, err := Parse("revprober.yml", []byte(doc), warnOpts)
	if err != nil {
		t.Fatal(err)
	}
	want := "revprober.yml:12:17: targets[0].endpoints[0].deadline: warning: entra-revoke-signin-sessions revokes asynchronously"
	if len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0].Warning(), want) ||
		!strings.HasSuffix(c.Warnings[0].Warning(), "(see docs/drivers-vendors.md#microsoft-entra-id)") {
		t.Errorf("got %v\nwant %s…(see docs/drivers-vendors.md#microsoft-entra-id)", c.Warnings, want)
	}
	// No facts, no driver-dependent warnings.
	if c, err := Parse("revprober.yml", []byte(doc), LoadOptions{CheckDriver: checkAny, LookupEnv: lookup}); err != nil || len(c.Warnings) != 0 {
		t.Errorf("without DriverFacts: %v %v", err, c.Warnings)
	}
	// An invalid config has errors, and no warnings to show.
	if _, err := Parse("revprober.yml", []byte(doc+"        deadline: 1h\n"), warnOpts); err == nil {
		t.Error("want the deadline error")
	}
}
