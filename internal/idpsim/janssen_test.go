package idpsim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDiscoveryKeysFollowFeatureFlags(t *testing.T) {
	optional := []string{"userinfo_endpoint", "revocation_endpoint", "introspection_endpoint", "end_session_endpoint",
		"global_token_revocation_endpoint", "session_revocation_endpoint", "authorization_challenge_endpoint"}
	tests := []struct {
		name     string
		features []string
		want     []string
	}{
		{"empty list enables everything", nil, optional},
		{"only revoke_token", []string{"revoke_token"}, []string{"revocation_endpoint"}},
		{"new Janssen without revoke_session", []string{"global_token_revocation", "introspection", "userinfo", "end_session", "revoke_token"},
			[]string{"global_token_revocation_endpoint", "introspection_endpoint", "userinfo_endpoint", "end_session_endpoint", "revocation_endpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{Features: tt.features})
			r := e.do("GET", "/jans-auth/.well-known/openid-configuration", nil)
			d := r.json(t)
			iss := e.ts.URL + "/jans-auth"
			if d["issuer"] != iss || d["token_endpoint"] != iss+"/restv1/token" || d["authorization_endpoint"] != iss+"/restv1/authorize" {
				t.Errorf("issuer/endpoints wrong: %v", d)
			}
			if _, ok := d["check_session_iframe"]; ok {
				t.Error("check_session_iframe must not be advertised")
			}
			for _, k := range optional {
				_, got := d[k]
				want := strings.Contains(strings.Join(tt.want, " "), k)
				if got != want {
					t.Errorf("%s present=%v, want %v", k, got, want)
				}
			}
			if d["global_token_revocation_endpoint"] != nil && d["global_token_revocation_endpoint"] != iss+"/restv1/global-token-revocation" {
				t.Errorf("global_token_revocation_endpoint = %v", d["global_token_revocation_endpoint"])
			}
			// §1.1: both logout flags equal END_SESSION, and are always published.
			endSession := tt.features == nil || slices.Contains(tt.features, "end_session")
			for _, k := range []string{"backchannel_logout_supported", "frontchannel_logout_supported"} {
				if v, ok := d[k].(bool); !ok || v != endSession {
					t.Errorf("%s = %v, want %v", k, d[k], endSession)
				}
			}
		})
	}
}

func TestDisabledFeatureAnswers403(t *testing.T) {
	e := newEnv(t, Options{Features: []string{"revoke_token"}})
	r := e.do("POST", "/jans-auth/restv1/global-token-revocation", `{"sub_id":{"format":"uid","id":"canary01"}}`, admin, jsonBody)
	if r.status != 403 || r.str(t, "error") != "access_denied" {
		t.Errorf("GTR with flag off: %d %s", r.status, r.body)
	}
	// Client authentication runs before the flag check.
	if r := e.do("POST", "/jans-auth/restv1/global-token-revocation", `{}`, basic("revprober-admin", "wrong")); r.status != 401 {
		t.Errorf("bad auth with flag off: %d", r.status)
	}
	if r := e.do("GET", "/jans-auth/restv1/userinfo", nil, bearerAuth("x")); r.status != 403 {
		t.Errorf("userinfo with flag off: %d", r.status)
	}
}

