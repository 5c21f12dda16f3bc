package probe

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/hostmatch"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

// Compile turns a validated config into probes, one per target × endpoint.
// Probes with the same TLS settings share one transport.
func Compile(cfg *config.Config, log *slog.Logger) ([]*Probe, error) {
	transports := map[config.TLS]*http.Transport{}
	clients := map[clientKey]*oauth.ClientAuth{}
	var out []*Probe
	for ti := range cfg.Targets {
		t := &cfg.Targets[ti]
		tr, ok := transports[t.TLS]
		if !ok {
			var err error
			tr, err = httpx.NewTransport(httpx.TLS{CAFile: t.TLS.CAFile, CertFile: t.TLS.CertFile, KeyFile: t.TLS.KeyFile, InsecureSkipVerify: t.TLS.InsecureSkipVerify})
			if err != nil {
				return nil, fmt.Errorf("targets[%d] (%s).tls: %w", ti, t.Name, err)
			}
			if t.TLS.InsecureSkipVerify && log != nil {
				log.Warn("TLS VERIFICATION IS OFF: revprober cannot tell the real IdP from an impostor", "target", t.Name)
			}
			transports[t.TLS] = tr
		}
		admin, err := sharedClientAuth(clients, t.AdminClient)
		if err != nil {
			return nil, fmt.Errorf("targets[%d] (%s).admin_client: %w", ti, t.Name, err)
		}
		introspector := admin
		if t.IntrospectionClient != nil {
			if introspector, err = sharedClientAuth(clients, *t.IntrospectionClient); err != nil {
				return nil, fmt.Errorf("targets[%d] (%s).introspection_client: %w", ti, t.Name, err)
			}
		}
		login, err := sharedClientAuth(clients, t.Login.Client)
		if err != nil {
			return nil, fmt.Errorf("targets[%d] (%s).login.client: %w", ti, t.Name, err)
		}
		loginHosts, err := hostmatch.ParseList(t.Login.AllowedHosts)
		if err != nil {
			return nil, fmt.Errorf("targets[%d] (%s).login.allowed_hosts: %w", ti, t.Name, err)
		}
		var canaries []Canary
		for _, c := range t.AllCanaries() {
			canaries = append(canaries, Canary{Name: c.Name, Username: c.Username, Password: c.Password, Attributes: c.Attributes})
		}
		checks := Checks{
			Introspection:      t.Checks.IntrospectionEnabled(),
			Userinfo:           t.Checks.UserinfoEnabled(),
			Refresh:            t.Checks.RefreshEnabled(),
			PromptNone:         t.Checks.PromptNone,
			SessionStatus:      t.Checks.SessionStatus,
			UserinfoDeadStatus: t.Checks.UserinfoDeadStatus,
		}
		for _, r := range t.Checks.Resources {
			checks.Resources = append(checks.Resources, Resource{Name: r.Name, URL: r.URL, Method: r.Method, DeadStatus: r.DeadStatus})
		}
		for ei := range t.Endpoints {
			e := &t.Endpoints[ei]
			d, err := driver.Build(e.Driver, e.Params)
			if err != nil {
				return nil, fmt.Errorf("targets[%d].endpoints[%d] (%s/%s): %w", ti, ei, t.Name, e.Name, err)
			}
			prof, err := Override(d.Profile(), e.Expect)
			if err != nil {
				return nil, fmt.Errorf("targets[%d].endpoints[%d] (%s/%s).expect: %w", ti, ei, t.Name, e.Name, err)
			}
			out = append(out, &Probe{
				Target:               t.Name,
				Endpoint:             e.Name,
				Kind:                 e.Driver,
				Driver:               d,
				Profile:              prof,
				Interval:             t.EffectiveInterval(cfg.Global),
				Timeout:              t.EffectiveTimeout(cfg.Global),
				Deadline:             t.EffectiveDeadline(cfg.Global, e),
				Hold:                 t.EffectiveHold(cfg.Global, e),
				RequestTimeout:       cfg.Global.EffectiveRequestTimeout(),
				PollInitial:          cfg.Global.PollInitial.D(),
				PollMax:              cfg.Global.PollMax.D(),
				Issuer:               t.Issuer,
				URLs:                 urls(t.URLs),
				EndpointURL:          e.URL,
				Admin:                admin,
				Introspector:         introspector,
				LoginClient:          login,
				LoginMethod:          t.Login.Method,
				RedirectURI:          t.Login.RedirectURI,
				LoginHosts:           loginHosts,
				BackchannelLogoutURI: t.Login.BackchannelLogoutURI,
				Scopes:               t.Login.Scopes,
				Canaries:             canaries,
				Checks:               checks,
				Transport:            tr,
				InsecureTLS:          t.TLS.InsecureSkipVerify,
				ParamSecrets:         secrets(driver.SecretValues(e.Driver, e.Params)),
				ConfigDigest:         cfg.Digest,
			})
		}
	}
	return out, nil
}

