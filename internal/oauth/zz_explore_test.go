package oauth

import (
	"context"
	"net/http"
	"os"
	"testing"

	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/secret"
)

func TestZZExplore(t *testing.T) {
	iss := os.Getenv("EXPLORE_ISSUER")
	if iss == "" {
		t.Skip()
	}
	ctx := context.Background()
	tr, _ := httpx.NewTransport(httpx.TLS{})
	c := httpx.Client(tr, nil)
	ep, err := Discover(ctx, c, iss)
	if err != nil {
		t.Fatal(err)
	}
	cl := &ClientAuth{ID: "canary-app", Secret: secret.New("canary-secret")}
	toks, err := CodeLogin(ctx, tr, ep, cl, "http://127.0.0.1/callback", os.Getenv("EXPLORE_USER"), secret.New("canary-password-01"), []string{"openid", "profile", "email", "offline_access"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("AT=%d RT=%d IDT=%d", len(toks.AccessToken.Reveal()), len(toks.RefreshToken.Reveal()), len(toks.IDToken.Reveal()))
	introCl := cl
	if os.Getenv("EXPLORE_ADMIN") != "" {
		introCl = &ClientAuth{ID: "revprober-admin", Secret: secret.New("admin-secret")}
	}
	a, err := Introspect(ctx, c, ep.Introspection, introCl, toks.AccessToken, "access_token")
	t.Logf("introspect %v %v", a, err)
	a, err = Userinfo(ctx, c, ep.Userinfo, toks.AccessToken, []int{401, 403})
	t.Logf("userinfo %v %v", a, err)
	sc := httpx.Client(tr, toks.Jar)
	a, err = PromptNone(ctx, sc, ep, "canary-app", "http://127.0.0.1/callback", []string{"openid", "profile", "email", "offline_access"})
	t.Logf("prompt none %v %v", a, err)
	a, nx, err := Refresh(ctx, c, ep, cl, toks.RefreshToken)
	t.Logf("refresh %v %v", a, err)
	_ = nx
	_ = http.MethodGet
}