func TestPasswordGrant(t *testing.T) {
	ok := url.Values{"grant_type": {"password"}, "username": {"canary01"}, "password": {"canary-password-01"}, "scope": {"openid offline_access"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range ok {
			f[kk] = vv
		}
		f.Set(k, v)
		return f
	}
	// client_secret_post: the credentials go in the form.
	post := with("username", "canary01@example.com")
	post.Set("client_id", "canary-app")
	post.Set("client_secret", "canary-secret")
	tests := []struct {
		name       string
		faults     Faults
		form       url.Values
		auth       opt
		wantStatus int
		wantError  string
		wantDesc   string
	}{
		{"success", Faults{}, ok, app, 200, "", ""},
		{"login by mail, client_secret_post", Faults{}, post, func(*http.Request) {}, 200, "", ""},
		{"wrong password", Faults{}, with("password", "nope"), app, 401, "invalid_client", "Invalid user."},
		{"login-fail fault", Faults{LoginFail: true}, ok, app, 401, "invalid_client", "Invalid user."},
		{"client without password grant", Faults{}, ok, admin, 400, "invalid_grant", ""},
		{"bad client secret", Faults{}, ok, basic("canary-app", "wrong"), 401, "invalid_client", "Unable to authenticate client."},
		{"unknown grant type", Faults{}, with("grant_type", "urn:x"), app, 400, "unsupported_grant_type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{Faults: tt.faults})
			r := e.do("POST", "/jans-auth/restv1/token", tt.form, tt.auth)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			if tt.wantStatus != 200 {
				if got := r.str(t, "error"); got != tt.wantError {
					t.Errorf("error %q, want %q", got, tt.wantError)
				}
				if tt.wantDesc != "" && r.str(t, "error_description") != tt.wantDesc {
					t.Errorf("error_description %q, want %q", r.str(t, "error_description"), tt.wantDesc)
				}
				if r.status == 401 && tt.wantDesc == "Unable to authenticate client." && r.header.Get("WWW-Authenticate") != `Basic realm="jans-auth"` {
					t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
				}
				return
			}
			d := r.json(t)
			if r.header.Get("Cache-Control") != "no-store" || d["token_type"] != "Bearer" || d["expires_in"] != float64(300) {
				t.Errorf("headers/fields: %v %v", r.header, d)
			}
			at, _ := d["access_token"].(string)
			rt, _ := d["refresh_token"].(string)
			if len(at) < 43 || len(rt) < 43 || at == rt {
				t.Errorf("tokens must be distinct and ≥ 32 random bytes: %q %q", at, rt)
			}
			claims := jwtClaims(t, d["id_token"].(string))
			if claims["sub"] != "CANARY01" || claims["aud"] != "canary-app" || claims["iss"] != e.ts.URL+"/jans-auth" {
				t.Errorf("id_token claims: %v", claims)
			}
			if _, ok := claims["sid"]; ok {
				t.Error("ROPC creates no session, so the id token has no sid")
			}
			e.srv.mu.Lock()
			n := len(e.srv.st.sessions)
			e.srv.mu.Unlock()
			if n != 0 {
				t.Error("ROPC must create no session")
			}
		})
	}
}

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t, Options{})
	first := e.ropc("canary01", "canary-password-01")
	second := e.tokensFrom(e.refresh(first.refresh))
	if second.refresh == first.refresh || second.access == first.access {
		t.Fatal("refresh must rotate both tokens")
	}
	r := e.refresh(first.refresh)
	if r.status != 400 || r.str(t, "error") != "invalid_grant" || r.str(t, "error_description") != "Unable to find grant object for given code." {
		t.Errorf("reused refresh token: %d %s", r.status, r.body)
	}
	if !e.refreshWorks(second.refresh) || !e.active(second.access) || !e.active(first.access) {
		t.Error("the new refresh token and both access tokens must work")
	}
	// Another client cannot use the canary's refresh token.
	r = e.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.refresh}}, admin)
	if r.status != 400 {
		t.Errorf("other client's refresh: %d", r.status)
	}
}