// Override applies the operator's expect: map to a driver's profile. The
// result is marked Overridden so evidence shows the promise was changed.
func Override(p verdict.Profile, expect map[string]string) (verdict.Profile, error) {
	for k, v := range expect {
		a := verdict.Artifact(k)
		known := false
		for _, x := range verdict.Artifacts {
			known = known || x == a
		}
		if !known {
			return p, fmt.Errorf("unknown artifact %q", k)
		}
		e := verdict.Expect(v)
		if e != verdict.Dies && e != verdict.Survives && e != verdict.Unchecked {
			return p, fmt.Errorf("%s: %q is not dies, survives or unchecked", k, v)
		}
		if p.Expect(a) != e {
			p.Set(a, e)
			p.Overridden = true
		}
	}
	return p, nil
}

// clientKey identifies a client authentication that needs no key file.
type clientKey struct {
	id     string
	secret secret.Secret
	method string
}

// sharedClientAuth is the probes' one *oauth.ClientAuth for each client
// they authenticate as alike (ten thousand targets of one identity
// provider name the same admin and login clients): nothing changes a
// ClientAuth once compiled. A private_key_jwt client, which loads its key
// file, gets one of its own.
func sharedClientAuth(shared map[clientKey]*oauth.ClientAuth, c config.Client) (*oauth.ClientAuth, error) {
	if c.AuthMethod == "private_key_jwt" {
		return clientAuth(c)
	}
	k := clientKey{id: c.ClientID, secret: c.ClientSecret, method: c.AuthMethod}
	if a, ok := shared[k]; ok {
		return a, nil
	}
	a, err := clientAuth(c)
	if err == nil {
		shared[k] = a
	}
	return a, err
}

func clientAuth(c config.Client) (*oauth.ClientAuth, error) {
	a := &oauth.ClientAuth{ID: c.ClientID, Secret: c.ClientSecret, Method: c.AuthMethod}
	if c.AuthMethod == "private_key_jwt" {
		k, err := oauth.LoadPrivateKey(c.PrivateKeyFile)
		if err != nil {
			return nil, err
		}
		a.Key = k
	}
	return a, nil
}

func secrets(values []string) []secret.Secret {
	var out []secret.Secret
	for _, v := range values {
		out = append(out, secret.New(v))
	}
	return out
}

func urls(u config.URLs) oauth.Endpoints {
	return oauth.Endpoints{
		Authorization:         u.Authorization,
		Token:                 u.Token,
		Introspection:         u.Introspection,
		Userinfo:              u.Userinfo,
		Revocation:            u.Revocation,
		EndSession:            u.EndSession,
		SessionStatus:         u.SessionStatus,
		GlobalTokenRevocation: u.GlobalTokenRevocation,
		SessionRevocation:     u.SessionRevocation,
		JWKS:                  u.JWKS,
	}
}
