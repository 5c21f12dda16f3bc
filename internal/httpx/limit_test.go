package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// trickler answers its status at once, then holds the body until the
// client gives up.
func trickler(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("{"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(s.Close)
	return s
}

// TestRequestTimeout: an exchange whose body never ends is cut at the
// trace's request timeout, and the error names the request (method and
// URL without its query) and the limit.
func TestRequestTimeout(t *testing.T) {
	s := trickler(t)
	tr := &Trace{}
	tr.SetRequestTimeout(200 * time.Millisecond)
	ctx := WithTrace(context.Background(), tr)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/introspect?token=SECRET", nil)
	_, err := Do(Client(http.DefaultTransport, nil), req)
	var rte *RequestTimeoutError
	if !errors.As(err, &rte) {
		t.Fatalf("got %v, want a *RequestTimeoutError", err)
	}
	if want := "POST " + s.URL + "/introspect: no complete answer within the request timeout (request_timeout 200ms)"; err.Error() != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
	if len(tr.Interrupted()) != 0 {
		t.Errorf("the run was not interrupted: %v", tr.Interrupted())
	}
}

// TestRunEndNamesTheRequestInFlight: when the run's own context ends, the
// trace names the exchange it cut; that is not a request timeout.
func TestRunEndNamesTheRequestInFlight(t *testing.T) {
	s := trickler(t)
	tr := &Trace{}
	tr.SetRequestTimeout(time.Minute)
	ctx, cancel := context.WithTimeout(WithTrace(context.Background(), tr), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/userinfo?x=1", nil)
	_, err := Do(Client(http.DefaultTransport, nil), req)
	var rte *RequestTimeoutError
	if err == nil || errors.As(err, &rte) {
		t.Fatalf("got %v, want the run's own deadline", err)
	}
	if got := strings.Join(tr.Interrupted(), ","); got != "GET "+s.URL+"/userinfo" {
		t.Errorf("interrupted %q", got)
	}
}