func TestIntrospection(t *testing.T) {
	tests := []struct {
		name       string
		faults     Faults
		token      func(tk tokens) string
		auth       func(e *env) opt
		revoke     bool
		wantStatus int
		wantActive bool
	}{
		{"AT with Basic", Faults{}, func(tk tokens) string { return tk.access }, func(*env) opt { return admin }, false, 200, true},
		{"AT with Bearer of another token", Faults{}, func(tk tokens) string { return tk.access },
			func(e *env) opt { return bearerAuth(e.adminToken("openid")) }, false, 200, true},
		{"RT is never active", Faults{}, func(tk tokens) string { return tk.refresh }, func(*env) opt { return admin }, false, 200, false},
		{"unknown token", Faults{}, func(tokens) string { return "nope" }, func(*env) opt { return admin }, false, 200, false},
		{"revoked AT", Faults{}, func(tk tokens) string { return tk.access }, func(*env) opt { return admin }, true, 200, false},
		{"missing auth", Faults{}, func(tk tokens) string { return tk.access }, func(*env) opt { return func(*http.Request) {} }, false, 400, false},
		{"bad bearer", Faults{}, func(tk tokens) string { return tk.access }, func(*env) opt { return bearerAuth("bogus") }, false, 401, false},
		{"bad basic", Faults{}, func(tk tokens) string { return tk.access }, func(*env) opt { return basic("revprober-admin", "x") }, false, 401, false},
		{"always-active sees revoked AT", Faults{IntrospectionAlwaysActive: true}, func(tk tokens) string { return tk.access }, func(*env) opt { return admin }, true, 200, true},
		{"always-active still not RT", Faults{IntrospectionAlwaysActive: true}, func(tk tokens) string { return tk.refresh }, func(*env) opt { return admin }, false, 200, false},
		{"always-inactive hides live AT", Faults{IntrospectionAlwaysInactive: true}, func(tk tokens) string { return tk.access }, func(*env) opt { return admin }, false, 200, false},
		{"introspection-500", Faults{Introspection500: true}, func(tk tokens) string { return tk.access }, func(*env) opt { return admin }, false, 500, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			tk := e.ropc("canary01", "canary-password-01")
			// The faults first: a token revoked while no fault needs it
			// is forgotten (state.go), as a real server deletes it.
			e.srv.SetFaults(tt.faults)
			if tt.revoke {
				if s := e.gtr("canary01"); s != 204 {
					t.Fatalf("GTR: %d", s)
				}
			}
			r := e.do("POST", "/jans-auth/restv1/introspection", url.Values{"token": {tt.token(tk)}}, tt.auth(e))
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			if r.status != 200 {
				return
			}
			d := r.json(t)
			if d["active"] != tt.wantActive {
				t.Fatalf("active = %v, want %v", d["active"], tt.wantActive)
			}
			if !tt.wantActive && len(d) != 1 {
				t.Errorf("an inactive answer must say nothing else: %v", d)
			}
			if tt.wantActive && (d["username"] != "canary01" || d["sub"] != "CANARY01" || d["client_id"] != "canary-app" ||
				d["token_type"] != "Bearer" || d["scope"] != "openid offline_access" || d["exp"] == nil || d["iat"] == nil) {
				t.Errorf("active answer fields: %v", d)
			}
		})
	}
	t.Run("GET with query", func(t *testing.T) {
		e := newEnv(t, Options{})
		tk := e.ropc("canary01", "canary-password-01")
		r := e.do("GET", "/jans-auth/restv1/introspection?token="+url.QueryEscape(tk.access), nil, admin)
		if r.json(t)["active"] != true {
			t.Errorf("GET introspection: %s", r.body)
		}
	})
}

func TestRevokeRFC7009(t *testing.T) {
	tests := []struct {
		name        string
		token       func(tk tokens, other string) string
		hint        string
		wantStatus  int
		wantATAlive bool
		wantRTAlive bool
	}{
		{"refresh token kills the grant", func(tk tokens, _ string) string { return tk.refresh }, "", 200, false, false},
		{"access token kills the grant", func(tk tokens, _ string) string { return tk.access }, "access_token", 200, false, false},
		{"RT with refresh_token hint", func(tk tokens, _ string) string { return tk.refresh }, "refresh_token", 200, false, false},
		{"RT with access_token hint is not found (Janssen deviation)", func(tk tokens, _ string) string { return tk.refresh }, "access_token", 200, true, true},
		{"unknown token answers 200", func(tokens, string) string { return "unknown" }, "", 200, true, true},
		{"another client's token", func(_ tokens, other string) string { return other }, "", 400, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			tk := e.ropc("canary01", "canary-password-01")
			other := e.adminToken("openid")
			form := url.Values{"token": {tt.token(tk, other)}}
			if tt.hint != "" {
				form.Set("token_type_hint", tt.hint)
			}
			r := e.do("POST", "/jans-auth/restv1/revoke", form, app)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			if tt.wantStatus == 400 && (r.str(t, "error") != "invalid_request" || !e.active(other)) {
				t.Errorf("other client's token: %s, active %v", r.body, e.active(other))
			}
			if got := e.active(tk.access); got != tt.wantATAlive {
				t.Errorf("access token alive = %v, want %v", got, tt.wantATAlive)
			}
			if got := e.refreshWorks(tk.refresh); got != tt.wantRTAlive {
				t.Errorf("refresh works = %v, want %v", got, tt.wantRTAlive)
			}
		})
	}
	t.Run("bad client auth", func(t *testing.T) {
		e := newEnv(t, Options{})
		if r := e.do("POST", "/jans-auth/restv1/revoke", url.Values{"token": {"x"}}); r.status != 401 {
			t.Errorf("status %d", r.status)
		}
	})
}

