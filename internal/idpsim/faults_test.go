package idpsim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFaultsRoundTrip(t *testing.T) {
	for _, name := range FaultNames {
		spec := name
		if _, ok := faultDurations(&Faults{})[name]; ok {
			spec += "=250ms"
		}
		f, err := ParseFaults([]string{spec})
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if got := f.Names(); !reflect.DeepEqual(got, []string{spec}) {
			t.Errorf("Names() = %v, want [%s]", got, spec)
		}
	}
	all := []string{"delay=1m0s", "hang-introspection", "hang-token", "hang-userinfo", "ignore-revocation", "introspection-500",
		"introspection-always-active", "keep-access", "keep-refresh", "login-fail", "refresh-revokes-access", "resurrect=300ms",
		"revoke-500", "slow=2s"}
	f, err := ParseFaults([]string{"slow=2s, keep-refresh", "delay=1m", "", "ignore-revocation,introspection-500",
		"introspection-always-active", "keep-access", "login-fail", "revoke-500", "resurrect=300ms", "refresh-revokes-access",
		"hang-introspection,hang-userinfo", "hang-token"})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); !reflect.DeepEqual(got, all) {
		t.Errorf("Names() = %v, want %v", got, all)
	}
	if again, _ := ParseFaults(f.Names()); again != f {
		t.Errorf("round trip: %+v != %+v", again, f)
	}
	if got := (Faults{}).Names(); got == nil || len(got) != 0 {
		t.Errorf("no faults: %#v, want an empty list", got)
	}
}

func TestParseFaultsErrors(t *testing.T) {
	for _, spec := range []string{"bogus", "delay", "delay=soon", "delay=-1s", "slow=", "keep-access=yes",
		"introspection-always-active,introspection-always-inactive"} {
		_, err := ParseFaults([]string{spec})
		if err == nil {
			t.Errorf("%q: no error", spec)
			continue
		}
		if item := strings.Split(spec, ",")[0]; !strings.Contains(err.Error(), item) {
			t.Errorf("%q: error %q does not name the item", spec, err)
		}
	}
}

func TestControlAPI(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.do("PUT", "/_sim/faults", `{"faults":["keep-refresh","delay=250ms"]}`, jsonBody)
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if f := e.srv.Faults(); !f.KeepRefresh || f.Delay != 250*time.Millisecond {
		t.Errorf("faults not set: %+v", f)
	}
	if got := string(e.do("GET", "/_sim/faults", nil).body); got != `{"faults":["delay=250ms","keep-refresh"]}`+"\n" {
		t.Errorf("GET = %s", got)
	}
	r = e.do("PUT", "/_sim/faults", `{"faults":["nope"]}`, jsonBody)
	if r.status != 400 || !strings.Contains(r.str(t, "error"), `"nope"`) {
		t.Errorf("unknown name: %d %s", r.status, r.body)
	}
	if e.do("PUT", "/_sim/faults", `{"faults":[]}`).status != 200 || len(e.srv.Faults().Names()) != 0 {
		t.Error("an empty list must clear the faults")
	}
}

// TestRevocationFaults runs a global token revocation under each fault and
// checks what survives.
func TestRevocationFaults(t *testing.T) {
	tests := []struct {
		name                        string
		faults                      Faults
		atAlive, rtAlive, sessAlive bool
	}{
		{"no fault", Faults{}, false, false, false},
		{"keep-access", Faults{KeepAccess: true}, true, false, false},
		{"keep-refresh", Faults{KeepRefresh: true}, false, true, false},
		{"ignore-revocation", Faults{IgnoreRevocation: true}, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{Faults: tt.faults})
			sess, tk := e.browserLogin("canary01", "canary-password-01")
			if s := e.gtr("canary01"); s != 204 {
				t.Fatalf("GTR: %d", s)
			}
			if got := e.active(tk.access); got != tt.atAlive {
				t.Errorf("introspection active = %v, want %v", got, tt.atAlive)
			}
			if got := e.userinfo(tk.access) == 200; got != tt.atAlive {
				t.Errorf("userinfo 200 = %v, want %v", got, tt.atAlive)
			}
			if got := e.sessionState(sess) == "authenticated"; got != tt.sessAlive {
				t.Errorf("session alive = %v, want %v", got, tt.sessAlive)
			}
			if got := e.refreshWorks(tk.refresh); got != tt.rtAlive {
				t.Errorf("refresh works = %v, want %v", got, tt.rtAlive)
			}
		})
	}
	t.Run("keep-access survives RFC 7009 too", func(t *testing.T) {
		e := newEnv(t, Options{Faults: Faults{KeepAccess: true}})
		tk := e.ropc("canary01", "canary-password-01")
		e.do("POST", "/jans-auth/restv1/revoke", url.Values{"token": {tk.access}}, app)
		if !e.active(tk.access) || e.refreshWorks(tk.refresh) {
			t.Error("keep-access: the access token must live and the refresh token die")
		}
	})
}

