// Package webguard is the part of the daemon's HTTP policy that the
// exporter-toolkit web config (TLS, client certificates, basic auth) has no
// setting for: the Host names the daemon answers to, which requests may
// change state (same origin only), and a bounded log of what was refused.
//
// A browser on another site can make the daemon's state-changing endpoints
// do things (a form post), and a page that re-binds its own DNS name to the
// daemon's address can even read it, because to the browser it is then the
// page's own origin: the request carries Host: evil.example:PORT and a
// matching Origin. Checking Host against the names the daemon is known by
// stops the second; Sec-Fetch-Site and Origin (scheme included) stop the
// first.
package webguard

import (
	"net"
	"net/url"
	"os"
	"strings"
)

// Hosts is the set of host names (and IP literals) the daemon answers to
// on its guarded routes. Ports are ignored: a DNS-rebinding request is told
// apart by its name, not its port.
type Hosts struct {
	names map[string]bool
}

// NewHosts makes the set from names (host, host:port, [v6]:port or a URL;
// case and a trailing dot do not matter).
func NewHosts(names ...string) *Hosts {
	h := &Hosts{names: map[string]bool{}}
	for _, n := range names {
		if u, err := url.Parse(n); err == nil && u.Scheme != "" && u.Host != "" {
			n = u.Host
		}
		if n = hostOnly(n); n != "" {
			h.names[n] = true
		}
	}
	return h
}

// Allowed says whether a request's Host header names this daemon.
func (h *Hosts) Allowed(host string) bool {
	n := hostOnly(host)
	return n != "" && h.names[n]
}

// hostOnly lowercases host, drops its port, IPv6 brackets and a trailing dot.
func hostOnly(host string) string {
	host = strings.TrimSpace(host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// DefaultHosts are the names the daemon answers to when listening on
// listen (host:port): the listen host itself; localhost, 127.0.0.1 and ::1
// when it listens on loopback; the machine's host name; and, on a wildcard
// address (":9543", "0.0.0.0:9543", "[::]:9543"), every address of every
// interface as well (a pod's IP, a VM's private address). An IP literal
// cannot be re-bound by a foreign page, so listing the machine's own
// addresses opens nothing to DNS rebinding.
func DefaultHosts(listen string) []string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	var names []string
	if hn, err := os.Hostname(); err == nil && hn != "" {
		names = append(names, hn)
	}
	loopback := []string{"localhost", "127.0.0.1", "::1"}
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.IsUnspecified()):
		names = append(names, loopback...)
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					names = append(names, n.IP.String())
				}
			}
		}
	case strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback()):
		names = append(names, host)
		names = append(names, loopback...)
	default:
		names = append(names, host)
	}
	return names
}