func TestGlobalTokenRevocation(t *testing.T) {
	const body = `{"sub_id":{"format":"uid","id":"canary01"}}`
	tests := []struct {
		name       string
		faults     Faults
		features   []string
		body       string
		auth       func(e *env) opt
		wantStatus int
		wantError  string
		wantDead   bool
	}{
		{"success by uid", Faults{}, nil, body, func(*env) opt { return admin }, 204, "", true},
		{"success by mail", Faults{}, nil, `{"sub_id":{"format":"mail","id":"canary01@example.com"}}`, func(*env) opt { return admin }, 204, "", true},
		{"success with Bearer of the admin client", Faults{}, nil, body,
			func(e *env) opt { return bearerAuth(e.adminToken("openid")) }, 204, "", true},
		{"success by inum", Faults{}, nil, `{"sub_id":{"format":"inum","id":"CANARY01"}}`, func(*env) opt { return admin }, 204, "", true},
		{"unknown user still 204", Faults{}, nil, `{"sub_id":{"format":"uid","id":"ghost"}}`, func(*env) opt { return admin }, 204, "", false},
		// format is a user attribute name (§1.4): "email" is the claim, not
		// the attribute (mail), so nobody matches: 204 and nothing dies.
		{"format email: no such attribute, 204", Faults{}, nil, `{"sub_id":{"format":"email","id":"canary01@example.com"}}`, func(*env) opt { return admin }, 204, "", false},
		{"format dn: no such attribute, 204", Faults{}, nil, `{"sub_id":{"format":"dn","id":"inum=CANARY01,ou=people,o=jans"}}`, func(*env) opt { return admin }, 204, "", false},
		{"client without the scope", Faults{}, nil, body, func(*env) opt { return basic("no-scope-admin", "noscope-secret") }, 401, "invalid_request", false},
		{"bad credentials", Faults{}, nil, body, func(*env) opt { return basic("revprober-admin", "wrong") }, 401, "invalid_client", false},
		{"unparsable body", Faults{}, nil, `{"sub_id":`, func(*env) opt { return admin }, 400, "invalid_request", false},
		{"empty body", Faults{}, nil, ``, func(*env) opt { return admin }, 400, "invalid_request", false},
		// Unknown members are a parse failure (the simulator's strict
		// reading of Jackson; unconfirmed, docs/wire-facts.md §6).
		{"unknown member (draft -02 key)", Faults{}, nil, `{"subject":{"format":"uid","id":"canary01"}}`, func(*env) opt { return admin }, 400, "invalid_request", false},
		{"unknown member inside sub_id", Faults{}, nil, `{"sub_id":{"format":"uid","id":"canary01","iss":"x"}}`, func(*env) opt { return admin }, 400, "invalid_request", false},
		// A body that parses without sub_id: Janssen's NullPointerException,
		// 500 with an empty body (§1.4 [inferred]).
		{"no sub_id: {}", Faults{}, nil, `{}`, func(*env) opt { return admin }, 500, "", false},
		{"sub_id null", Faults{}, nil, `{"sub_id":null}`, func(*env) opt { return admin }, 500, "", false},
		{"sub_id without format or id", Faults{}, nil, `{"sub_id":{}}`, func(*env) opt { return admin }, 204, "", false},
		{"feature off", Faults{}, []string{"introspection", "userinfo", "status_session"}, body, func(*env) opt { return admin }, 403, "access_denied", false},
		{"revoke-500", Faults{Revoke500: true}, nil, body, func(*env) opt { return admin }, 500, "server_error", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{Features: tt.features})
			sess, web := e.browserLogin("canary01", "canary-password-01")
			ropc := e.ropc("canary01", "canary-password-01")
			bystander := e.ropc("canary02", "canary-password-02")
			e.srv.SetFaults(tt.faults)
			r := e.do("POST", "/jans-auth/restv1/global-token-revocation", tt.body, tt.auth(e), jsonBody)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			if tt.wantError != "" && r.str(t, "error") != tt.wantError {
				t.Errorf("error %q, want %q", r.str(t, "error"), tt.wantError)
			}
			if tt.wantError == "invalid_client" && r.header.Get("WWW-Authenticate") != `Basic realm="jans-auth"` {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
			if (r.status == 204 || tt.wantStatus == 500 && tt.wantError == "") && len(r.body) != 0 {
				t.Errorf("%d with a body: %q", r.status, r.body)
			}
			if r.status == 400 && r.str(t, "reason") != gtrReason {
				t.Errorf("400 reason %q, want %q", r.str(t, "reason"), gtrReason)
			}
			e.srv.SetFaults(Faults{})
			alive := !tt.wantDead
			for name, got := range map[string]bool{
				"web AT":   e.active(web.access),
				"ROPC AT":  e.active(ropc.access),
				"web RT":   e.refreshWorks(web.refresh),
				"ROPC RT":  e.refreshWorks(ropc.refresh),
				"session":  e.sessionState(sess) == "authenticated",
				"userinfo": e.userinfo(web.access) == 200,
			} {
				if got != alive {
					t.Errorf("%s alive = %v, want %v", name, got, alive)
				}
			}
			if !e.active(bystander.access) {
				t.Error("another user's token died")
			}
		})
	}
}

