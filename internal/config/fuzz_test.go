package config

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// plantedSecret is what ${PLANTED_SECRET} expands to in FuzzParse.
const plantedSecret = "planted-env-secret-Qy4"

// FuzzParse: any bytes as a configuration file. A config that does not
// load is a nil *Config and an *Errors of located field errors, none of
// which quotes a secret value expanded from the environment at a secret
// field; a config that loads renders (Redacted) to a file that loads
// again, as redact.go promises, without the planted secret at a secret
// field.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add([]byte(base))
	f.Add([]byte(strings.Replace(base, "client_secret: s3cret", "client_secret: ${PLANTED_SECRET}", 1)))
	f.Add([]byte(strings.Replace(base, "password: pw", "password: {a: ${PLANTED_SECRET}}", 1)))
	o := opts
	o.LookupEnv = func(name string) (string, bool) {
		if name == "PLANTED_SECRET" {
			return plantedSecret, true
		}
		return lookup(name)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse("testdata/fuzz.yml", doc, o)
		if err != nil {
			var errs *Errors
			if c != nil || !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("Parse failed without a list of field errors (config %v): %v", c != nil, err)
			}
			lines := bytes.Count(doc, []byte("\n")) + 1
			for _, fe := range errs.List {
				if fe.File != "testdata/fuzz.yml" || fe.Message == "" || fe.Line < 0 || fe.Line > lines+1 {
					t.Fatalf("field error not located in the file (%d lines): %#v", lines, fe)
				}
				if isSecretPath(fe.Path) && strings.Contains(fe.Error(), plantedSecret) {
					t.Fatalf("field error quotes the secret: %v", fe)
				}
			}
			return
		}
		out, err := c.Redacted()
		if err != nil {
			t.Fatalf("a loaded config does not render: %v", err)
		}
		if _, err := Parse("testdata/fuzz.yml", out, o); err != nil {
			t.Fatalf("the redacted config does not load again: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			key, _, _ := strings.Cut(strings.TrimSpace(line), ":")
			if isSecretPath(key) && strings.Contains(line, plantedSecret) {
				t.Fatalf("the redacted config shows the secret: %s", line)
			}
		}
	})
}

// isSecretPath says whether a field path or key names a secret value.
func isSecretPath(p string) bool {
	i := strings.LastIndexAny(p, ".]")
	name := p[i+1:]
	return strings.Contains(name, "secret") && !strings.HasSuffix(name, "_file") || name == "password"
}
