//go:build idps

package idps

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"
)

// hydraLoginApp is the login and consent app Hydra hands the browser to,
// on its own origin as real deployments run it: a login form whose
// password it checks itself, then Hydra's admin API to accept the login
// (remembered: that is the login session prompt=none finds) and the
// consent (every requested scope, offline_access included). A request
// Hydra marks skip=true (a live session or a remembered consent) is
// accepted without a form.
type hydraLoginApp struct {
	admin    string // Hydra's admin URL, set before the app serves
	password string // every canary's password; the subject is the username
	client   *http.Client
}

func newHydraLoginApp(password string) *hydraLoginApp {
	return &hydraLoginApp{password: password, client: &http.Client{Timeout: 10 * time.Second}}
}

func (a *hydraLoginApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/login" && r.Method == http.MethodGet:
		a.loginPage(w, r)
	case r.URL.Path == "/login" && r.Method == http.MethodPost:
		a.login(w, r)
	case r.URL.Path == "/consent" && r.Method == http.MethodGet:
		a.consent(w, r)
	default:
		http.NotFound(w, r)
	}
}

var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title></head><body>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="login_challenge" value="{{.Challenge}}">
<label>Username <input type="text" name="username"></label>
<label>Password <input type="password" name="password"></label>
<button type="submit">Sign in</button>
</form></body></html>
`))

func (a *hydraLoginApp) loginPage(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("login_challenge")
	var req struct {
		Skip    bool   `json:"skip"`
		Subject string `json:"subject"`
	}
	if err := a.call(http.MethodGet, "login", "login_challenge", challenge, nil, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if req.Skip { // Hydra already knows the user: a live login session
		a.accept(w, "login", "login_challenge", challenge, map[string]any{"subject": req.Subject})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginForm.Execute(w, map[string]string{"Challenge": challenge})
}

func (a *hydraLoginApp) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	challenge, user := r.PostForm.Get("login_challenge"), r.PostForm.Get("username")
	if user == "" || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("password")), []byte(a.password)) != 1 {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = loginForm.Execute(w, map[string]string{"Challenge": challenge, "Error": "Wrong username or password."})
		return
	}
	a.accept(w, "login", "login_challenge", challenge, map[string]any{"subject": user, "remember": true, "remember_for": 0})
}

func (a *hydraLoginApp) consent(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("consent_challenge")
	var req struct {
		Scopes   []string `json:"requested_scope"`
		Audience []string `json:"requested_access_token_audience"`
	}
	if err := a.call(http.MethodGet, "consent", "consent_challenge", challenge, nil, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	a.accept(w, "consent", "consent_challenge", challenge, map[string]any{
		"grant_scope": req.Scopes, "grant_access_token_audience": req.Audience, "remember": true, "remember_for": 0,
	})
}

// accept accepts a login or consent request and sends the browser where
// Hydra says.
func (a *hydraLoginApp) accept(w http.ResponseWriter, flow, param, challenge string, body map[string]any) {
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := a.call(http.MethodPut, flow+"/accept", param, challenge, body, &out); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Location", out.RedirectTo)
	w.WriteHeader(http.StatusFound)
}

// call is one request to /admin/oauth2/auth/requests/{path}?{param}={challenge}.
func (a *hydraLoginApp) call(method, path, param, challenge string, body, out any) error {
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	u := a.admin + "/admin/oauth2/auth/requests/" + path + "?" + url.Values{param: {challenge}}.Encode()
	req, err := http.NewRequest(method, u, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Description string `json:"error_description"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("hydra %s %s: %d %s", method, path, resp.StatusCode, e.Description)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