func TestRevokeSessionKillsSessionsOnly(t *testing.T) {
	tests := []struct {
		name       string
		auth       opt
		key, value string
		wantStatus int
		wantDead   bool
	}{
		{"by uid", admin, "uid", "canary01", 200, true},
		{"by mail", admin, "mail", "canary01@example.com", 200, true},
		{"by inum", admin, "inum", "CANARY01", 200, true},
		{"unknown user", admin, "uid", "ghost", 200, false},
		// user_criterion_key is an attribute name: "email" is the claim,
		// not the attribute, and a DN is no attribute at all.
		{"key email: no such attribute", admin, "email", "canary01@example.com", 200, false},
		{"key dn: no such attribute", admin, "dn", "inum=CANARY01,ou=people,o=jans", 200, false},
		{"client without revoke_session", basic("no-scope-admin", "noscope-secret"), "uid", "canary01", 401, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			sess, web := e.browserLogin("canary01", "canary-password-01")
			r := e.do("POST", "/jans-auth/restv1/revoke_session",
				url.Values{"user_criterion_key": {tt.key}, "user_criterion_value": {tt.value}}, tt.auth)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			if r.status == 200 && len(r.body) != 0 {
				t.Errorf("body %q, want empty", r.body)
			}
			if dead := e.sessionState(sess) == "unknown"; dead != tt.wantDead {
				t.Errorf("session dead = %v, want %v", dead, tt.wantDead)
			}
			if !e.active(web.access) || e.userinfo(web.access) != 200 || !e.refreshWorks(web.refresh) {
				t.Error("revoke_session must not touch tokens")
			}
		})
	}
}

func TestUserinfo(t *testing.T) {
	e := newEnv(t, Options{})
	tk := e.ropc("canary01", "canary-password-01")
	r := e.do("GET", "/jans-auth/restv1/userinfo", nil, bearerAuth(tk.access))
	if d := r.json(t); r.status != 200 || d["sub"] != "CANARY01" || d["preferred_username"] != "canary01" || d["email"] != "canary01@example.com" {
		t.Errorf("userinfo: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/jans-auth/restv1/userinfo", url.Values{"access_token": {tk.access}}); r.status != 200 {
		t.Errorf("form access_token: %d", r.status)
	}
	r = e.do("GET", "/jans-auth/restv1/userinfo", nil, bearerAuth("unknown"))
	if r.status != 401 || r.str(t, "error") != "invalid_token" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("unknown token: %d %v %s", r.status, r.header, r.body)
	}
	if r := e.do("GET", "/jans-auth/restv1/userinfo", nil); r.status != 400 || r.str(t, "error") != "invalid_request" {
		t.Errorf("missing token: %d %s", r.status, r.body)
	}
	if s := e.userinfo(e.adminToken("openid")); s != 403 {
		t.Errorf("client_credentials token: %d, want 403", s)
	}
	e.clk.Add(5 * time.Minute) // the access token expires
	if s := e.userinfo(tk.access); s != 401 {
		t.Errorf("expired token: %d", s)
	}
}

