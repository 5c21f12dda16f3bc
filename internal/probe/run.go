package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/revprober/revprober/internal/backchannel"
	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

// CleanupTimeout bounds the clean-up, which runs on a fresh context so a
// run that timed out still revokes what it left alive: a run may last
// this long past its timeout, and coordinators hold a canary that long.
const CleanupTimeout = 10 * time.Second

// confirmations is how many dead answers in a row settle a check. One is
// not enough: behind a load balancer one IdP node may have revoked while
// another still accepts the token, and a single lucky answer would pass.
// The propagation latency is taken from the first answer of the streak.
const confirmations = 2

// expirySkew is the margin before a token's expiry from which its death
// is no longer credited to the revocation (clocks of prober and IdP differ).
const expirySkew = 2 * time.Second

// Run executes one run of p. It never panics and always returns a record.
func Run(ctx context.Context, p *Probe) (run *verdict.Run) {
	r := &runner{p: p, trace: &httpx.Trace{}, now: time.Now}
	r.run = &verdict.Run{
		ID:       newRunID(),
		Target:   p.Target,
		Endpoint: p.Endpoint,
		Driver:   p.Kind,
		Started:  r.now(),
		Profile:  p.Profile,

		ConfigDigest: p.ConfigDigest,
	}
	collectSecrets(p, r.trace.Secrets())
	defer func() {
		if v := recover(); v != nil {
			r.run.Result, r.run.Reason = verdict.Error, verdict.InternalError
			r.run.Detail = fmt.Sprintf("panic: %v", v)
			// A panic must not leave live canary tokens behind either.
			if !r.cleaned {
				r.safeCleanup(context.WithoutCancel(ctx))
			}
		}
		r.finish()
		run = r.run
	}()

	ctx = httpx.WithTrace(ctx, r.trace)
	runCtx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	r.client = httpx.Client(p.Transport, nil)

	err := r.execute(runCtx)
	r.cleaned = true
	r.cleanup(context.WithoutCancel(ctx))
	if err != nil {
		r.run.Result = verdict.Error
		r.run.Reason = verdict.ReasonOf(err, verdict.InternalError)
		if runCtx.Err() != nil && errors.Is(runCtx.Err(), context.DeadlineExceeded) {
			r.run.Reason = verdict.Timeout
		}
		r.run.Detail = err.Error()
		return
	}
	r.judge()
	return
}

type runner struct {
	p       *Probe
	run     *verdict.Run
	trace   *httpx.Trace
	client  *http.Client
	now     func() time.Time
	eps     oauth.Endpoints
	canarie []*canaryState
	checks  []*check
	env     *driver.Env // set when the revoke call is made, for a Restorer
	jwks    *oauth.JWKS // the issuer's keys, fetched at most once per run
	revoked time.Time
	// deadlineReached is set when verification ran until the deadline (a
	// fail is only a fail if we waited the full deadline).
	deadlineReached bool
	cleaned         bool // the clean-up was started
}

// canaryState is a logged-in canary: its newest tokens and every token
// issued to it in this run, for the clean-up.
type canaryState struct {
	spec   Canary
	tokens *oauth.Tokens
	client *http.Client // carries the OP session cookies, if any
	issued []issuedToken
	dc     *driver.Canary
	// revokedAT is the access token alive when the revocation was sent:
	// the artifact the access-token checks verify. A token minted later by
	// a surviving refresh token is that refresh token's failure, not this
	// one's, and must not be confused with it.
	revokedAT secret.Secret
	// sid is the OP session id from a verified JWT access token or the ID
	// token, when known: the key a back-channel logout token names.
	sid string
	// revokedExpiry is when revokedAT expires by itself (expires_in, or the
	// JWT's exp if earlier); zero when unknown. A death seen after it
	// proves nothing about the revocation.
	revokedExpiry time.Time
	// refreshUncertain is set once a refresh attempt got no clear answer:
	// the IdP may have rotated the refresh token without our seeing the new
	// one, so a later invalid_grant no longer proves revocation.
	refreshUncertain bool
}

