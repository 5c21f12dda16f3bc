// Package secret holds values that must never be printed: client secrets,
// canary passwords, tokens. A Secret formats as "<secret>" through fmt, JSON,
// YAML and slog, so a struct that contains one can be logged or shown safely.
// A Scrubber removes the secrets a run has handled from text that may quote
// them (an error body echoing a token).
package secret

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"unique"

	"gopkg.in/yaml.v3"
)

// Redacted is what every Secret prints as.
const Redacted = "<secret>"

// Secret is a string that hides itself. The zero value is the empty secret.
//
// The value is held through a unique.Handle, not as a string field: fmt
// cannot call Format on an unexported field (a struct{ tok Secret } printed
// with %v), it walks the field by reflection, and a string field would print
// in clear. Through the handle it meets only a pointer. Two Secrets are still
// == exactly when their values are equal.
type Secret struct{ h unique.Handle[string] }

// New wraps a value. New("") is the zero Secret.
func New(v string) Secret {
	if v == "" {
		return Secret{}
	}
	return Secret{h: unique.Make(v)}
}

// Reveal returns the value, for the one place that must send it on the wire.
func (s Secret) Reveal() string {
	if s.IsZero() {
		return ""
	}
	return s.h.Value()
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == Secret{} }

func (s Secret) String() string   { return Redacted }
func (s Secret) GoString() string { return Redacted }

// Format writes Redacted for every verb (%v, %+v, %#v, %s, %q, %x, %d…), so
// no verb can reach the value through the default struct printing.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// MarshalJSON never writes the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(Redacted) }

// MarshalYAML never writes the value.
func (s Secret) MarshalYAML() (any, error) { return Redacted, nil }

// LogValue keeps the value out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText never writes the value (covers encoding/xml and friends).
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// UnmarshalYAML reads a plain string as written (null is the empty secret).
// It does no ${VAR} expansion: config.Parse expands each value itself. The
// error never quotes the node, which may hold the value.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("secret must be a string")
	}
	if n.ShortTag() == "!!null" {
		*s = Secret{}
		return nil
	}
	*s = New(n.Value)
	return nil
}