func TestAuthorizationCodeFlow(t *testing.T) {
	e := newEnv(t, Options{})

	page := e.do("GET", authorizeQuery(nil), nil)
	action, fields, visible := parseLoginForm(t, string(page.body))
	if action != "/jans-auth/restv1/authorize" || fields.Get("client_id") != "canary-app" ||
		strings.Join(visible, " ") != "text:username password:password" || !strings.Contains(string(page.body), `type="submit"`) {
		t.Fatalf("login form: action %q fields %v visible %v", action, fields, visible)
	}

	// Wrong password: the form again, no redirect, no session.
	fields.Set("username", "canary01")
	fields.Set("password", "wrong")
	if r := e.do("POST", action, fields); r.status != 200 || r.header.Get("Location") != "" || !strings.Contains(string(r.body), "Invalid") {
		t.Errorf("wrong password: %d %q", r.status, r.header.Get("Location"))
	}

	sess, tk := e.browserLogin("canary01", "canary-password-01")
	claims := jwtClaims(t, tk.id)
	if claims["sid"] == nil || claims["nonce"] != "n-1" || tk.refresh == "" || !e.active(tk.access) {
		t.Errorf("tokens from code: %v", claims)
	}
	if st := e.sessionState(sess); st != "authenticated" {
		t.Errorf("session_status = %q", st)
	}
	if st := e.sessionState("nope"); st != "unknown" {
		t.Errorf("session_status of unknown session = %q", st)
	}

	// prompt=none with the live session: a code, and it is single use.
	r := e.do("GET", authorizeQuery(url.Values{"prompt": {"none"}}), nil, cookie(sess))
	loc, _ := url.Parse(r.header.Get("Location"))
	code := loc.Query().Get("code")
	if r.status != 302 || code == "" || loc.Query().Get("state") != "st-1" || !strings.HasPrefix(loc.String(), redirectURI) {
		t.Fatalf("prompt=none with session: %d %q", r.status, loc)
	}
	if r := e.exchangeReply(code, "wrong-verifier"); r.status != 400 || r.str(t, "error") != "invalid_grant" {
		t.Errorf("wrong verifier: %d %s", r.status, r.body)
	}
	if r := e.exchangeReply(code, "verifier-0123456789-0123456789-0123456789"); r.status != 400 {
		t.Errorf("a code must be single use: %d", r.status)
	}

	// prompt=none without a live session: login_required.
	for _, c := range []opt{func(*http.Request) {}, cookie("dead")} {
		r := e.do("GET", authorizeQuery(url.Values{"prompt": {"none"}}), nil, c)
		loc, _ := url.Parse(r.header.Get("Location"))
		if r.status != 302 || loc.Query().Get("error") != "login_required" || loc.Query().Get("state") != "st-1" {
			t.Errorf("prompt=none without session: %d %q", r.status, loc)
		}
	}

	// Bad client or redirect URI: a 400 page, never a redirect.
	for _, q := range []url.Values{{"redirect_uri": {"http://evil.example/cb"}}, {"client_id": {"ghost"}}} {
		if r := e.do("GET", authorizeQuery(q), nil); r.status != 400 || r.header.Get("Location") != "" {
			t.Errorf("%v: %d %q", q, r.status, r.header.Get("Location"))
		}
	}
	// PKCE is required.
	r = e.do("GET", authorizeQuery(url.Values{"code_challenge": {""}}), nil)
	if loc, _ := url.Parse(r.header.Get("Location")); r.status != 302 || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("no PKCE: %d %q", r.status, r.header.Get("Location"))
	}
}

func TestLoginFailFaultOnForm(t *testing.T) {
	e := newEnv(t, Options{Faults: Faults{LoginFail: true}})
	action, fields, _ := parseLoginForm(t, string(e.do("GET", authorizeQuery(nil), nil).body))
	fields.Set("username", "canary01")
	fields.Set("password", "canary-password-01")
	r := e.do("POST", action, fields)
	if r.status != 200 || r.header.Get("Location") != "" || r.header.Get("Set-Cookie") != "" {
		t.Errorf("login-fail: %d %v", r.status, r.header)
	}
	if _, _, visible := parseLoginForm(t, string(r.body)); len(visible) != 2 {
		t.Error("the form must come back")
	}
}

func TestAuthorizeChallenge(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.do("POST", "/jans-auth/restv1/authorize-challenge", url.Values{"client_id": {"canary-app"},
		"username": {"canary01"}, "password": {"canary-password-01"}, "scope": {"openid offline_access"}})
	code := r.str(t, "authorization_code")
	var sess string
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == sessionCookie {
			sess = c.Value
		}
	}
	if code == "" || e.sessionState(sess) != "authenticated" {
		t.Fatalf("challenge: %s, session %q", r.body, sess)
	}
	tk := e.tokensFrom(e.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}}, app))
	if jwtClaims(t, tk.id)["sid"] == nil {
		t.Error("challenge tokens must be bound to the session")
	}
	if r := e.do("POST", "/jans-auth/restv1/authorize-challenge", url.Values{"client_id": {"revprober-admin"}}); r.status != 401 {
		t.Errorf("client without authorization_challenge scope: %d", r.status)
	}
}

