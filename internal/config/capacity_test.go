package config

import (
	"strings"
	"testing"
)

// capacityBase is warnBase with a second endpoint: two probes on canary1.
const capacityBase = warnBase + `      - name: second
        driver: rfc7009
`

// Probes that share a canary run one after another: check-config warns
// (the config stays valid) when their deadlines plus holds plus a run's
// allowance add up to more than the shortest of their intervals, and
// names the canary and the probes.
func TestCanaryCapacityWarning(t *testing.T) {
	cases := []struct {
		name, old, new string
		old2, new2     string   // a second edit, when not empty
		want           []string // nil = no warning
	}{
		// Two probes on canary1 need 2 × (30s + 10s + 2s) = 84s in a 1m interval.
		{"two probes, one canary, 1m", "", "", "", "", []string{`canary "canary1" is shared by 2 probes (idp/rfc7009, idp/second)`,
			"1m24s in all, longer than the shortest of their intervals (1m0s)"}},
		{"two probes, one canary, 2m", "  interval: 1m\n", "  interval: 2m\n", "", "", nil},
		// 2 × (10s + 5s + 2s) = 34s.
		{"short deadline and hold fit", "  interval: 1m\n", "  interval: 1m\n  deadline: 10s\n  hold: 5s\n", "", "", nil},
		// The endpoint's own deadline counts: 10s+5s+2s + 40s+5s+2s = 64s.
		{"a longer endpoint deadline does not fit", "  interval: 1m\n", "  interval: 1m\n  timeout: 50s\n  deadline: 10s\n  hold: 5s\n",
			"        driver: rfc7009\n", "        driver: rfc7009\n        deadline: 40s\n", []string{"1m4s in all"}},
		{"two canaries", "canary: {username: canary1, password: pw}\n    endpoints:\n      - driver: rfc7009\n      - name: second\n        driver: rfc7009\n",
			"canary: {username: canary1, password: pw}\n    endpoints:\n      - driver: rfc7009\n  - name: idp2\n    issuer: https://idp.example.com\n    admin_client: {client_id: prober, client_secret: s3cret}\n    login:\n      client: {client_id: app, auth_method: none}\n    canary: {username: canary2, password: pw}\n    endpoints:\n      - driver: rfc7009\n",
			"", "", nil},
		{"one canary across two targets", "canary: {username: canary1, password: pw}\n    endpoints:\n      - driver: rfc7009\n      - name: second\n        driver: rfc7009\n",
			"canary: {username: canary1, password: pw}\n    endpoints:\n      - driver: rfc7009\n  - name: idp2\n    issuer: https://IDP.example.com/\n    admin_client: {client_id: prober, client_secret: s3cret}\n    login:\n      client: {client_id: app, auth_method: none}\n    canary: {username: canary1, password: pw}\n    endpoints:\n      - driver: rfc7009\n",
			"", "", []string{`canary "canary1" is shared by 2 probes (idp/rfc7009, idp2/rfc7009)`}},
		{"same username, other identity provider", "canary: {username: canary1, password: pw}\n    endpoints:\n      - driver: rfc7009\n      - name: second\n        driver: rfc7009\n",
			"canary: {username: canary1, password: pw}\n    endpoints:\n      - driver: rfc7009\n  - name: idp2\n    issuer: https://other.example.com\n    admin_client: {client_id: prober, client_secret: s3cret}\n    login:\n      client: {client_id: app, auth_method: none}\n    canary: {username: canary1, password: pw}\n    endpoints:\n      - driver: rfc7009\n",
			"", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(capacityBase, tc.old) {
				t.Fatalf("base has no %q", tc.old)
			}
			doc := strings.Replace(capacityBase, tc.old, tc.new, 1)
			if tc.old2 != "" {
				// the last match: the second endpoint
				i := strings.LastIndex(doc, tc.old2)
				doc = doc[:i] + tc.new2 + doc[i+len(tc.old2):]
			}
			c, err := Parse("w.yml", []byte(doc), warnOpts)
			if err != nil {
				t.Fatalf("a warning case must stay valid: %v\n%s", err, doc)
			}
			if tc.want == nil {
				if len(c.Warnings) != 0 {
					t.Fatalf("unexpected warnings: %v", c.Warnings)
				}
				return
			}
			if len(c.Warnings) != 1 {
				t.Fatalf("want one warning, got %v", c.Warnings)
			}
			w := c.Warnings[0]
			if w.Path != "targets[0].canary.username" {
				t.Errorf("warning at %s, want targets[0].canary.username", w.Path)
			}
			for _, s := range tc.want {
				if !strings.Contains(w.Message, s) {
					t.Errorf("warning %q does not say %q", w.Warning(), s)
				}
			}
			if strings.Contains(w.Message, "pw") {
				t.Errorf("warning shows the password: %s", w.Message)
			}
		})
	}
}
