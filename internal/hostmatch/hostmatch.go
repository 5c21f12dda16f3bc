// Package hostmatch tells whether a URL is on one of the hosts an operator
// listed, each written as host or host:port (login.allowed_hosts). A host
// without a port means the URL scheme's default port (443 for https, 80 for
// http), as a browser's origin would; names compare case-insensitively.
// There are no wildcards: every host a canary's password may travel to is
// named in full.
package hostmatch

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Host is one parsed entry.
type Host struct {
	name string // lower case; an IPv6 literal without brackets
	port string // "" for the scheme's default port
}

// String is the entry as host or host:port.
func (h Host) String() string {
	if h.port == "" {
		return h.name
	}
	return net.JoinHostPort(h.name, h.port)
}

// Parse reads one entry: host or host:port, an IPv6 literal in brackets.
// A scheme, path, user info or wildcard is an error (the entry names a
// host, not a URL).
func Parse(s string) (Host, error) {
	if s == "" {
		return Host{}, errors.New("empty host")
	}
	if strings.Contains(s, "*") {
		return Host{}, errors.New("wildcards are not supported: list each host")
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/?#@") {
		return Host{}, errors.New("must be host or host:port, not a URL")
	}
	u, err := url.Parse("//" + s)
	if err != nil || u.Host != s || u.Hostname() == "" || (strings.Contains(u.Hostname(), ":") && !strings.HasPrefix(s, "[")) {
		return Host{}, errors.New("must be host or host:port (an IPv6 address in brackets)")
	}
	h := Host{name: strings.ToLower(u.Hostname())}
	if p := u.Port(); p != "" || strings.HasSuffix(s, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Host{}, errors.New("port must be 1-65535")
		}
		h.port = strconv.Itoa(n) // "0443" and "443" are one port
	}
	return h, nil
}

// List is a set of hosts. The zero value allows nothing.
type List []Host

// ParseList parses every entry; the first bad one is the error.
func ParseList(entries []string) (List, error) {
	out := make(List, 0, len(entries))
	for _, e := range entries {
		h, err := Parse(e)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", e, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// Allows reports whether u is on one of the listed hosts.
func (l List) Allows(u *url.URL) bool {
	name, port := Of(u)
	for _, h := range l {
		want := h.port
		if want == "" {
			want = defaultPort(u.Scheme)
		}
		if h.name == name && want == port {
			return true
		}
	}
	return false
}

// Same reports whether a and b are on the same host and port (the scheme's
// default port when none is written).
func Same(a, b *url.URL) bool {
	an, ap := Of(a)
	bn, bp := Of(b)
	return an == bn && ap == bp
}

// Of is u's host name (lower case) and its port, the scheme's default port
// when none is written.
func Of(u *url.URL) (name, port string) {
	name, port = strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	} else if n, err := strconv.Atoi(port); err == nil {
		port = strconv.Itoa(n)
	}
	return name, port
}

func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}