// accessToken is the access token the checks look at.
func (c *canaryState) accessToken() secret.Secret {
	if !c.revokedAT.IsZero() {
		return c.revokedAT
	}
	return c.tokens.AccessToken
}

type issuedToken struct {
	value secret.Secret
	hint  string
	dead  bool
}

func (c *canaryState) remember(t *oauth.Tokens) {
	if !t.AccessToken.IsZero() {
		c.issued = append(c.issued, issuedToken{value: t.AccessToken, hint: "access_token"})
	}
	if !t.RefreshToken.IsZero() {
		c.issued = append(c.issued, issuedToken{value: t.RefreshToken, hint: "refresh_token"})
	}
}

// adopt makes t the canary's newest tokens (refresh tokens rotate: the
// old one is dead by design and must never be mistaken for revoked).
func (c *canaryState) adopt(t *oauth.Tokens) {
	c.remember(t)
	if t.RefreshToken.IsZero() {
		t.RefreshToken = c.tokens.RefreshToken
	}
	if t.IDToken.IsZero() {
		t.IDToken = c.tokens.IDToken
	}
	t.Jar = c.tokens.Jar
	for i := range c.issued {
		// A rotated-out refresh token is dead by rotation, not revocation.
		if c.issued[i].hint == "refresh_token" && c.issued[i].value != t.RefreshToken {
			c.issued[i].dead = true
		}
	}
	c.tokens = t
	c.dc.Tokens = t
}

func (r *runner) step(name string, f func() error) error {
	r.trace.SetStep(name)
	start := r.now()
	err := f()
	s := verdict.Step{Name: name, Duration: r.now().Sub(start)}
	if err != nil {
		s.Error = err.Error()
	}
	r.run.Steps = append(r.run.Steps, s)
	return err
}

func (r *runner) execute(ctx context.Context) error {
	if err := r.step(verdict.StepDiscovery, func() error { return r.discover(ctx) }); err != nil {
		return err
	}
	if err := r.step(verdict.StepLogin, func() error { return r.login(ctx) }); err != nil {
		return err
	}
	r.plan()
	if err := r.checkPlan(); err != nil {
		return err
	}
	if err := r.step(verdict.StepPositive, func() error { return r.positiveControl(ctx) }); err != nil {
		return err
	}
	if err := r.step(verdict.StepRevoke, func() error { return r.revoke(ctx) }); err != nil {
		return err
	}
	return r.step(verdict.StepVerify, func() error { return r.verify(ctx) })
}

func (r *runner) discover(ctx context.Context) error {
	r.eps = r.p.URLs
	if r.p.Issuer == "" {
		return nil
	}
	d, err := oauth.Discover(ctx, r.client, r.p.Issuer)
	if err != nil {
		return &verdict.Err{Reason: verdict.DiscoveryFailed, Err: err}
	}
	r.eps = d.Merge(r.p.URLs)
	return nil
}

func (r *runner) login(ctx context.Context) error {
	for _, spec := range r.p.Canaries {
		var (
			toks *oauth.Tokens
			err  error
		)
		switch r.p.LoginMethod {
		case "authorization_code":
			toks, err = oauth.CodeLogin(ctx, r.p.Transport, r.eps, r.p.LoginHosts, r.p.LoginClient, r.p.RedirectURI, spec.Username, spec.Password, r.p.Scopes)
		default:
			toks, err = oauth.PasswordLogin(ctx, r.client, r.eps, r.p.LoginClient, spec.Username, spec.Password, r.p.Scopes)
		}
		if err != nil {
			return verdict.Errorf(verdict.LoginFailed, "canary %s: %v", spec.Name, err)
		}
		cs := &canaryState{spec: spec, tokens: toks, client: httpx.Client(r.p.Transport, toks.Jar)}
		cs.dc = &driver.Canary{Name: spec.Name, Username: spec.Username, Attributes: spec.Attributes, Tokens: toks, Jar: toks.Jar}
		cs.remember(toks)
		r.addSecrets(toks)
		r.canarie = append(r.canarie, cs)
	}
	return nil
}