func TestDelayTakesEffectLater(t *testing.T) {
	e := newEnv(t, Options{Faults: Faults{Delay: 10 * time.Second}})
	sess, tk := e.browserLogin("canary01", "canary-password-01")
	if s := e.gtr("canary01"); s != 204 {
		t.Fatalf("GTR: %d", s)
	}
	e.clk.Add(9 * time.Second)
	if !e.active(tk.access) || e.sessionState(sess) != "authenticated" {
		t.Fatal("before the delay everything still lives")
	}
	// A refresh during the delay mints tokens of the same grant: they must
	// die with it.
	minted := e.tokensFrom(e.refresh(tk.refresh))
	if !e.active(minted.access) {
		t.Fatal("the new access token lives until the delay ends")
	}
	e.clk.Add(time.Second)
	if e.active(tk.access) || e.active(minted.access) || e.refreshWorks(minted.refresh) ||
		e.sessionState(sess) != "unknown" || e.userinfo(minted.access) != 401 {
		t.Error("after the delay every artifact must be dead")
	}
	// A second revocation after the first took effect keeps the dead dead.
	if s := e.gtr("canary01"); s != 204 || e.active(tk.access) {
		t.Error("a later revocation resurrected a token")
	}
}

// TestDelayCountsFromArrival: with slow and delay together, the kill is
// "delay after the revoke request arrived", not after the slow answer. The
// slow fault sleeps in real time, so this test runs on the real clock:
// the request arrives at t0 or later and is answered after slow, the token
// must die at arrival+delay, and counting from the end of the slow sleep
// would put the death at t0+slow+delay or later.
func TestDelayCountsFromArrival(t *testing.T) {
	const slow, delay = 400 * time.Millisecond, 500 * time.Millisecond
	srv := New(Options{})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{t: t, srv: srv, ts: ts}
	tk := e.ropc("canary01", "canary-password-01")
	srv.SetFaults(Faults{Slow: slow, Delay: delay})
	t0 := time.Now()
	if s := e.gtr("canary01"); s != 204 {
		t.Fatalf("GTR: %d", s)
	}
	if answered := time.Since(t0); answered < slow {
		t.Fatalf("answered after %s, before the slow fault's %s", answered, slow)
	}
	srv.SetFaults(Faults{}) // the kill time is fixed; the checks need no slowness
	for {
		alive := e.active(tk.access)
		since := time.Since(t0)
		if !alive {
			if since < delay {
				t.Fatalf("dead %s after the request, before the delay (%s)", since, delay)
			}
			if since >= slow+delay-50*time.Millisecond {
				t.Fatalf("dead only %s after the request: the delay was counted from the end of the slow sleep (%s + %s)", since, slow, delay)
			}
			return
		}
		if since > 5*time.Second {
			t.Fatal("the token never died")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRevoke500KillsNothing(t *testing.T) {
	e := newEnv(t, Options{})
	sess, tk := e.browserLogin("canary01", "canary-password-01")
	e.srv.SetFaults(Faults{Revoke500: true})
	for _, r := range []reply{
		e.do("POST", "/jans-auth/restv1/revoke", url.Values{"token": {tk.refresh}}, app),
		e.do("POST", "/jans-auth/restv1/revoke_session", url.Values{"user_criterion_key": {"uid"}, "user_criterion_value": {"canary01"}}, admin),
		e.do("DELETE", "/jans-config-api/api/v1/jans-auth-server/session/user/"+User{Inum: "CANARY01"}.DN(), nil),
	} {
		if r.status != 500 {
			t.Errorf("status %d, want 500", r.status)
		}
	}
	e.srv.SetFaults(Faults{})
	if !e.active(tk.access) || e.sessionState(sess) != "authenticated" || !e.refreshWorks(tk.refresh) {
		t.Error("revoke-500 must kill nothing")
	}
}

func TestSlowRespectsCancellation(t *testing.T) {
	srv := New(Options{Faults: Faults{Slow: time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/jans-auth/.well-known/openid-configuration", nil).WithContext(ctx)
	done := make(chan struct{})
	go func() { srv.ServeHTTP(httptest.NewRecorder(), req); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("slow fault ignored the cancelled context")
	}
	srv.SetFaults(Faults{Slow: time.Millisecond})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/jans-auth/.well-known/openid-configuration", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("slow answer: %d", rec.Code)
	}
}

// TestMemoryStaysBounded: expired entries go, live ones stay.
func TestMemoryStaysBounded(t *testing.T) {
	e := newEnv(t, Options{AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour})
	old := e.ropc("canary01", "canary-password-01")
	for range 20 {
		e.adminToken("openid") // client_credentials: no refresh token
	}
	e.clk.Add(2 * time.Minute)
	fresh := e.adminToken("openid") // a write sweeps
	e.srv.mu.Lock()
	access, refresh, grants := len(e.srv.st.access), len(e.srv.st.refresh), len(e.srv.st.grants)
	e.srv.mu.Unlock()
	// Left: the fresh admin token, and the ROPC grant kept alive by its refresh token.
	if access != 1 || refresh != 1 || grants != 2 {
		t.Errorf("after sweep: %d access, %d refresh, %d grants; want 1, 1, 2", access, refresh, grants)
	}
	if !e.active(fresh) || !e.refreshWorks(old.refresh) {
		t.Error("a sweep dropped a live token")
	}
}

// TestResurrectFault: what a revocation killed comes back alive
// resurrect after the kill took effect, and stays alive.
func TestResurrectFault(t *testing.T) {
	e := newEnv(t, Options{Faults: Faults{Resurrect: 300 * time.Millisecond}})
	sess, tk := e.browserLogin("canary01", "canary-password-01")
	if s := e.gtr("canary01"); s != 204 {
		t.Fatalf("GTR: %d", s)
	}
	if e.active(tk.access) || e.userinfo(tk.access) != 401 || e.sessionState(sess) != "unknown" {
		t.Fatal("right after the revocation everything is dead")
	}
	e.clk.Add(299 * time.Millisecond)
	if e.active(tk.access) {
		t.Fatal("back before the resurrect delay")
	}
	e.clk.Add(time.Millisecond)
	if !e.active(tk.access) || e.userinfo(tk.access) != 200 || e.sessionState(sess) != "authenticated" {
		t.Error("after the resurrect delay the access token and the session are alive again")
	}
	e.clk.Add(time.Minute) // well within the access token's 5 minutes
	if !e.active(tk.access) || !e.refreshWorks(tk.refresh) {
		t.Error("a resurrected token stays alive")
	}
}

// TestRefreshRevokesAccessFault: a refresh kills the earlier access tokens
// of its grant (not those of another grant), whatever the revocation
// faults say, as Ory Hydra does.
func TestRefreshRevokesAccessFault(t *testing.T) {
	for _, f := range []Faults{{RefreshRevokesAccess: true}, {RefreshRevokesAccess: true, IgnoreRevocation: true}} {
		e := newEnv(t, Options{Faults: f})
		tk, other := e.ropc("canary01", "canary-password-01"), e.ropc("canary01", "canary-password-01")
		next := e.tokensFrom(e.refresh(tk.refresh))
		if e.active(tk.access) || e.userinfo(tk.access) != 401 {
			t.Errorf("%v: the access token before the refresh is still alive", f.Names())
		}
		if !e.active(next.access) || !e.active(other.access) {
			t.Errorf("%v: the new access token and another grant's must live", f.Names())
		}
	}
	e := newEnv(t, Options{})
	tk := e.ropc("canary01", "canary-password-01")
	e.refresh(tk.refresh)
	if !e.active(tk.access) {
		t.Error("without the fault a refresh leaves the earlier access token alive")
	}
}

// TestHangFaults: the held endpoint answers its status at once, then the
// body trickles; a client that gives up frees the handler.
func TestHangFaults(t *testing.T) {
	for _, tc := range []struct {
		fault, path string
	}{
		{"hang-introspection", "/jans-auth/restv1/introspection"},
		{"hang-userinfo", "/jans-auth/restv1/userinfo"},
		{"hang-token", "/jans-auth/restv1/token"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			f, err := ParseFaults([]string{tc.fault})
			if err != nil {
				t.Fatal(err)
			}
			srv := New(Options{Faults: f})
			ts := httptest.NewServer(srv)
			t.Cleanup(ts.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+tc.path, strings.NewReader("token=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatalf("no status before the body: %v", err)
			}
			defer resp.Body.Close()
			if _, err := io.ReadAll(resp.Body); err == nil {
				t.Fatal("the body arrived in full within 300ms")
			}
			// The other endpoints answer at once.
			if r := (&env{t: t, srv: srv, ts: ts}).do("GET", "/jans-auth/.well-known/openid-configuration", nil); r.status != 200 {
				t.Errorf("discovery: %d", r.status)
			}
		})
	}
}
