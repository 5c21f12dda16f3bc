package backchannel_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revprober/revprober/internal/backchannel"
	"github.com/revprober/revprober/internal/fuzzwire"
	"github.com/revprober/revprober/internal/webguard"
)

// fuzzNow is the receiver's clock; the run's revocation went out 2 s before.
var fuzzNow = time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)

// signFuzz signs any bytes as the payload of an EdDSA JWS with the IdP's key.
func signFuzz(payload []byte) string {
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64([]byte(`{"alg":"EdDSA","kid":"k1","typ":"logout+jwt"}`)) + "." + b64(payload)
	return input + "." + b64(ed25519.Sign(fuzzwire.SigningKey, []byte(input)))
}

// specLogoutToken says whether claims make a logout token that OpenID
// Connect Back-Channel Logout 1.0 §2.4 and §2.6 accept from this IdP for
// this client (revprober also requires exp, §2.4 RECOMMENDED), and whether
// it ends the run's session (sid S1, or sub CANARY01 without sid).
func specLogoutToken(payload []byte) (valid, endsSession bool) {
	var c map[string]any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if d.Decode(&c) != nil || d.More() {
		return false, false
	}
	str := func(k string) (string, bool) { s, ok := c[k].(string); return s, ok }
	// A NumericDate is a JSON number; golang-jwt also reads one written as
	// a string holding a number, which means the same instant.
	num := func(k string) (float64, bool) {
		var n json.Number
		switch v := c[k].(type) {
		case json.Number:
			n = v
		case string:
			n = json.Number(v)
		default:
			return 0, false
		}
		f, err := n.Float64()
		return f, err == nil
	}
	iss, _ := str("iss")
	audOK := false
	switch a := c["aud"].(type) {
	case string:
		audOK = a == "canary-app"
	case []any:
		audOK = slices.Contains(a, any("canary-app"))
	}
	iat, hasIat := num("iat")
	exp, hasExp := num("exp")
	jti, _ := str("jti")
	sub, hasSub := str("sub")
	sid, hasSid := str("sid")
	events, _ := c["events"].(map[string]any)
	_, logout := events[backchannel.LogoutEvent].(map[string]any)
	_, hasNonce := c["nonce"]
	now := float64(fuzzNow.Unix())
	valid = iss == "https://op.example" && audOK && hasIat && iat <= now+30 && hasExp && exp > now-30 &&
		jti != "" && (sub != "" || sid != "") && logout && !hasNonce
	revoked := float64(fuzzNow.Add(-2 * time.Second).Unix())
	ends := (hasSid && sid != "" && sid == "S1" && (!hasSub || sub == "" || sub == "CANARY01")) ||
		((!hasSid || sid == "") && sub == "CANARY01")
	return valid, valid && ends && iat >= revoked-5
}

// FuzzBackchannelLogout POSTs a form to the receiver's HTTP handler: the
// form as fuzzed, or with a logout_token whose fuzzed claims are signed by
// the IdP's real key. A token counts for the run only when its claims are
// those the specification defines as a logout of the run's session; it is
// answered 200 only when it verifies; a refusal has a reason from
// webguard's closed list and never quotes the token.
func FuzzBackchannelLogout(f *testing.F) {
	good := `{"iss":"https://op.example","aud":"canary-app","iat":1796457600,"exp":1796457660,"jti":"j1","sub":"CANARY01","sid":"S1","events":{"http://schemas.openid.net/event/backchannel-logout":{}}}`
	f.Add([]byte(good), "")
	f.Add([]byte(strings.Replace(good, `{}}`, `1}`, 1)), "")
	f.Add([]byte(strings.Replace(good, `"sid":"S1"`, `"sid":"S2"`, 1)), "")
	f.Add([]byte(strings.Replace(good, `"iat":1796457600`, `"iat":"1796457600"`, 1)), "")
	f.Add([]byte(``), "logout_token=eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL29wLmV4YW1wbGUifQ.")
	f.Fuzz(func(t *testing.T, claims []byte, form string) {
		var refusal struct{ reason, why string }
		recv := backchannel.NewWithOptions(backchannel.Options{
			Now:     func() time.Time { return fuzzNow },
			Refused: func(_ *http.Request, reason, why string) { refusal.reason, refusal.why = reason, why },
		})
		w := recv.Expect(backchannel.Expectation{Issuer: "https://op.example", JWKS: "https://op.example/jwks", Audience: "canary-app",
			SID: "S1", Sub: "CANARY01", HTTP: fuzzwire.Client(fuzzwire.Answer{Status: 200, Body: []byte(fuzzwire.JWKS)})})
		defer w.Close()
		w.Revoked(fuzzNow.Add(-2 * time.Second))

		body := form
		if len(claims) > 0 {
			body = "logout_token=" + signFuzz(claims)
		}
		req := httptest.NewRequest(http.MethodPost, backchannel.Path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		recv.ServeHTTP(rec, req)

		vals, perr := url.ParseQuery(body)
		token := vals.Get("logout_token")
		var payload []byte
		if parts := strings.Split(token, "."); len(parts) == 3 {
			payload, _ = base64.RawURLEncoding.DecodeString(parts[1])
		}
		_, sigErr := jwt.Parse(token, func(*jwt.Token) (any, error) { return fuzzwire.SigningKey.Public(), nil },
			jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithoutClaimsValidation())
		valid, ends := specLogoutToken(payload)
		_, arrived := w.Arrived()
		switch {
		case rec.Code == http.StatusOK && (perr != nil || sigErr != nil || !valid):
			t.Fatalf("answered 200 to a logout token the specification refuses: %q", body)
		case arrived && (sigErr != nil || !ends):
			t.Fatalf("counted a logout token that does not end the run's session: %q", body)
		case rec.Code == http.StatusOK:
			return
		case rec.Code != http.StatusBadRequest:
			t.Fatalf("answered %d", rec.Code)
		case !slices.Contains([]string{webguard.InvalidToken, webguard.ReplayedToken, webguard.StaleToken,
			webguard.UnexpectedToken, webguard.JWKSUnavailable}, refusal.reason):
			t.Fatalf("refusal reason %q is not in webguard's closed list", refusal.reason)
		case len(token) >= 16 && strings.Contains(refusal.why, token):
			t.Fatalf("refusal quotes the logout token: %s", refusal.why)
		}
	})
}
