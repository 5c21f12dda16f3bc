package idpsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentStress drives one simulator from several goroutines at once
// (logins by password and by the HTML form, refreshes, introspection,
// userinfo, every kind of revocation, and fault switches through SetFaults
// and the control API) for a bounded number of iterations. Run under -race
// it checks the locking; the assertions check that no answer is outside
// what the endpoint may say under some fault, that a refresh token is
// never rotated twice, and that the state's indexes stay consistent.
func TestConcurrentStress(t *testing.T) {
	const workers, iterations = 6, 40
	srv := New(Options{}) // the real clock: delays and slowness are real but tiny
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c := &stressClient{base: ts.URL, http: ts.Client()}
	// Faults the switcher cycles through; delays stay in milliseconds.
	faultSets := [][]string{
		nil, {"ignore-revocation"}, {"keep-access"}, {"keep-refresh"}, {"delay=2ms"}, {"slow=1ms"},
		{"revoke-500"}, {"introspection-500"}, {"introspection-always-active"}, {"login-fail"},
		{"keep-access", "keep-refresh", "delay=1ms"},
	}
	users := []struct{ uid, pass string }{{"canary01", "canary-password-01"}, {"canary02", "canary-password-02"}}

	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() { // the fault switcher
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			set := faultSets[i%len(faultSets)]
			if i%2 == 0 {
				f, err := ParseFaults(set)
				if err != nil {
					t.Errorf("ParseFaults(%v): %v", set, err)
					return
				}
				srv.SetFaults(f)
			} else {
				b, _ := json.Marshal(faultsBody{Faults: set})
				if st, body, err := c.do("PUT", "/_sim/faults", string(b), nil); err != nil || st != 200 {
					t.Errorf("PUT /_sim/faults: %d %s %v", st, body, err)
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()

	var workerWG sync.WaitGroup
	for w := 0; w < workers; w++ {
		workerWG.Add(1)
		go func(w int) {
			defer workerWG.Done()
			u := users[w%len(users)]
			for i := 0; i < iterations; i++ {
				if err := c.round(u.uid, u.pass, (w+i)%5); err != nil {
					t.Errorf("worker %d, iteration %d: %v", w, i, err)
					return
				}
			}
		}(w)
	}
	workerWG.Wait()
	close(done)
	wg.Wait()
	if t.Failed() {
		return
	}

	checkIndexes(t, srv)
	// Quiet again: the server still works end to end.
	srv.SetFaults(Faults{})
	st, body, err := c.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"password"},
		"username": {"canary01"}, "password": {"canary-password-01"}, "scope": {"openid offline_access"}}, app)
	if err != nil || st != 200 {
		t.Fatalf("login after the stress: %d %s %v", st, body, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tok)
	if active, err := c.active(tok.AccessToken); err != nil || !active {
		t.Fatalf("fresh token not active: %v", err)
	}
	if st, _, _ := c.do("POST", "/jans-auth/restv1/global-token-revocation", `{"sub_id":{"format":"uid","id":"canary01"}}`, admin, jsonBody); st != 204 {
		t.Fatalf("GTR after the stress: %d", st)
	}
	if active, err := c.active(tok.AccessToken); err != nil || active {
		t.Fatalf("revoked token still active: %v", err)
	}
}

// checkIndexes: every token in the maps is listed by its grant, and every
// grant's current refresh token is in the refresh map.
func checkIndexes(t *testing.T, srv *Server) {
	t.Helper()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for name, m := range map[string]map[string]*tokenEntry{"access": srv.st.access, "refresh": srv.st.refresh} {
		for tok, e := range m {
			if !slices.Contains(e.grant.tokens, e) {
				t.Fatalf("%s token %.8s… is not listed by its grant", name, tok)
			}
			if srv.st.grants[e.grant.id] != e.grant {
				t.Fatalf("%s token %.8s… belongs to an unknown grant", name, tok)
			}
		}
	}
	for _, g := range srv.st.grants {
		if e, ok := srv.st.refresh[g.refresh]; g.refresh != "" && (!ok || e.grant != g) {
			t.Fatalf("grant %.8s…: its refresh token is not indexed", g.id)
		}
	}
}

// stressClient is a goroutine-safe test client: it reports errors instead
// of calling t.Fatal.
type stressClient struct {
	base string
	http *http.Client
}

func (c *stressClient) do(method, path string, body any, auth opt, more ...opt) (int, []byte, error) {
	r, err := send(c.http, c.base+path, method, body, append([]opt{auth}, more...)...)
	return r.status, r.body, err
}

// expect fails unless the status is one of want.
func expect(what string, st int, body []byte, err error, want ...int) error {
	if err != nil {
		return fmt.Errorf("%s: %v", what, err)
	}
	if !slices.Contains(want, st) {
		return fmt.Errorf("%s: status %d, want one of %v (%s)", what, st, want, body)
	}
	return nil
}

func (c *stressClient) active(tok string) (bool, error) {
	st, body, err := c.do("POST", "/jans-auth/restv1/introspection", url.Values{"token": {tok}}, admin)
	if err := expect("introspection", st, body, err, 200, 500); err != nil || st != 200 {
		return false, err
	}
	var r struct{ Active bool }
	if err := json.Unmarshal(body, &r); err != nil {
		return false, fmt.Errorf("introspection body %q: %v", body, err)
	}
	return r.Active, nil
}

// round is one login, a racing pair of refreshes, checks, and one kind of
// revocation (by kind), each answer checked against what some fault allows.
func (c *stressClient) round(uid, pass string, kind int) error {
	access, refresh, session, err := c.login(uid, pass, kind%2 == 1)
	if err != nil || access == "" {
		return err // "" : the login-fail fault was on
	}
	// Two refreshes of the same token race: at most one may win (Janssen
	// deletes the old refresh token on use, §1.7).
	var wg sync.WaitGroup
	codes := make([]int, 2)
	errs := make([]error, 2)
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st, body, err := c.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, app)
			codes[i], errs[i] = st, expect("refresh", st, body, err, 200, 400)
		}(i)
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	if codes[0] == 200 && codes[1] == 200 {
		return fmt.Errorf("one refresh token was rotated twice")
	}
	if _, err := c.active(access); err != nil {
		return err
	}
	st, body, err := c.do("GET", "/jans-auth/restv1/userinfo", nil, bearerAuth(access))
	if err := expect("userinfo", st, body, err, 200, 401); err != nil {
		return err
	}
	if session != "" {
		st, body, err := c.do("GET", "/jans-auth/restv1/session_status", nil, cookie(session))
		if err := expect("session_status", st, body, err, 200); err != nil {
			return err
		}
	}
	switch kind {
	case 0:
		st, body, err = c.do("POST", "/jans-auth/restv1/global-token-revocation", `{"sub_id":{"format":"uid","id":"`+uid+`"}}`, admin, jsonBody)
		return expect("global token revocation", st, body, err, 204, 500)
	case 1:
		st, body, err = c.do("POST", "/jans-auth/restv1/revoke_session", url.Values{"user_criterion_key": {"uid"}, "user_criterion_value": {uid}}, admin)
		return expect("revoke_session", st, body, err, 200, 500)
	case 2:
		st, body, err = c.do("POST", "/jans-auth/restv1/revoke", url.Values{"token": {access}, "token_type_hint": {"access_token"}}, app)
		return expect("revoke", st, body, err, 200, 500)
	case 3:
		st, body, err = c.do("POST", "/keycloak/admin/realms/demo/users/"+strings.ToUpper(uid)+"/logout", nil, nil, bearerAuthFrom(c))
		return expect("keycloak logout", st, body, err, 204, 401, 500)
	default:
		st, body, err = c.do("POST", "/hooks/offboard", `{"user":"`+uid+`"}`, admin, jsonBody)
		return expect("webhook", st, body, err, 202, 500)
	}
}

