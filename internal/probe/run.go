package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
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
	return newRunner(p).drive(ctx, (*runner).execute, (*runner).judge)
}

func newRunner(p *Probe) *runner {
	r := &runner{p: p, trace: httpx.NewTrace(int(atomic.LoadInt32(&p.traced))), now: time.Now}
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
	return r
}

// drive runs steps within the probe's timeout, then the clean-up, and
// judges the observations when the steps went through (a pre-flight
// drives fewer steps and judges nothing). It never panics.
func (r *runner) drive(ctx context.Context, steps func(*runner, context.Context) error, judge func(*runner)) (run *verdict.Run) {
	p := r.p
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
	r.trace.SetRequestTimeout(p.RequestTimeout)
	runCtx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	r.client = httpx.Client(p.Transport, nil)

	err := steps(r, runCtx)
	if err != nil {
		// Said before the clean-up, which moves the run to another step.
		r.run.Result = verdict.Error
		r.run.Reason = verdict.ReasonOf(err, verdict.InternalError)
		r.run.Detail = err.Error()
		if runCtx.Err() != nil && errors.Is(runCtx.Err(), context.DeadlineExceeded) {
			r.run.Reason, r.run.Detail = verdict.Timeout, r.timeoutDetail()
		}
		if ctx.Err() != nil {
			// The caller's context ended, not the run's own timeout: the
			// prober is shutting down (context.Cause says why).
			r.run.Reason, r.run.Detail = verdict.Interrupted, r.interruptedDetail(context.Cause(ctx))
		}
	}
	r.cleaned = true
	r.cleanup(context.WithoutCancel(ctx))
	if err != nil {
		return
	}
	judge(r)
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
	stepNow string // the step in progress
	cleaned bool   // the clean-up was started
	// controlMark and verifyMark are the trace's unanswered-request counts
	// when the last positive control began and when verification ended
	// (restart.go): a request that went unanswered in between may have
	// been the IdP restarting with its tokens gone.
	controlMark, verifyMark int
}

func (r *runner) step(name string, f func() error) error {
	r.trace.SetStep(name)
	r.stepNow = name
	start := r.now()
	err := f()
	s := verdict.Step{Name: name, Duration: r.now().Sub(start)}
	if err != nil {
		s.Error = err.Error()
	}
	r.run.Steps = append(r.run.Steps, s)
	return err
}

// prepare is every step before the revocation: what a pre-flight runs.
func (r *runner) prepare(ctx context.Context) error {
	if err := r.step(verdict.StepDiscovery, func() error { return r.discover(ctx) }); err != nil {
		return err
	}
	// Planned before the login: a run that could prove nothing logs no
	// canary in, and the plan says how many grants a canary needs.
	r.plan()
	if err := r.checkPlan(); err != nil {
		return err
	}
	if err := r.step(verdict.StepLogin, func() error { return r.login(ctx) }); err != nil {
		return err
	}
	return r.step(verdict.StepPositive, func() error { return r.positiveControl(ctx) })
}

func (r *runner) execute(ctx context.Context) error {
	if err := r.prepare(ctx); err != nil {
		return err
	}
	// Informational, never fails the run; made before the revocation (its
	// JWKS fetch is a request that may find the IdP down: see restart.go).
	r.trace.SetStep(verdict.StepRevoke)
	r.residualValidity(ctx)
	if err := r.reestablishControl(ctx); err != nil {
		return err
	}
	if err := r.step(verdict.StepRevoke, func() error { return r.revoke(ctx) }); err != nil {
		return err
	}
	err := r.step(verdict.StepVerify, func() error { return r.verify(ctx) })
	r.verifyMark = r.trace.Unanswered()
	return err
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
	wait   *backchannel.Wait // the backchannel_logout check's registration
	verification
}

