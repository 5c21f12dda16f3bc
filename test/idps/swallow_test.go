//go:build idps

package idps

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// swallow describes a negative control: a proxy in front of upstream
// answers the revoking request (method and path) with the driver's usual
// success status and never forwards it, so nothing is revoked. Every other
// request goes through. A prober that passes such a run, or records any
// artifact dead in it, would pass an endpoint that does nothing.
type swallow struct {
	upstream     string // the real server's base URL
	method, path string // the revoking request
	status       int    // what the real server answers on success
	// urlPath follows the proxy's base URL in the endpoint's url:
	// "" for a driver that appends its own path (hydra), the endpoint's
	// path for one that takes a full URL (rfc7009, webhook, end-session).
	urlPath string
}

// swallowProxy is a running swallow: its URL and how many requests it
// swallowed (a control that swallowed nothing proves nothing).
type swallowProxy struct {
	URL       string
	swallowed atomic.Int64
}

func (s swallow) start(t *testing.T) *swallowProxy {
	t.Helper()
	up, err := url.Parse(s.upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &swallowProxy{}
	forward := httputil.NewSingleHostReverseProxy(up)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != s.method || r.URL.Path != s.path {
			forward.ServeHTTP(w, r)
			return
		}
		p.swallowed.Add(1)
		if s.status >= 300 && s.status < 400 {
			w.Header().Set("Location", "/")
		}
		w.WriteHeader(s.status)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// swallowed is the negative control of a passing case c: the same
// configuration (on canary, as cases must not share canaries), with the
// revoking request swallowed. It must fail with reason, and no check may
// record an artifact dead.
func swallowed(c tcase, canary, reason string, s swallow) tcase {
	n := c
	n.name = c.name + "-swallowed"
	n.canary = canary
	n.endpoint = map[string]any{}
	for k, v := range c.endpoint {
		n.endpoint[k] = v
	}
	n.endpoint["deadline"] = "3s" // a fail waits the whole deadline
	n.swallow = &s
	n.result, n.reason = "fail", reason
	n.after, n.drift, n.detail = nil, nil, ""
	n.noneDead = true
	return n
}
