package config

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// LoadOptions carries checks that live outside this package (avoids import cycles).
type LoadOptions struct {
	// CheckDriver validates an endpoint's driver kind and params; its error text is shown at the endpoint's line.
	CheckDriver func(kind string, params map[string]string) error
	// LookupEnv defaults to os.LookupEnv (tests inject their own).
	LookupEnv func(string) (string, bool)
	// SecretParam reports whether a driver declares an endpoint param
	// secret (driver.IsSecretParam); Redacted shows such values as
	// <secret>. When nil, Redacted shows no param value at all.
	SecretParam func(kind, name string) bool
	// DriverFacts describes a valid driver for the warnings; nil: no
	// driver-dependent warnings.
	DriverFacts func(kind string, params map[string]string) DriverFacts
	// NoSecrets checks the structure only (check-config --no-secrets, on
	// a machine without the secrets): an unset ${VAR} and a *_file that
	// cannot be read are warnings, not errors, and the value stands in as
	// written. A config loaded so must not be run.
	NoSecrets bool
}

// DriverFacts is what the validator's warnings need to know of a driver.
type DriverFacts struct {
	// Async: the endpoint answers first and revokes later (the profile's
	// Async), so the default deadline is likely too short.
	Async bool
	// KeepsOfflineTokens: the endpoint does not end the refresh tokens of
	// an offline_access login, although its profile has refresh tokens die.
	KeepsOfflineTokens bool
	// Doc is where the driver is documented, quoted in the advice.
	Doc string
}

// Load reads and parses the file at path. Relative secret file paths in it
// are resolved against the file's directory.
func Load(path string, opts LoadOptions) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opts)
}

// Parse parses a configuration held in memory. name appears in error text,
// becomes Config.Path, and its directory anchors relative secret file paths.
// The returned Config has every default applied; an invalid one yields a
// nil Config and an *Errors holding every problem.
func Parse(name string, data []byte, opts LoadOptions) (*Config, error) {
	root, ferr := parseDocument(name, data)
	if ferr != nil {
		return nil, &Errors{List: []FieldError{*ferr}}
	}
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	d := newDecoder(name, lookup)
	d.noSecrets = opts.NoSecrets
	var c Config
	if root != nil {
		d.decode(root, reflect.ValueOf(&c).Elem(), "")
	}
	if d.budget < 0 { // validating values never decoded would only add noise
		return nil, d.result()
	}
	d.applyDefaults(&c)
	v := validator{decoder: d, dir: filepath.Dir(name), checkDriver: opts.CheckDriver, driverFacts: opts.DriverFacts}
	v.config(&c)
	if err := d.result(); err != nil {
		return nil, err
	}
	resolvePaths(&c, filepath.Dir(name))
	sum := sha256.Sum256(data)
	c.Path, c.Digest = name, hex.EncodeToString(sum[:])
	c.secretParam = opts.SecretParam
	c.Warnings = inFileOrder(d.warns)
	return &c, nil
}

// resolvePaths anchors every relative file path at the config file's
// directory, as Prometheus does: the config means the same thing whatever
// the daemon's working directory.
func resolvePaths(c *Config, dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Evidence.Path)
	abs(&c.Evidence.SigningKeyFile)
	for i := range c.Targets {
		t := &c.Targets[i]
		abs(&t.TLS.CAFile)
		abs(&t.TLS.CertFile)
		abs(&t.TLS.KeyFile)
		abs(&t.AdminClient.PrivateKeyFile)
		abs(&t.Login.Client.PrivateKeyFile)
		if t.IntrospectionClient != nil {
			abs(&t.IntrospectionClient.PrivateKeyFile)
		}
	}
}

// parseDocument returns the document's root node, nil for an empty file.
func parseDocument(name string, data []byte) (*yaml.Node, *FieldError) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &FieldError{File: name, Line: extra.Line, Column: extra.Column, Message: "only one YAML document is allowed"}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(name, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError moves the line yaml.v3 puts in its message into the position.
func syntaxError(name string, err error) *FieldError {
	fe := &FieldError{File: name, Message: err.Error()}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		fe.Message = m[2]
	}
	return fe
}

// result is the collected errors in file order, or nil.
func (d *decoder) result() error {
	if len(d.errs) == 0 {
		return nil
	}
	return &Errors{List: inFileOrder(d.errs)}
}

// inFileOrder sorts by position and drops duplicates (a block merged into
// several mappings is walked once per use); nil for none.
func inFileOrder(list []FieldError) []FieldError {
	if len(list) == 0 {
		return nil
	}
	slices.SortStableFunc(list, func(a, b FieldError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return slices.Compact(list)
}

// errorAt reports a problem found after decoding, at path's position.
func (d *decoder) errorAt(path, format string, args ...any) {
	d.errorFor(path, path, format, args...)
}

// errorFor reports a problem at path, shown at cause when the file has it:
// a missing private_key_file is best shown at "auth_method: private_key_jwt".
// Nothing is reported at or below a value that failed to decode: its zero
// value would only cause noise such as "required".
func (d *decoder) errorFor(path, cause, format string, args ...any) {
	if fe, ok := d.fieldError(path, cause, format, args...); ok {
		d.errs = append(d.errs, fe)
	}
}

// warnFor is errorFor for a warning: the config stays valid.
func (d *decoder) warnFor(path, cause, format string, args ...any) {
	if fe, ok := d.fieldError(path, cause, format, args...); ok {
		d.warns = append(d.warns, fe)
	}
}

func (d *decoder) fieldError(path, cause, format string, args ...any) (FieldError, bool) {
	for p := path; ; p = parent(p) {
		if d.bad[p] {
			return FieldError{}, false
		}
		if p == "" {
			break
		}
	}
	if !d.present(cause) {
		cause = path
	}
	line, col := d.at(cause)
	return FieldError{File: d.file, Line: line, Column: col, Path: path, Message: fmt.Sprintf(format, args...)}, true
}

// at is the position of path's value. A scalar points at itself; a block or
// an absent value points at its key, or at the nearest enclosing value that
// is in the file.
func (d *decoder) at(path string) (line, col int) {
	if n := d.vals[path]; n != nil && n.Kind == yaml.ScalarNode && !isNull(n) {
		return n.Line, n.Column
	}
	if k := d.keys[path]; k != nil {
		return k.Line, k.Column
	}
	if n := d.vals[path]; n != nil {
		return n.Line, n.Column
	}
	if path == "" {
		return 1, 1
	}
	return d.at(parent(path))
}

// present reports whether path holds a non-null value in the file.
func (d *decoder) present(path string) bool {
	n := d.vals[path]
	return n != nil && !isNull(n)
}

// line is the line of path's value, for "first at line N" messages.
func (d *decoder) line(path string) int {
	l, _ := d.at(path)
	return l
}