// addSecrets adds a canary's tokens to the run's secrets (the trace's
// scrubber, which also scrubs error bodies as they are quoted).
func (r *runner) addSecrets(t *oauth.Tokens) {
	r.trace.Secrets().Add(t.AccessToken.Reveal(), t.RefreshToken.Reveal(), t.IDToken.Reveal())
}

// check is one observation of one canary's artifact.
type check struct {
	kind     verdict.Check
	canary   *canaryState
	resource *Resource
	obs      verdict.Observation
	lastErr  error
	// reason, when set, is the error reason of a check that could not
	// reach a state (instead of the check's own "unavailable" reason).
	reason verdict.Reason
	// deadStreak counts the dead answers in a row; dead is set once it
	// reaches confirmations.
	deadStreak int
	dead       bool
	wait       *backchannel.Wait // the backchannel_logout check's registration
}

// plan lays out the checks of this run: the probe's candidates, for every
// canary, less those whose endpoint the issuer does not offer.
func (r *runner) plan() {
	for _, cs := range r.canarie {
		for _, cand := range r.p.candidates() {
			if (cand.kind == verdict.Introspection && r.eps.Introspection == "") || (cand.kind == verdict.Userinfo && r.eps.Userinfo == "") {
				continue
			}
			expect := r.p.Profile.Expect(cand.kind.Artifact())
			c := &check{kind: cand.kind, canary: cs, resource: cand.resource}
			c.obs = verdict.Observation{Check: cand.kind, Artifact: cand.kind.Artifact(), Canary: cs.spec.Name, Expect: expect, Before: verdict.Skipped, After: verdict.Skipped}
			r.checks = append(r.checks, c)
		}
	}
}

// observe makes one check. The refresh check keeps the newest tokens.
func (r *runner) observe(ctx context.Context, c *check) (verdict.State, error) {
	cs := c.canary
	var (
		alive bool
		err   error
	)
	switch c.kind {
	case verdict.RefreshGrant:
		if cs.tokens.RefreshToken.IsZero() {
			return verdict.Failed, errors.New("the login issued no refresh token")
		}
		var next *oauth.Tokens
		alive, next, err = oauth.Refresh(ctx, r.client, r.eps, r.p.LoginClient, cs.tokens.RefreshToken)
		switch {
		case err != nil:
			cs.refreshUncertain = true
		case alive:
			r.addSecrets(next)
			cs.adopt(next)
		case cs.refreshUncertain:
			return verdict.Failed, errors.New("invalid_grant, but an earlier refresh attempt of this run got no clear answer: " +
				"the IdP may have rotated the refresh token then, so invalid_grant now proves no revocation")
		}
	case verdict.Introspection:
		alive, err = oauth.Introspect(ctx, r.client, r.eps.Introspection, r.p.Introspector, cs.accessToken(), "access_token")
	case verdict.Userinfo:
		alive, err = oauth.Userinfo(ctx, r.client, r.eps.Userinfo, cs.accessToken(), r.p.Checks.UserinfoDeadStatus)
	case verdict.PromptNone:
		if cs.tokens.Jar == nil {
			return verdict.Failed, errors.New("prompt=none needs a session-creating login (login.method: authorization_code)")
		}
		alive, err = oauth.PromptNone(ctx, cs.client, r.eps, r.p.LoginHosts, r.p.LoginClient.ID, r.p.RedirectURI, r.p.Scopes)
	case verdict.SessionStatus:
		if cs.tokens.Jar == nil || r.eps.SessionStatus == "" {
			return verdict.Failed, errors.New("session_status needs a session-creating login and a session_status URL")
		}
		alive, err = oauth.SessionStatus(ctx, cs.client, r.eps.SessionStatus)
	case verdict.ResourceCall:
		alive, err = oauth.Resource(ctx, r.client, c.resource.Method, c.resource.URL, cs.accessToken(), c.resource.DeadStatus)
	case verdict.BackchannelLogout:
		// Alive until a verified logout token for the canary's session
		// arrived; the first look (positive control) registers the wait.
		if c.wait == nil {
			if c.wait, err = r.expectLogout(cs); err != nil {
				return verdict.Failed, err
			}
		}
		_, got := c.wait.Arrived()
		alive = !got
	}
	if err != nil {
		return verdict.Failed, err
	}
	if alive {
		return verdict.Alive, nil
	}
	return verdict.Dead, nil
}

