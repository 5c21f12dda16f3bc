package config

import (
	"fmt"
	"slices"
)

// endpointWarnings advises on a valid endpoint that is likely to mislead:
// a probe bound to fail, or to time out, for a documented reason that is
// not a revocation failure. Warnings never make the config invalid.
func (v *validator) endpointWarnings(g Global, t *Target, tp string, e *Endpoint, ep string) {
	if v.driverFacts == nil {
		return
	}
	f := v.driverFacts(e.Driver, e.Params)
	see := ""
	if f.Doc != "" {
		see = " (see " + f.Doc + ")"
	}
	if f.KeepsOfflineTokens && slices.Contains(t.Login.Scopes, "offline_access") && v.refreshChecked(t, e) {
		v.warnFor(ep+".driver", ep+".driver",
			"%s does not end offline sessions, and the target's login.scopes (%s) ask for offline_access: "+
				"the refresh check will fail with refresh_token_still_works. Log this target in without offline_access "+
				"(login.scopes: [openid, profile, email]) or set expect: {refresh_token: survives}%s",
			e.Driver, v.origin(tp+".login.scopes"), see)
	}
	// An asynchronous endpoint left on the global deadline, at most the
	// default 30s: nobody chose a deadline for it. A global deadline set
	// longer is taken as chosen (a one-IdP file such as configs/entra.yml).
	if _, _, deadline := v.targetSettings(g, t, tp); f.Async && e.Deadline == nil && t.Deadline == nil && deadline.d <= defaultDeadline {
		v.warnFor(ep+".deadline", ep+".driver",
			"%s revokes asynchronously, and neither this endpoint nor its target sets a deadline: it inherits the global %s (%s). "+
				"Set the endpoint's or the target's deadline to the delay the IdP documents, with a timeout above it%s",
			e.Driver, deadline.d, v.origin("global.deadline"), see)
	}
}

// refreshChecked: the refresh grant is verified and promised to die.
func (v *validator) refreshChecked(t *Target, e *Endpoint) bool {
	if t.Checks.Refresh != nil && !*t.Checks.Refresh {
		return false
	}
	x, set := e.Expect["refresh_token"]
	return !set || x == "dies"
}

// origin says where a setting's value comes from: "line N" or "the default".
func (v *validator) origin(path string) string {
	if v.present(path) {
		return fmt.Sprintf("line %d", v.line(path))
	}
	return "the default"
}
