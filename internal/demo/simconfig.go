package demo

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/revprober/revprober/internal/idpsim"
)

// SimConfig renders a ready configuration for the simulator s served at
// baseURL (`revprober idpsim --print-config`), from the simulator's own
// users and clients: one target per user, so each user is a canary of
// its own and `once` probes them all at the same time. A header lists
// every client and named user with its secret, and the scheme of the
// generated canaries: the simulator's are public test data.
func SimConfig(s *idpsim.Server, baseURL string) ([]byte, error) {
	clients := s.Clients()
	admin := slices.IndexFunc(clients, func(c idpsim.Client) bool {
		return slices.Contains(c.GrantTypes, "client_credentials") && slices.Contains(c.Scopes, "global_token_revocation")
	})
	login := slices.IndexFunc(clients, func(c idpsim.Client) bool {
		return slices.Contains(c.GrantTypes, "authorization_code") && len(c.RedirectURIs) > 0
	})
	users := s.Users()
	if admin < 0 || login < 0 || len(users) == 0 {
		return nil, errors.New("the simulator has no client with global_token_revocation, no client with a redirect URI, or no user")
	}
	var b bytes.Buffer
	named, generated := users[:len(users)-s.Canaries()], users[len(users)-s.Canaries():]
	err := simConfigTemplate.Execute(&b, map[string]any{
		"URL": baseURL, "Clients": clients, "Users": users, "Named": named, "Generated": generated,
		"Admin": clients[admin], "Login": clients[login],
	})
	return b.Bytes(), err
}

// yamlString is s as a double-quoted YAML scalar (safe in flow mappings:
// a DN holds commas), with $ doubled: the loader expands ${VAR}.
func yamlString(s string) string {
	b, _ := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Value: strings.ReplaceAll(s, "$", "$$")})
	return strings.TrimSuffix(string(b), "\n")
}

var simConfigTemplate = template.Must(template.New("sim").Funcs(template.FuncMap{"q": yamlString, "join": strings.Join, "dec": func(n int) int { return n - 1 }}).Parse(
	`# A ready revprober configuration for the simulator at {{.URL}}
# (written by revprober idpsim --print-config). With the simulator running:
#   ./bin/revprober preflight -c sim.yml   # logs in, revokes nothing
#   ./bin/revprober once -c sim.yml        # every probe once; exit 0 when all pass
#   ./bin/revprober run -c sim.yml         # the daemon: http://127.0.0.1:9543/
#
# The simulator's clients (client_id / client_secret: grant types; scopes):
{{- range .Clients}}
#   {{.ID}} / {{.Secret}}: {{join .GrantTypes " "}}; {{join .Scopes " "}}
{{- end}}
# Its users (username / password, mail, DN):
{{- range .Named}}
#   {{.UID}} / {{.Password}}, {{.Mail}}, {{.DN}}
{{- end}}
{{- with .Generated}}{{$first := index . 0}}{{$last := index . (len . | dec)}}
#   and {{len .}} generated canaries (idpsim --users), {{$first.UID}} … {{$last.UID}}:
#   canaryN / canary-password-N, canaryN@example.com, inum=CANARYN,ou=people,o=jans
{{- end}}
global:
  listen: "127.0.0.1:9543"
  interval: 1m
  timeout: 30s
  deadline: 10s
  hold: 2s        # how long a dead artifact must stay dead; the simulator has no replicas (default 10s)
targets:
{{- range .Users}}
  - name: {{q (print "sim-" .UID)}}
    issuer: {{q (print $.URL "/jans-auth")}}
    admin_client: {client_id: {{q $.Admin.ID}}, client_secret: {{q $.Admin.Secret}}}
    login:
      method: authorization_code
      redirect_uri: {{q (index $.Login.RedirectURIs 0)}}
      client: {client_id: {{q $.Login.ID}}, client_secret: {{q $.Login.Secret}}}
    canary:
      username: {{q .UID}}
      password: {{q .Password}}
      attributes: {uid: {{q .UID}}, mail: {{q .Mail}}, user_dn: {{q .DN}}}
    checks: {prompt_none: true, session_status: true}
    endpoints:
      - name: global-token-revocation
        driver: janssen-global-token-revocation
      - name: rfc7009-refresh
        driver: rfc7009
        params: {token: refresh_token}
{{- end}}
`))