// positiveControl proves every planned check can see its artifact alive.
// The refresh check runs first so the other checks look at the newest
// access token.
func (r *runner) positiveControl(ctx context.Context) error {
	dead := map[*canaryState][]string{}
	total := map[*canaryState]int{}
	for _, c := range r.checks {
		st, err := r.observe(ctx, c)
		c.obs.Before = st
		total[c.canary]++
		switch st {
		case verdict.Failed:
			return verdict.Errorf(c.kind.Unavailable(), "positive control, %s (canary %s): %v", c.kind, c.canary.spec.Name, err)
		case verdict.Dead:
			dead[c.canary] = append(dead[c.canary], string(c.kind))
		}
	}
	// Judged per canary: another process revoking one canary of a group
	// is interference, not a misconfigured check.
	for _, cs := range r.canarie {
		d := dead[cs]
		switch {
		case len(d) == 0:
		case len(d) == total[cs]:
			// Everything died between login and revocation: somebody else
			// revoked the canary. Not our revocation, so no verdict.
			return verdict.Errorf(verdict.Interference, "every check saw canary %s's artifacts dead before the revocation (%s): another process revoked the canary, or the only check is misconfigured", cs.spec.Name, strings.Join(d, ", "))
		default:
			return verdict.Errorf(verdict.PositiveControlFailed, "before the revocation, %s saw a fresh token of canary %s dead while other checks saw it alive: that check is misconfigured", strings.Join(d, ", "), cs.spec.Name)
		}
	}
	return nil
}

// checkPlan refuses, before anything is revoked, a run that could prove
// nothing or that would silently skip a promise it was configured to
// check, and records what a pass will not cover.
func (r *runner) checkPlan() error {
	observed := map[verdict.Artifact]bool{}
	notified := false
	for _, c := range r.checks {
		// A back-channel logout token is the IdP's own claim that the
		// session ended, not an observation of the session: a missing one
		// can fail the run, an arrived one cannot pass it (see judge).
		switch {
		case c.obs.Expect != verdict.Dies:
		case c.kind == verdict.BackchannelLogout:
			notified = true
		default:
			observed[c.obs.Artifact] = true
		}
	}
	if len(observed) == 0 && !notified {
		return verdict.Errorf(verdict.ConfigError, "no enabled check verifies anything this endpoint promises to kill")
	}
	for _, a := range verdict.Artifacts {
		if r.p.Profile.Expect(a) != verdict.Dies || observed[a] {
			continue
		}
		why, chosen := r.unobserved(a)
		if !chosen {
			return verdict.Errorf(verdict.ConfigError, "the endpoint promises the %s dies, but %s", a, why)
		}
		r.run.Unverified = append(r.run.Unverified, verdict.Unverified{Artifact: a, Why: why})
	}
	return nil
}

