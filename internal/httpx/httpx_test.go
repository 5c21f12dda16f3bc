package httpx

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// echo answers 400 with the request's Authorization credential and body
// after pad bytes of filler, as a debugging error page might.
func echo(t *testing.T, pad int) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, strings.Repeat("x", pad)+cred+" "+string(b))
	}))
	t.Cleanup(s.Close)
	return s
}

func send(t *testing.T, ctx context.Context, u string, header http.Header, form url.Values) *Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := Do(Client(http.DefaultTransport, nil), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// assertNoPrefix: not even the first 8 bytes of v survive in text.
func assertNoPrefix(t *testing.T, what, text, v string) {
	t.Helper()
	if len(v) >= 8 && strings.Contains(text, v[:8]) {
		t.Errorf("%s: a prefix of the secret survives in %q", what, text)
	}
}

// TestTransportRemembersCredentials: every credential a request carries is
// registered before it is sent, so an answer echoing it is scrubbed.
func TestTransportRemembersCredentials(t *testing.T) {
	const (
		bearer    = "adminTokenAbCdEfGhIjKlMnOpQrStUvWx"
		sec       = "s3cr+t/w=ch&rs"
		assertion = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl"
	)
	srv := echo(t, 0)
	basic := func(id, pw string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+pw))}}
	}
	cases := []struct {
		name    string
		header  http.Header
		form    url.Values
		secrets []string // what must not be in the snippet, in any form
	}{
		{"bearer", http.Header{"Authorization": {"Bearer " + bearer}}, nil, []string{bearer}},
		{"other scheme", http.Header{"Authorization": {"SSWS " + bearer}}, nil, []string{bearer}},
		{"basic, form-encoded parts", basic("revprober-admin", url.QueryEscape(sec)), nil,
			[]string{sec, url.QueryEscape(sec), base64.StdEncoding.EncodeToString([]byte("revprober-admin:" + sec))}},
		{"basic, raw parts", basic("revprober-admin", sec), nil, []string{sec, url.QueryEscape(sec)}},
		{"form client_secret", nil, url.Values{"client_id": {"a"}, "client_secret": {sec}}, []string{sec, url.QueryEscape(sec)}},
		{"form client_assertion", nil, url.Values{"client_assertion": {assertion}}, []string{assertion}},
	}
	for _, c := range cases {
		tr := &Trace{}
		resp := send(t, WithTrace(context.Background(), tr), srv.URL, c.header, c.form)
		snip := resp.Snippet()
		if !strings.Contains(snip, "<secret>") {
			t.Errorf("%s: nothing scrubbed from %q", c.name, snip)
		}
		for _, s := range c.secrets {
			if strings.Contains(snip, s) {
				t.Errorf("%s: %q survives in %q", c.name, s, snip)
			}
			if got := tr.Secrets().Scrub("x " + s + " x"); got != "x <secret> x" {
				t.Errorf("%s: the run's scrubber misses %q: %q", c.name, s, got)
			}
		}
	}
}

// TestSnippetScrubsBeforeCutting: a token echoed where the 120-byte cut
// falls inside it must not survive as a prefix.
func TestSnippetScrubsBeforeCutting(t *testing.T) {
	const tok = "tokenAbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	for _, pad := range []int{90, 100, 110, 115, 119, 125} {
		srv := echo(t, pad)
		tr := &Trace{}
		resp := send(t, WithTrace(context.Background(), tr), srv.URL, http.Header{"Authorization": {"Bearer " + tok}}, nil)
		assertNoPrefix(t, fmt.Sprintf("pad %d", pad), resp.Snippet(), tok)
		if len(resp.Snippet()) > 130 {
			t.Errorf("snippet not cut: %d bytes", len(resp.Snippet()))
		}
	}
}

// TestRemember: a credential read from an answer, registered by the caller.
func TestRemember(t *testing.T) {
	tr := &Trace{}
	ctx := WithTrace(context.Background(), tr)
	Remember(ctx, "issued-admin-token-0123456789")
	Remember(context.Background(), "outside-any-run") // no trace: a no-op
	if got := tr.Secrets().Scrub("got issued-admin-token-0123456789"); got != "got <secret>" {
		t.Fatalf("got %q", got)
	}
}

// TestSnippetOutsideARun: without a trace nothing is scrubbed, and nothing breaks.
func TestSnippetOutsideARun(t *testing.T) {
	srv := echo(t, 0)
	resp := send(t, context.Background(), srv.URL, http.Header{"Authorization": {"Bearer abcdefgh"}}, nil)
	if !strings.Contains(resp.Snippet(), "abcdefgh") {
		t.Fatalf("got %q", resp.Snippet())
	}
}

// TestUnparsableLocationScrubbed: net/http quotes a Location it cannot
// parse in its error; the server chose it, and may echo the token the
// request carried (found by FuzzSessionChecks).
func TestUnparsableLocationScrubbed(t *testing.T) {
	const token = "the-canary-access-token"
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "0%"+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(s.Close)
	tr := &Trace{}
	req, _ := http.NewRequestWithContext(WithTrace(context.Background(), tr), http.MethodGet, s.URL, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	_, err := Do(Client(http.DefaultTransport, nil), req)
	if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "Location") {
		t.Fatalf("want an error about the Location without the token, got %v", err)
	}
}
