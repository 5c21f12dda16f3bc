package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// repoConfig is a configuration shipped or shown in the repository.
type repoConfig struct {
	name string // where it is, for the failure message
	text string
}

// configKeys are the top-level keys of a configuration: a YAML block in
// the docs made of these only is a configuration (or a fragment of one).
var configKeys = []string{"global", "evidence", "coordination", "targets"}

// fragmentTarget completes a fragment of the docs (an evidence: or a
// coordination: block) into a configuration.
const fragmentTarget = `
targets:
  - name: t
    issuer: https://idp.example.com
    admin_client: {client_id: a, client_secret: s}
    login: {client: {client_id: app, client_secret: s}}
    canary: {username: u, password: p}
    endpoints: [{driver: rfc7009}]
`

// repoConfigs collects every configuration in the repository: configs/,
// the one embedded in the Kubernetes ConfigMap, the commented reference
// internal/config/testdata/full.yml, and every YAML block of README.md
// and docs/*.md that is a configuration or a fragment of one.
func repoConfigs(t *testing.T) []repoConfig {
	t.Helper()
	var out []repoConfig
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("../..", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	files, _ := filepath.Glob("../../configs/*.yml")
	if len(files) == 0 {
		t.Fatal("no example configs found")
	}
	files = append(files, "../../internal/config/testdata/full.yml")
	for _, f := range files {
		name, _ := filepath.Rel("../..", f)
		out = append(out, repoConfig{name, read(name)})
	}

	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal([]byte(read("configs/kubernetes/configmap.yaml")), &cm); err != nil || cm.Data["revprober.yml"] == "" {
		t.Fatalf("configs/kubernetes/configmap.yaml holds no revprober.yml: %v", err)
	}
	out = append(out, repoConfig{"configs/kubernetes/configmap.yaml data.revprober.yml", cm.Data["revprober.yml"]})

	docs, _ := filepath.Glob("../../docs/*.md")
	block := regexp.MustCompile("(?s)```ya?ml\n(.*?)```")
	for _, f := range append([]string{"../../README.md"}, docs...) {
		name, _ := filepath.Rel("../..", f)
		for i, m := range block.FindAllStringSubmatch(read(name), -1) {
			var doc any
			if err := yaml.Unmarshal([]byte(m[1]), &doc); err != nil {
				t.Errorf("%s YAML block %d is not YAML: %v", name, i+1, err)
				continue
			}
			top, ok := doc.(map[string]any)
			if !ok {
				continue // not a mapping: a pipeline's steps
			}
			config := true
			for k := range top {
				config = config && slices.Contains(configKeys, k)
			}
			if !config {
				continue
			}
			text := m[1]
			if _, ok := top["targets"]; !ok {
				text += fragmentTarget
			}
			out = append(out, repoConfig{name + " YAML block " + strconv.Itoa(i+1), text})
		}
	}
	return out
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// TestEveryConfigInTheRepositoryIsValid: every configuration a user may
// copy passes check-config. Without its secrets (no variable set, secret
// files absent), `check-config --no-secrets` passes with no warning but
// the missing secrets; with its variables set (and its secret files
// present), plain `check-config` passes with no warning at all: an example
// teaches what it shows.
func TestEveryConfigInTheRepositoryIsValid(t *testing.T) {
	configs := repoConfigs(t)
	var inDocs int
	for _, c := range configs {
		if strings.Contains(c.name, ".md YAML block") {
			inDocs++
		}
	}
	if inDocs < 3 {
		t.Fatalf("only %d configurations found in README.md and docs/: the search is broken", inDocs)
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "revprober.yml")
			if strings.HasPrefix(c.name, "internal/config/testdata/") {
				path = filepath.Join("../..", c.name) // its relative secret files sit next to it
			} else if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
				t.Fatal(err)
			}
			vars := envRef.FindAllStringSubmatch(c.text, -1)
			for _, m := range vars {
				t.Setenv(m[1], "") // restored after the test
				os.Unsetenv(m[1])
			}
			code, out, errOut := run(t, "check-config", "--no-secrets", "-c", path)
			if code != 0 || !strings.Contains(out, "structure only: secrets not checked") {
				t.Fatalf("check-config --no-secrets: exit %d\n%s%s", code, out, errOut)
			}
			missingFiles := false
			for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
				if line == "" {
					continue
				}
				if !strings.HasSuffix(line, "(structure checked without it)") {
					t.Errorf("check-config --no-secrets warns of more than missing secrets: %s", line)
				}
				missingFiles = missingFiles || strings.Contains(line, "cannot read")
			}
			if missingFiles {
				return // its secret files are on the production host only
			}
			for _, m := range vars {
				t.Setenv(m[1], "example-value")
			}
			if code, out, errOut := run(t, "check-config", "-c", path); code != 0 || errOut != "" {
				t.Fatalf("check-config with its variables set: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}