// unobserved says why no check observes artifact a, and whether that is
// the operator's choice (a pass then says nothing about a) rather than a
// check the configuration asked for that the issuer cannot serve.
func (r *runner) unobserved(a verdict.Artifact) (why string, chosen bool) {
	ch := r.p.Checks
	switch a {
	case verdict.AccessToken:
		if ch.Introspection || ch.Userinfo {
			return "the issuer publishes no introspection_endpoint or userinfo_endpoint, so the enabled access-token checks cannot run " +
				"(set the target's urls.introspection or urls.userinfo, or endpoints[].expect.access_token: unchecked)", false
		}
		return "checks.introspection and checks.userinfo are off", true
	case verdict.RefreshToken:
		return "checks.refresh is off", true
	case verdict.Session:
		switch {
		case r.p.LoginMethod != "authorization_code":
			return "a password login creates no OP session to check", true
		case r.p.Profile.BackchannelLogout && r.p.Backchannel != nil:
			return "only the back-channel logout notification is checked, which is the IdP's word, not an observation of the session (enable checks.prompt_none)", true
		}
		return "no session check is enabled (checks.prompt_none, checks.session_status)", true
	default:
		return "no checks.resources are configured", true
	}
}

func (r *runner) revoke(ctx context.Context) error {
	env := &driver.Env{
		HTTP:        r.client,
		Endpoints:   r.eps,
		URL:         r.p.EndpointURL,
		Admin:       r.p.Admin,
		LoginClient: r.p.LoginClient,
	}
	for _, cs := range r.canarie {
		cs.revokedAT = cs.tokens.AccessToken
		cs.revokedExpiry = tokenExpiry(cs.tokens)
		env.Canaries = append(env.Canaries, cs.dc)
	}
	r.residualValidity(ctx) // informational: never fails the run
	r.env = env
	r.revoked = r.now()
	err := r.p.Driver.Revoke(ctx, env)
	if sent := env.SentAt(); !sent.IsZero() {
		r.revoked = sent // the revoking request itself, not the admin-token fetch before it
	}
	for _, cs := range r.canarie {
		if exp := cs.revokedExpiry; !exp.IsZero() && exp.Before(r.revoked.Add(r.p.Deadline)) {
			r.note("the access token of canary %s expires %s after the revocation, within the propagation deadline (%s): a death seen after its expiry is not credited to the revocation",
				cs.spec.Name, exp.Sub(r.revoked).Round(time.Millisecond), r.p.Deadline)
		}
	}
	if err != nil {
		var withReason *verdict.Err
		if errors.As(err, &withReason) {
			return err
		}
		return &verdict.Err{Reason: verdict.RevokeHTTPError, Err: err}
	}
	return nil
}

