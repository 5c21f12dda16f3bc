package webguard

import (
	"net/http"
	"net/url"
	"strings"
)

// Handlers name the daemon's guarded routes in refusals: the closed list of
// the handler label of revprober_http_requests_refused_total.
const (
	HandlerReload      = "reload"             // POST /-/reload
	HandlerRunNow      = "run_now"            // POST /probes/{target}/{endpoint}/run
	HandlerStatus      = "status"             // the status pages and /config
	HandlerBackchannel = "backchannel_logout" // POST /backchannel-logout
	HandlerOther       = "other"              // any other route
)

// Reasons say why a request was refused: the closed list of the reason
// label of revprober_http_requests_refused_total.
const (
	ForeignHost     = "foreign_host"     // Host is not a name the daemon answers to (DNS rebinding)
	CrossOrigin     = "cross_origin"     // a state-changing request from another origin or site
	RateLimited     = "rate_limited"     // too many reloads, or run now of one probe too soon
	Busy            = "busy"             // run now while another run holds the canary
	InvalidToken    = "invalid_token"    // a logout token that does not verify
	ReplayedToken   = "replayed_token"   // a logout token whose jti was already received
	StaleToken      = "stale_token"      // a logout token issued before the run's revocation
	UnexpectedToken = "unexpected_token" // a logout token no run waits for (issuer, audience)
	JWKSUnavailable = "jwks_unavailable" // the issuer's keys could not be read
)

// Series are the (handler, reason) pairs that can occur: the counter's
// series, created at zero.
var Series = [][2]string{
	{HandlerReload, ForeignHost}, {HandlerReload, CrossOrigin}, {HandlerReload, RateLimited},
	{HandlerRunNow, ForeignHost}, {HandlerRunNow, CrossOrigin}, {HandlerRunNow, RateLimited}, {HandlerRunNow, Busy},
	{HandlerStatus, ForeignHost}, {HandlerStatus, CrossOrigin},
	{HandlerOther, ForeignHost}, {HandlerOther, CrossOrigin},
	{HandlerBackchannel, InvalidToken}, {HandlerBackchannel, ReplayedToken}, {HandlerBackchannel, StaleToken},
	{HandlerBackchannel, UnexpectedToken}, {HandlerBackchannel, JWKSUnavailable},
}

// Options configure a Guard.
type Options struct {
	// Hosts are the names the guarded routes answer to.
	Hosts *Hosts
	// ExternalURL is the daemon's address as browsers see it behind a
	// reverse proxy (https://prober.example.com/): its host is answered
	// to, and its origin may change state although its scheme or host
	// differ from the daemon's own listener.
	ExternalURL *url.URL
	// Open are the exact paths any Host, and any origin, may reach: the
	// read-only endpoints scraped or probed by address (/metrics,
	// /-/healthy, /-/ready) and the back-channel logout receiver, whose
	// tokens authenticate themselves.
	Open []string
	// Handler names a request's route for refusals (a Handler* constant).
	Handler func(*http.Request) string
	// Refusals logs and counts refused requests; nil refuses silently.
	Refusals *Refusals
}

// Guard applies the policy in front of a handler.
type Guard struct {
	opts    Options
	open    map[string]bool
	cop     *http.CrossOriginProtection
	trusted string // the external URL's origin, or ""
}

// New makes a Guard.
func New(opts Options) *Guard {
	if opts.Hosts == nil {
		opts.Hosts = NewHosts()
	}
	if opts.Handler == nil {
		opts.Handler = func(*http.Request) string { return HandlerOther }
	}
	g := &Guard{opts: opts, open: map[string]bool{}, cop: http.NewCrossOriginProtection()}
	for _, p := range opts.Open {
		g.open[p] = true
	}
	if u := opts.ExternalURL; u != nil && u.Host != "" {
		g.trusted = strings.ToLower(u.Scheme + "://" + u.Host)
		g.opts.Hosts.names[hostOnly(u.Host)] = true
		// The proxy's origin may post although it is not the listener's.
		_ = g.cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	return g
}

// Wrap returns next behind the guard.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reason := g.Check(r); reason != "" {
			g.opts.Refusals.Refuse(r, g.opts.Handler(r), reason)
			refuse(w, reason)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Check returns why r is refused, or "" when it may pass. Open paths pass.
// Every other route needs a Host the daemon answers to; a request that may
// change state (any method but GET, HEAD and OPTIONS) must also come from
// the same origin: Sec-Fetch-Site same-origin or none, or else an Origin of
// the same scheme and host as the request (or the external URL's origin),
// or no browser headers at all (curl, scripts).
func (g *Guard) Check(r *http.Request) string {
	if g.open[r.URL.Path] {
		return ""
	}
	if !g.opts.Hosts.Allowed(r.Host) {
		return ForeignHost
	}
	if err := g.cop.Check(r); err != nil {
		return CrossOrigin
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return ""
	}
	// CrossOriginProtection trusts Sec-Fetch-Site alone when it is sent and
	// compares Origin's host, not its scheme, when it is not: an Origin,
	// when present, must also be this very origin.
	if o := r.Header.Get("Origin"); o != "" && strings.ToLower(o) != g.trusted {
		u, err := url.Parse(o)
		if err != nil || u.Scheme != scheme(r) || !strings.EqualFold(u.Host, r.Host) {
			return CrossOrigin
		}
	}
	return ""
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// refuse answers a refused request. It names no header value back.
func refuse(w http.ResponseWriter, reason string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	switch reason {
	case ForeignHost:
		// 421: this server will not answer for that name.
		http.Error(w, "This prober does not answer to the host name of this request. If the name is the prober's, "+
			"add it with --web.allowed-host (or --web.external-url behind a reverse proxy).", http.StatusMisdirectedRequest)
	default:
		http.Error(w, "Refused: this request changes state and did not come from the prober's own pages.", http.StatusForbidden)
	}
}
