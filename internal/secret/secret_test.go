package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "hunter2-very-secret"
	s := struct {
		Name string
		Pw   Secret
		Ptr  *Secret
	}{"x", New(value), func() *Secret { v := New(value); return &v }()}

	var outputs []string
	outputs = append(outputs, fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s.Pw, s.Pw))
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j))
	y, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(y))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "pw", s.Pw, "all", s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "pw", s.Pw)
	outputs = append(outputs, buf.String())

	for _, out := range outputs {
		if strings.Contains(out, value) {
			t.Errorf("secret leaked: %s", out)
		}
		if !strings.Contains(out, Redacted) && !strings.Contains(out, `\u003csecret\u003e`) {
			t.Errorf("expected %s in %s", Redacted, out)
		}
	}
	if s.Pw.Reveal() != value {
		t.Fatal("Reveal lost the value")
	}
}

func TestSecretUnmarshalYAML(t *testing.T) {
	var v struct {
		A, B, C Secret
	}
	if err := yaml.Unmarshal([]byte("a: 'p#ss: word'\nb: ~\nc: |\n  two\n  lines\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.A.Reveal() != "p#ss: word" || !v.B.IsZero() || v.C.Reveal() != "two\nlines\n" {
		t.Fatalf("got %q %q %q", v.A.Reveal(), v.B.Reveal(), v.C.Reveal())
	}
	err := yaml.Unmarshal([]byte("a: [hunter2]\n"), &v)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("want an error without the value, got %v", err)
	}
}

// holder keeps a Secret in an unexported field, where fmt cannot call
// its methods and prints the field by reflection.
type holder struct {
	Name  string
	Pub   Secret
	priv  Secret
	inner struct{ tok Secret }
	ptr   *Secret
}

func TestSecretFormatEveryVerbAndField(t *testing.T) {
	const value = "hunter2-very-secret"
	s := New(value)
	h := holder{Name: "x", Pub: s, priv: s, ptr: &s}
	h.inner.tok = s
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%10.3s", "%-20v"}
	for _, verb := range verbs {
		if got := fmt.Sprintf(verb, s); got != Redacted {
			t.Errorf("%s of a Secret = %q, want %q", verb, got, Redacted)
		}
		for _, x := range []any{h, &h, []Secret{s}, map[string]Secret{"k": s}} {
			if out := fmt.Sprintf(verb, x); strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
				t.Errorf("%s of %T leaks: %s", verb, x, out)
			}
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "h", h, "ph", &h)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "h", h, "ph", &h)
	if strings.Contains(buf.String(), value) {
		t.Errorf("slog leaks: %s", buf.String())
	}
	if !strings.Contains(fmt.Sprintf("%+v", h), "Pub:"+Redacted) {
		t.Errorf("exported field should print %s: %+v", Redacted, h)
	}
}

func TestSecretCompares(t *testing.T) {
	if New("a-token") != New("a-token") || New("a-token") == New("b-token") {
		t.Fatal("Secrets must compare by value")
	}
	if New("") != (Secret{}) || !New("").IsZero() || New("x").IsZero() || (Secret{}).Reveal() != "" {
		t.Fatal("the empty secret is the zero Secret")
	}
}
