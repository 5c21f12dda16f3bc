package secret

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func TestScrubLongestFirst(t *testing.T) {
	const tok = "AbCdEfGhpass1234IjKlMnOpQrStUvWxYz0123456789"
	var s Scrubber
	s.Add("pass1234") // a canary password that happens to sit inside the token, registered first
	s.Add(tok, "pass1234", tok)
	got := s.Scrub("bad token " + tok + " and pw pass1234")
	if want := "bad token " + Redacted + " and pw " + Redacted; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	for _, part := range []string{"AbCdEfGh", "IjKlMn"} {
		if strings.Contains(got, part) {
			t.Errorf("a piece of the token survived: %q", got)
		}
	}
	if s.Len() != 2 { // both values are URL- and JSON-safe: one form each
		t.Errorf("duplicates kept: %d forms", s.Len())
	}
}

func TestScrubEncodedForms(t *testing.T) {
	const sec = `s3cr+t/w=ch&rs<"x">`
	var s Scrubber
	s.AddBasic("revprober-admin", sec)
	j, _ := json.Marshal(sec)
	forms := map[string]string{
		"raw":            sec,
		"query-escaped":  url.QueryEscape(sec),
		"path-escaped":   url.PathEscape(sec),
		"json":           string(j[1 : len(j)-1]),
		"json, no html":  `s3cr+t/w=ch&rs<\"x\">`,
		"json, \\/":      `s3cr+t\/w=ch\u0026rs\u003c\"x\"\u003e`,
		"html":           `s3cr+t/w=ch&amp;rs&lt;&#34;x&#34;&gt;`,
		"basic":          base64.StdEncoding.EncodeToString([]byte("revprober-admin:" + sec)),
		"basic, escaped": base64.StdEncoding.EncodeToString([]byte("revprober-admin:" + url.QueryEscape(sec))),
	}
	for name, f := range forms {
		if got := s.Scrub("x=" + f + ";"); got != "x="+Redacted+";" {
			t.Errorf("%s form %q: scrubbed to %q", name, f, got)
		}
	}
	if got := s.Scrub("client revprober-admin"); got != "client revprober-admin" {
		t.Errorf("the client id is not a secret: %q", got)
	}
}

func TestScrubIgnoresShortValues(t *testing.T) {
	var s Scrubber
	s.Add("abc", "")
	s.AddBasic("id", "ab")
	if s.Len() != 0 || s.Scrub("abc ab") != "abc ab" {
		t.Fatalf("short values must not be registered (%d forms)", s.Len())
	}
	var nilScrubber *Scrubber
	if nilScrubber.Scrub("text") != "text" {
		t.Fatal("a nil Scrubber scrubs nothing")
	}
}

// The shortcut for values with nothing to escape gives what the encoder
// gives, for every byte value alone and inside a token-like value.
func TestJSONContentShortcut(t *testing.T) {
	encoded := func(v string, escapeHTML bool) string {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(escapeHTML)
		_ = enc.Encode(v)
		s := strings.TrimSuffix(b.String(), "\n")
		return s[1 : len(s)-1]
	}
	values := []string{"", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.sig-_~", "canary-password-00001", "a/b+c=d", "é", "\u2028x"}
	for c := 0; c < 256; c++ {
		values = append(values, string(rune(c)), "tok"+string([]byte{byte(c)})+"en")
	}
	for _, v := range values {
		for _, h := range []bool{true, false} {
			if got, want := jsonContent(v, h), encoded(v, h); got != want {
				t.Errorf("jsonContent(%q, %v) = %q, want %q", v, h, got, want)
			}
		}
	}
}

// A value that no encoding changes has one form, itself; any other value
// has each of its forms once.
func TestEncodingsUnique(t *testing.T) {
	forms := encodings("plain-token_value.123")
	if len(forms) != 1 {
		t.Errorf("forms of a plain value: %q, want the value once", forms)
	}
	forms = encodings(`a b/"c"<&>`)
	seen := map[string]bool{}
	for _, f := range forms {
		if seen[f] {
			t.Errorf("form %q twice in %q", f, forms)
		}
		seen[f] = true
	}
}