// verify polls every promised-dead check until it is settled dead (seen
// dead confirmations times in a row) or the propagation deadline passes.
// The interval grows with the time since the revocation (5 % of it, within
// PollInitial..PollMax), so the measured latency is within about 5 % of
// the truth without hammering the IdP.
func (r *runner) verify(ctx context.Context) error {
	deadline := r.revoked.Add(r.p.Deadline)
	var pending []*check
	for _, c := range r.checks {
		if c.obs.Expect == verdict.Dies {
			pending = append(pending, c)
		}
	}
	cutShort := func() error {
		return verdict.Errorf(verdict.Timeout, "verification cut short by the run timeout (%s) before the propagation deadline", r.p.Timeout)
	}
	for {
		var still []*check
		for _, c := range pending {
			if err := r.poll(ctx, c); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return cutShort()
			}
			if !c.dead && c.reason == "" {
				still = append(still, c)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		now := r.now()
		if !now.Before(deadline) {
			r.deadlineReached = true
			// A check seen dead at the last poll gets its confirmation
			// now: it was dead by the deadline, or it came back.
			for _, c := range pending {
				if c.deadStreak == 0 {
					continue
				}
				if err := r.poll(ctx, c); err != nil {
					return err
				}
				if ctx.Err() != nil {
					return cutShort()
				}
				if c.obs.After == verdict.Dead && c.reason == "" {
					c.dead = true
				}
			}
			break
		}
		wait := now.Sub(r.revoked) / 20
		wait = max(r.p.PollInitial, min(wait, r.p.PollMax, deadline.Sub(now)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return cutShort()
		case <-t.C:
		}
	}
	// Artifacts promised to survive are looked at once: found dead is
	// drift (the IdP changed behaviour), never a failure.
	for _, c := range r.checks {
		if c.obs.Expect != verdict.Survives {
			continue
		}
		st, err := r.observe(ctx, c)
		c.obs.Polls++
		c.obs.After, c.lastErr = st, err
		if st == verdict.Dead {
			c.obs.Drift = true
			c.dead = true
		}
	}
	return nil
}

// poll observes a promised-dead check once and updates its streak. A dead
// answer starts or extends the streak (the first one of a streak gives
// the propagation latency); an alive answer ends it; an answer that could
// not be had leaves it as it is. A dead access token at or after its own
// expiry settles the check as an error: expiry may have killed it.
func (r *runner) poll(ctx context.Context, c *check) error {
	sent := r.now()
	st, err := r.observe(ctx, c)
	c.obs.Polls++
	if ctx.Err() != nil {
		return nil // the caller reports the timeout
	}
	c.obs.After, c.lastErr = st, err
	switch st {
	case verdict.Alive:
		c.deadStreak, c.obs.PropagationSeconds = 0, nil
	case verdict.Dead:
		if exp := c.canary.revokedExpiry; c.obs.Artifact != verdict.RefreshToken && c.obs.Artifact != verdict.Session &&
			!exp.IsZero() && !sent.Before(exp.Add(-expirySkew)) {
			c.obs.After, c.reason = verdict.Failed, verdict.TokenExpired
			c.lastErr = fmt.Errorf("the access token was first seen dead %s after the revocation, when it had reached its own expiry: expiry, not the revocation, may have killed it (use a deadline shorter than the token lifetime)",
				sent.Sub(r.revoked).Round(time.Millisecond))
			return nil
		}
		c.deadStreak++
		if c.deadStreak == 1 {
			lat := sent.Sub(r.revoked).Seconds()
			if c.wait != nil { // the notification's own arrival time
				at, _ := c.wait.Arrived()
				if at.Before(r.revoked) {
					// Sent before our revocation: someone else logged
					// the canary out. Not proof of this endpoint.
					return verdict.Errorf(verdict.Interference, "a back-channel logout token for canary %s arrived before the revocation", c.canary.spec.Name)
				}
				lat = at.Sub(r.revoked).Seconds()
			}
			c.obs.PropagationSeconds = &lat
		}
		if c.deadStreak >= confirmations {
			c.dead = true
		}
	}
	return nil
}

// judge turns the observations into the verdict. Order matters: a
// promised artifact alive at the deadline is a fail even if another check
// errored (revocation is proven not enforced); an error with nothing alive
// is an error; only then a pass.
func (r *runner) judge() {
	run := r.run
	var failed, errored *check
	var slowest float64
	all := true
	for _, c := range r.checks {
		if c.obs.Expect != verdict.Dies {
			continue
		}
		switch {
		case c.dead:
			if s := *c.obs.PropagationSeconds; s > slowest {
				slowest = s
			}
		case c.obs.After == verdict.Alive && r.deadlineReached:
			all = false
			if failed == nil || artifactRank(c.obs.Artifact) < artifactRank(failed.obs.Artifact) {
				failed = c
			}
		default:
			all = false
			if errored == nil {
				errored = c
			}
		}
	}
	promised := 0
	for _, c := range r.checks {
		if c.obs.Expect == verdict.Dies && c.kind != verdict.BackchannelLogout {
			promised++
		}
	}
	switch {
	case failed != nil:
		run.Result, run.Reason = verdict.Fail, failed.obs.Artifact.StillAlive()
		run.Detail = fmt.Sprintf("%s of canary %s was still alive %s after the revocation (%s check, %d polls)",
			failed.obs.Artifact, failed.canary.spec.Name, r.p.Deadline, failed.kind, failed.obs.Polls)
	case errored != nil:
		run.Result, run.Reason = verdict.Error, errored.kind.Unavailable()
		if errored.reason != "" {
			run.Reason = errored.reason
		}
		run.Detail = fmt.Sprintf("%s check (canary %s) could not observe the artifact: %v", errored.kind, errored.canary.spec.Name, errored.lastErr)
	case promised == 0:
		// Nothing was promised dead, or nothing could check it: no proof.
		// (A delivered back-channel logout token is the IdP's word only.)
		run.Result, run.Reason = verdict.Error, verdict.ConfigError
		run.Detail = "no enabled check verifies anything this endpoint promises to kill"
		if len(r.checks) > 0 {
			run.Detail += " (a back-channel logout notification is the IdP's claim, not an observation: enable checks.prompt_none)"
		}
	case all:
		run.Result, run.Reason = verdict.Pass, verdict.ReasonNone
		run.PropagationSeconds = &slowest
	default:
		// Unreachable by construction; a run must never end without a verdict.
		run.Result, run.Reason = verdict.Error, verdict.InternalError
		run.Detail = "no verdict could be derived from the observations"
	}
	for _, c := range r.checks {
		if c.obs.Drift {
			run.Drift = appendUnique(run.Drift, c.obs.Artifact)
		}
	}
}

func artifactRank(a verdict.Artifact) int {
	for i, x := range verdict.Artifacts {
		if x == a {
			return i
		}
	}
	return len(verdict.Artifacts)
}

func appendUnique(list []verdict.Artifact, a verdict.Artifact) []verdict.Artifact {
	for _, x := range list {
		if x == a {
			return list
		}
	}
	return append(list, a)
}

// cleanup revokes, through RFC 7009 with the canaries' own client, every
// token this run issued that was not seen dead, so a failed run leaves no
// live canary token behind.
func (r *runner) cleanup(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, CleanupTimeout)
	defer cancel()
	_ = r.step(verdict.StepCleanup, func() error {
		defer r.restore(ctx)
		var live []issuedToken
		for _, cs := range r.canarie {
			// Tokens a check saw dead need no revocation.
			deadAT, deadRT := false, false
			for _, c := range r.checks {
				if c.canary == cs && c.dead {
					deadAT = deadAT || c.obs.Artifact == verdict.AccessToken
					deadRT = deadRT || c.obs.Artifact == verdict.RefreshToken
				}
			}
			for _, t := range cs.issued {
				if t.dead || (deadAT && t.hint == "access_token" && t.value == cs.accessToken()) ||
					(deadRT && t.hint == "refresh_token" && t.value == cs.tokens.RefreshToken) {
					continue
				}
				live = append(live, t)
			}
		}
		if len(live) == 0 {
			r.run.Cleanup = "nothing left alive"
			return nil
		}
		if r.eps.Revocation == "" {
			r.run.Cleanup = fmt.Sprintf("no revocation_endpoint: %d tokens left to expire", len(live))
			return errors.New(r.run.Cleanup)
		}
		// Refresh tokens first: revoking one kills its grant on most servers.
		var errs []string
		for _, hint := range []string{"refresh_token", "access_token"} {
			for _, t := range live {
				if t.hint != hint {
					continue
				}
				if err := oauth.RevokeToken(ctx, r.client, r.eps.Revocation, r.p.LoginClient, t.value, t.hint); err != nil {
					errs = append(errs, err.Error())
				}
			}
		}
		if len(errs) > 0 {
			r.run.Cleanup = fmt.Sprintf("revoked %d of %d tokens: %s", len(live)-len(errs), len(live), errs[0])
			return errors.New(r.run.Cleanup)
		}
		r.run.Cleanup = fmt.Sprintf("revoked %d tokens through RFC 7009", len(live))
		return nil
	})
}

// safeCleanup is the clean-up after a panic: it may meet the same broken
// state, so a second panic is caught and noted, not raised.
func (r *runner) safeCleanup(ctx context.Context) {
	defer func() {
		if v := recover(); v != nil {
			r.run.Cleanup = fmt.Sprintf("clean-up failed: panic: %v", v)
		}
	}()
	r.cleanup(ctx)
}

// restore undoes a revocation that changed the canary itself (driver.Restorer),
// after every run whose revoke call was made; its outcome joins the clean-up text.
func (r *runner) restore(ctx context.Context) {
	rs, ok := r.p.Driver.(driver.Restorer)
	if !ok || r.env == nil {
		return
	}
	if err := rs.Restore(ctx, r.env); err != nil {
		r.run.Cleanup += "; restoring the canaries FAILED (the next login may fail): " + err.Error()
		return
	}
	r.run.Cleanup += "; canaries restored"
}

// InsecureTLSNote is on every run record of a target with TLS verification
// off, so that evidence and the status page say it, not only a log line.
const InsecureTLSNote = "TLS verification is OFF for this target (insecure_skip_verify)"

// finish fills the record's observations, fingerprints and trace, and
// scrubs every known secret from its text: the configured ones, the
// canaries' tokens, and every credential the run sent or was issued (the
// trace's scrubber).
func (r *runner) finish() {
	run := r.run
	run.Duration = r.now().Sub(run.Started)
	for _, c := range r.checks {
		if c.wait != nil {
			c.wait.Close()
		}
		if c.lastErr != nil && c.obs.After == verdict.Failed {
			c.obs.Detail = c.lastErr.Error()
		}
		run.Checks = append(run.Checks, c.obs)
	}
	run.Fingerprints = map[string]string{}
	for _, cs := range r.canarie {
		if !cs.accessToken().IsZero() {
			run.Fingerprints[cs.spec.Name+"/access_token"] = fingerprint(cs.accessToken().Reveal())
		}
		if !cs.tokens.RefreshToken.IsZero() {
			run.Fingerprints[cs.spec.Name+"/refresh_token"] = fingerprint(cs.tokens.RefreshToken.Reveal())
		}
	}
	run.Requests = r.trace.Requests()
	if r.p != nil && r.p.InsecureTLS {
		run.Notes = append([]string{InsecureTLSNote}, run.Notes...)
	}
	scrub := r.trace.Secrets().Scrub
	run.Detail = scrub(run.Detail)
	for i := range run.Notes {
		run.Notes[i] = scrub(run.Notes[i])
	}
	run.Cleanup = scrub(run.Cleanup)
	for i := range run.Checks {
		run.Checks[i].Detail = scrub(run.Checks[i].Detail)
	}
	for i := range run.Steps {
		run.Steps[i].Error = scrub(run.Steps[i].Error)
	}
	for i := range run.Requests {
		run.Requests[i].URL = scrub(run.Requests[i].URL) // a path can carry a credential too
		run.Requests[i].Error = scrub(run.Requests[i].Error)
	}
}

// collectSecrets adds the probe's configured secrets to s: client secrets
// (with the Basic credentials they travel in), canary passwords, and the
// driver params declared secret.
func collectSecrets(p *Probe, s *secret.Scrubber) {
	for _, a := range []*oauth.ClientAuth{p.Admin, p.Introspector, p.LoginClient} {
		if a != nil {
			s.AddBasic(a.ID, a.Secret.Reveal())
		}
	}
	for _, c := range p.Canaries {
		s.Add(c.Password.Reveal())
	}
	for _, v := range p.ParamSecrets {
		s.Add(v.Reveal())
	}
}

// fingerprint is a short hash that identifies a token in evidence without
// revealing it.
func fingerprint(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

func newRunID() string {
	return time.Now().UTC().Format("20060102T150405") + "-" + oauth.RandomString(6)
}