// bearerAuthFrom fetches an admin client-credentials token for the call; an
// empty one (a fault) makes the call answer 401, which the caller allows.
func bearerAuthFrom(c *stressClient) opt {
	st, body, err := c.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"client_credentials"}}, admin)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err == nil && st == 200 {
		_ = json.Unmarshal(body, &tok)
	}
	return bearerAuth(tok.AccessToken)
}

// login logs the user in by the password grant, or through the HTML form
// (a session). Empty tokens without an error: the login-fail fault, or a
// session revoked during the flow.
func (c *stressClient) login(uid, pass string, form bool) (access, refresh, session string, err error) {
	var st int
	var body []byte
	if !form {
		st, body, err = c.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"password"},
			"username": {uid}, "password": {pass}, "scope": {"openid offline_access"}}, app)
	} else {
		st, body, err = c.formLogin(uid, pass, &session)
	}
	// 400 from the code exchange: another worker revoked the session the
	// code came from ("The session of the authorization code is gone.").
	allowed := []int{200, 401}
	if form {
		allowed = append(allowed, 400)
	}
	if err := expect("login", st, body, err, allowed...); err != nil || st != 200 {
		return "", "", "", err
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		return "", "", "", fmt.Errorf("token answer %q: %v", body, err)
	}
	return tok.AccessToken, tok.RefreshToken, session, nil
}

// formLogin runs the authorization-code flow through the login form and
// returns the token endpoint's answer; 401 stands for a refused password.
func (c *stressClient) formLogin(uid, pass string, session *string) (int, []byte, error) {
	st, page, err := c.do("GET", authorizeQuery(nil), nil, nil)
	if err := expect("authorize", st, page, err, 200); err != nil {
		return 0, nil, err
	}
	m := formRe.FindStringSubmatch(string(page))
	if m == nil {
		return 0, nil, fmt.Errorf("no login form in %q", page)
	}
	fields := url.Values{}
	for _, in := range inputRe.FindAllString(string(page), -1) {
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllStringSubmatch(in, -1) {
			attrs[strings.ToLower(a[1])] = a[2]
		}
		if attrs["type"] == "hidden" {
			fields.Set(attrs["name"], attrs["value"])
		}
	}
	fields.Set("username", uid)
	fields.Set("password", pass)
	req, err := http.NewRequest("POST", c.base+strings.ReplaceAll(m[1], "&amp;", "&"), strings.NewReader(fields.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cl := *c.http
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusFound:
	case http.StatusOK: // the login-fail fault re-shows the form: a refused password
		return http.StatusUnauthorized, b, nil
	default:
		return resp.StatusCode, b, nil
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			*session = ck.Value
		}
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return 0, nil, fmt.Errorf("login redirect %q", resp.Header.Get("Location"))
	}
	return c.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {redirectURI},
		"code_verifier": {"verifier-0123456789-0123456789-0123456789"}}, app)
}
