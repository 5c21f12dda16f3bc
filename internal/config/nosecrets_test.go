package config

import (
	"strings"
	"testing"
)

// TestNoSecrets: with NoSecrets (check-config --no-secrets) an unset
// variable and an unreadable secret file are warnings at their line, the
// config still loads, and every other error is still an error.
func TestNoSecrets(t *testing.T) {
	doc := `targets:
  - name: idp
    issuer: https://idp.example.com
    admin_client:
      client_id: prober
      client_secret: ${NOT_SET_ANYWHERE}
    login:
      client: {client_id: app, client_secret_file: /nonexistent/app-secret}
    canary: {username: u, password: "pre-${ALSO_NOT_SET}"}
    endpoints:
      - driver: rfc7009
`
	if _, err := Parse("s.yml", []byte(doc), opts); err == nil {
		t.Fatal("without NoSecrets an unset variable must be an error")
	}
	o := opts
	o.NoSecrets = true
	c, err := Parse("s.yml", []byte(doc), o)
	if err != nil {
		t.Fatalf("NoSecrets: %v", err)
	}
	var got []string
	for _, w := range c.Warnings {
		got = append(got, w.Warning())
	}
	want := []string{
		"s.yml:6:22: targets[0].admin_client.client_secret: warning: environment variable NOT_SET_ANYWHERE is not set (structure checked without it)",
		"s.yml:8:52: targets[0].login.client.client_secret_file: warning: cannot read /nonexistent/app-secret: no such file or directory (structure checked without it)",
		"s.yml:9:37: targets[0].canary.password: warning: environment variable ALSO_NOT_SET is not set (structure checked without it)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	bad := strings.Replace(doc, "driver: rfc7009", "driver: no-such-driver", 1)
	if _, err := Parse("s.yml", []byte(bad), o); err == nil || !strings.Contains(err.Error(), "no-such-driver") {
		t.Errorf("NoSecrets hid a structural error: %v", err)
	}
}
