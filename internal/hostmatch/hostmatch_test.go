package hostmatch

import (
	"net/url"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"login.example.com":      "login.example.com",
		"Login.Example.COM:8443": "login.example.com:8443",
		"127.0.0.1:03001":        "127.0.0.1:3001",
		"[::1]:9000":             "::1:9000", // String below brackets it
		"[::1]":                  "::1",
	} {
		h, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if got := h.name + portSuffix(h.port); got != want {
			t.Errorf("Parse(%q) = %q, want %q", in, got, want)
		}
	}
	if got, _ := Parse("[::1]:9000"); got.String() != "[::1]:9000" {
		t.Errorf("String() = %q", got.String())
	}
	for in, msg := range map[string]string{
		"":                          "empty",
		"https://login.example.com": "not a URL",
		"login.example.com/path":    "not a URL",
		"user@login.example.com":    "not a URL",
		"*.example.com":             "wildcards",
		"login.example.com:":        "port",
		"login.example.com:0":       "port",
		"login.example.com:70000":   "port",
		"login.example.com:https":   "host or host:port",
		"::1":                       "host or host:port",
		" login.example.com":        "host or host:port",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", in, err, msg)
		}
	}
}

func portSuffix(p string) string {
	if p == "" {
		return ""
	}
	return ":" + p
}

func TestAllows(t *testing.T) {
	l, err := ParseList([]string{"login.example.com", "127.0.0.1:3001", "[::1]:4000"})
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]bool{
		"https://login.example.com/ui/login":    true,
		"https://LOGIN.example.com:443/":        true,
		"http://login.example.com/":             true, // port 80 is http's default
		"https://login.example.com:8443/":       false,
		"https://evil.example.com/":             false,
		"https://login.example.com.evil.test/":  false,
		"http://127.0.0.1:3001/login":           true,
		"http://127.0.0.1:3002/login":           false,
		"http://127.0.0.1/login":                false,
		"http://[::1]:4000/":                    true,
		"http://[::1]:4001/":                    false,
		"https://login.example.com@evil.test/x": false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Allows(u); got != want {
			t.Errorf("Allows(%s) = %v, want %v", raw, got, want)
		}
	}
	if (List(nil)).Allows(&url.URL{Scheme: "https", Host: "login.example.com"}) {
		t.Error("an empty list allows a host")
	}
}

func TestSame(t *testing.T) {
	u := func(s string) *url.URL { x, _ := url.Parse(s); return x }
	if !Same(u("https://idp.example.com/a"), u("https://IDP.example.com:443/b")) {
		t.Error("default port and case should not matter")
	}
	if Same(u("https://idp.example.com/"), u("https://idp.example.com:8443/")) {
		t.Error("another port is another host")
	}
}
