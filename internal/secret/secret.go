// Package secret holds values that must never be printed: client secrets,
// canary passwords, tokens. A Secret formats as "<secret>" through fmt, JSON,
// YAML and slog, so a struct that contains one can be logged or shown safely.
package secret

import (
	"encoding/json"
	"errors"
	"log/slog"

	"gopkg.in/yaml.v3"
)

// Redacted is what every Secret prints as.
const Redacted = "<secret>"

// Secret is a string that hides itself. The zero value is the empty secret.
type Secret struct{ v string }

// New wraps a value.
func New(v string) Secret { return Secret{v: v} }

// Reveal returns the value, for the one place that must send it on the wire.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

func (s Secret) String() string   { return Redacted }
func (s Secret) GoString() string { return Redacted }

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
	s.v = n.Value
	return nil
}
