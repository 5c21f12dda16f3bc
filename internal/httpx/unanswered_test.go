package httpx

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestUnansweredRequestsCounted: a refused connection and a gateway's 503
// count as requests the server did not answer, with their host; an
// answer, even an error status, does not; nor does a request the run's
// own end cut.
func TestUnansweredRequestsCounted(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gateway" {
			http.Error(w, "no upstream", http.StatusServiceUnavailable)
			return
		}
		http.Error(w, "denied", http.StatusUnauthorized)
	}))
	defer ok.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close() // nothing listens there: connection refused

	tr := &Trace{}
	ctx := WithTrace(context.Background(), tr)
	c := Client(http.DefaultTransport, nil)
	get := func(ctx context.Context, u string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		_, _ = Do(c, req)
	}
	get(ctx, ok.URL+"/denied")
	if n := tr.Unanswered(); n != 0 {
		t.Fatalf("a 401 counted as unanswered (%d)", n)
	}
	get(ctx, "http://"+gone+"/x")
	get(ctx, ok.URL+"/gateway")
	cut, cancel := context.WithCancel(ctx)
	cancel()
	get(cut, "http://"+gone+"/x")
	if n := tr.Unanswered(); n != 2 {
		t.Fatalf("unanswered = %d, want 2 (refused, 503; not the request the run's own end cut)", n)
	}
	hosts := tr.UnansweredHosts(0, 2)
	if len(hosts) != 2 || hosts[0] != gone || hosts[1] != ok.Listener.Addr().String() {
		t.Fatalf("hosts %q, want [%s %s]", hosts, gone, ok.Listener.Addr())
	}
}
