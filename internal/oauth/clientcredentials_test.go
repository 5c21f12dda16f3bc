package oauth

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/secret"
)

// TestClientCredentialsRemembersToken: the admin token joins the run's
// secrets, so an admin API that echoes it cannot leak it.
func TestClientCredentialsRemembersToken(t *testing.T) {
	const tok = "admin-bearer-0123456789abcdef"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"`+tok+`","token_type":"Bearer"}`)
	}))
	defer srv.Close()
	tr := &httpx.Trace{}
	ctx := httpx.WithTrace(context.Background(), tr)
	got, err := ClientCredentials(ctx, httpx.Client(http.DefaultTransport, nil), srv.URL, &ClientAuth{ID: "admin", Secret: secret.New("admin-secret")}, nil, nil)
	if err != nil || got.Reveal() != tok {
		t.Fatalf("got %v, %v", got, err)
	}
	if s := tr.Secrets().Scrub("echo " + tok); s != "echo <secret>" {
		t.Fatalf("the admin token is not among the run's secrets: %q", s)
	}
}