func TestEndSession(t *testing.T) {
	e := newEnv(t, Options{})
	sess, web := e.browserLogin("canary01", "canary-password-01")
	ropc := e.ropc("canary01", "canary-password-01")
	r := e.do("GET", "/jans-auth/restv1/end_session?"+url.Values{"id_token_hint": {web.id},
		"post_logout_redirect_uri": {redirectURI}, "state": {"bye"}}.Encode(), nil, cookie(sess))
	if loc, _ := url.Parse(r.header.Get("Location")); r.status != 302 || loc.Query().Get("state") != "bye" {
		t.Fatalf("end_session: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	if e.sessionState(sess) != "unknown" || e.active(web.access) || e.refreshWorks(web.refresh) {
		t.Error("the session and its tokens (offline refresh token included) must die")
	}
	if !e.active(ropc.access) || !e.refreshWorks(ropc.refresh) {
		t.Error("ROPC tokens have no session and must survive")
	}

	// id_token_hint alone finds the session through sid.
	sess2, web2 := e.browserLogin("canary01", "canary-password-01")
	if r := e.do("POST", "/jans-auth/restv1/end_session", url.Values{"id_token_hint": {web2.id}}); r.status != 200 {
		t.Fatalf("end_session by hint: %d", r.status)
	}
	if e.sessionState(sess2) != "unknown" || e.active(web2.access) {
		t.Error("logout by id_token_hint did not end the session")
	}
	if r := e.do("POST", "/jans-auth/restv1/end_session", url.Values{}); r.status != 400 {
		t.Errorf("no session, no hint: %d", r.status)
	}
	if r := e.do("POST", "/jans-auth/restv1/end_session", url.Values{"id_token_hint": {"a.b.c"}}); r.status != 400 {
		t.Errorf("forged hint: %d", r.status)
	}
}

func TestConfigAPIDeleteUserSessions(t *testing.T) {
	const path = "/jans-config-api/api/v1/jans-auth-server/session/user/"
	dn := User{Inum: "CANARY01"}.DN()
	for _, escaped := range []bool{false, true} {
		name := "raw DN"
		p := path + dn
		if escaped {
			name, p = "escaped DN", path+strings.NewReplacer(",", "%2C", "=", "%3D").Replace(dn)
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Options{})
			sess, web := e.browserLogin("canary01", "canary-password-01")
			ropc := e.ropc("canary01", "canary-password-01")
			tok := e.adminToken("revoke_session https://jans.io/oauth/jans-auth-server/session.delete")
			if r := e.do("DELETE", p, nil, bearerAuth(tok)); r.status != 200 {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			if e.sessionState(sess) != "unknown" || e.active(web.access) || e.userinfo(web.access) != 401 {
				t.Error("the session and its access token must die")
			}
			next := e.refresh(web.refresh)
			if next.status != 200 || !e.active(e.tokensFrom(next).access) {
				t.Errorf("the refresh token must survive and give a live access token: %d %s", next.status, next.body)
			}
			if !e.active(ropc.access) || !e.refreshWorks(ropc.refresh) {
				t.Error("ROPC tokens must survive")
			}
			r := e.do("DELETE", p, nil, bearerAuth(tok))
			if r.status != 404 || r.str(t, "code") != "404" || !strings.HasPrefix(r.str(t, "message"), "No authenticated session exists for user") {
				t.Errorf("second delete: %d %s", r.status, r.body)
			}
		})
	}
	t.Run("auth", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.browserLogin("canary01", "canary-password-01")
		if r := e.do("DELETE", path+dn, nil); r.status != 401 {
			t.Errorf("no token: %d", r.status)
		}
		if r := e.do("DELETE", path+dn, nil, bearerAuth(e.adminToken("revoke_session"))); r.status != 403 {
			t.Errorf("one scope only: %d", r.status)
		}
	})
}

func TestBodyCap(t *testing.T) {
	e := newEnv(t, Options{})
	big := url.Values{"grant_type": {"password"}, "pad": {strings.Repeat("x", 2<<20)}}
	if r := e.do("POST", "/jans-auth/restv1/token", big, app); r.status != 400 {
		t.Errorf("2 MiB body: %d", r.status)
	}
}