// plan lays out the checks of this run: the probe's candidates, for every
// canary, less those whose endpoint the issuer does not offer.
func (r *runner) plan() {
	for _, spec := range r.p.Canaries {
		r.canarie = append(r.canarie, &canaryState{spec: spec})
	}
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

// observe makes one check. The refresh check uses the canary's refresh
// grant and keeps its newest tokens; the other checks look at the main
// grant's access token and session.
func (r *runner) observe(ctx context.Context, c *check) (verdict.State, error) {
	cs := c.canary
	var (
		alive bool
		err   error
	)
	switch c.kind {
	case verdict.RefreshGrant:
		g := cs.refresh
		if g.tokens.RefreshToken.IsZero() {
			return verdict.Failed, errors.New("the login issued no refresh token")
		}
		var next *oauth.Tokens
		alive, next, err = oauth.Refresh(ctx, r.client, r.eps, r.p.LoginClient, g.tokens.RefreshToken)
		switch {
		case err != nil:
			g.refreshUncertain = true
		case alive:
			r.addSecrets(next)
			cs.adopt(g, next)
		case g.refreshUncertain:
			return verdict.Failed, errors.New("invalid_grant, but an earlier refresh attempt of this run got no clear answer: " +
				"the IdP may have rotated the refresh token then, so invalid_grant now proves no revocation")
		}
	case verdict.Introspection:
		alive, err = oauth.Introspect(ctx, r.client, r.eps.Introspection, r.p.Introspector, cs.accessToken(), "access_token")
	case verdict.Userinfo:
		alive, err = oauth.Userinfo(ctx, r.client, r.eps.Userinfo, cs.accessToken(), r.p.Checks.UserinfoDeadStatus)
	case verdict.PromptNone:
		if cs.main.tokens.Jar == nil {
			return verdict.Failed, errors.New("prompt=none needs a session-creating login (login.method: authorization_code)")
		}
		alive, err = oauth.PromptNone(ctx, cs.client, r.eps, r.p.LoginHosts, r.p.LoginClient.ID, r.p.RedirectURI, r.p.Scopes)
	case verdict.SessionStatus:
		if cs.main.tokens.Jar == nil || r.eps.SessionStatus == "" {
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
func (r *runner) positiveControl(ctx context.Context) error {
	r.controlMark = r.trace.Unanswered()
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
		cs.atExpiry = tokenExpiry(cs.main.tokens)
		cs.dc = cs.driverCanary()
		env.Canaries = append(env.Canaries, cs.dc)
	}
	r.env = env
	r.revoked = r.now()
	err := r.p.Driver.Revoke(ctx, env)
	if sent := env.SentAt(); !sent.IsZero() {
		r.revoked = sent // the revoking request itself, not the admin-token fetch before it
	}
	for _, c := range r.checks {
		if c.wait != nil {
			// Only a logout token issued and received after this request
			// notifies this revocation (not a replay, not a stale one).
			c.wait.Revoked(r.revoked)
		}
	}
	for _, cs := range r.canarie {
		if exp := cs.atExpiry; !exp.IsZero() && exp.Before(r.revoked.Add(r.p.Deadline)) {
			r.note("the access token of canary %s expires %s after the revocation, within the propagation deadline (%s): a death seen after its expiry is not credited to the revocation",
				cs.spec.Name, exp.Sub(r.revoked).Round(time.Millisecond), r.p.Deadline)
		}
		for _, a := range cs.dc.Fallbacks() {
			r.note("canary %s sets no %s attribute: the driver used its username instead (set attributes.%s if the IdP's %s differs from the login name)",
				cs.spec.Name, a, a, a)
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

// judge turns the observations into the verdict. Order matters: a
// promised artifact alive at the deadline is a fail even if another check
// errored (revocation is proven not enforced), and so is one that came
// back alive after it died; an error with nothing alive is an error; only
// then a pass, which needs every promised artifact dead and held dead.
func (r *runner) judge() {
	run := r.run
	var failed, cameBack, errored *check
	var slowest float64
	all := true
	for _, c := range r.checks {
		if c.obs.Expect != verdict.Dies {
			continue
		}
		switch {
		case c.dead && c.held:
			if s := *c.obs.PropagationSeconds; s > slowest {
				slowest = s
			}
		case c.cameBack:
			all = false
			if cameBack == nil {
				cameBack = c
			}
		case c.obs.After == verdict.Alive && c.expired:
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
	case cameBack != nil:
		o := cameBack.obs
		run.Result, run.Reason = verdict.Fail, verdict.CameBackAlive
		run.Detail = fmt.Sprintf("%s of canary %s came back alive: the %s check saw it dead %s after the revocation (%d dead answers in a row), then alive again %s after it, within the %s hold",
			o.Artifact, cameBack.canary.spec.Name, cameBack.kind, seconds(*o.FirstDeadSeconds), confirmations, seconds(*o.CameBackSeconds), r.p.Hold)
	case errored != nil:
		run.Result, run.Reason = verdict.Error, errored.kind.Unavailable()
		if errored.reason != "" {
			run.Reason = errored.reason
		}
		run.Detail = fmt.Sprintf("%s check (canary %s) could not observe the artifact: %v", errored.kind, errored.canary.spec.Name, errored.lastErr)
		if errored.dead {
			run.Detail = fmt.Sprintf("%s check (canary %s) saw the artifact dead, but could not observe it through its %s hold: %v", errored.kind, errored.canary.spec.Name, r.p.Hold, errored.lastErr)
		}
		run.Detail += r.restartNote()
	case promised == 0:
		// Nothing was promised dead, or nothing could check it: no proof.
		// (A delivered back-channel logout token is the IdP's word only.)
		run.Result, run.Reason = verdict.Error, verdict.ConfigError
		run.Detail = "no enabled check verifies anything this endpoint promises to kill"
		if len(r.checks) > 0 {
			run.Detail += " (a back-channel logout notification is the IdP's claim, not an observation: enable checks.prompt_none)"
		}
	case all && r.restartSuspected():
		r.uncredit()
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
	r.uncreditDeaths()
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
			// Tokens a check saw dead (and not come back) need no revocation.
			seenDead := map[secret.Secret]bool{}
			for _, c := range r.checks {
				if c.canary != cs || !c.dead {
					continue
				}
				switch c.obs.Artifact {
				case verdict.AccessToken:
					seenDead[cs.accessToken()] = true
				case verdict.RefreshToken:
					seenDead[cs.refresh.tokens.RefreshToken] = true
				}
			}
			for _, t := range cs.issued {
				if !t.dead && !seenDead[t.value] {
					live = append(live, t)
				}
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
		if cs.main == nil {
			continue // the login did not get that far
		}
		for _, g := range cs.grants() {
			prefix := cs.spec.Name + "/"
			if g.label != "" {
				prefix += g.label + "/"
			}
			if !g.tokens.AccessToken.IsZero() {
				run.Fingerprints[prefix+"access_token"] = fingerprint(g.tokens.AccessToken.Reveal())
			}
			if !g.tokens.RefreshToken.IsZero() {
				run.Fingerprints[prefix+"refresh_token"] = fingerprint(g.tokens.RefreshToken.Reveal())
			}
		}
	}
	run.Requests = r.trace.TakeRequests()
	if r.p != nil {
		atomic.StoreInt32(&r.p.traced, int32(len(run.Requests)))
	}
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
		// A path can carry a credential too. Only a URL the scrubber left
		// as it was is shared (httpx.SharedURL keeps it for good).
		u := run.Requests[i].URL
		if clean := scrub(u); clean != u {
			run.Requests[i].URL = clean
		} else {
			run.Requests[i].URL = httpx.SharedURL(u)
		}
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
