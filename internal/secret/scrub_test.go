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
