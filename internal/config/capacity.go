package config

import (
	"fmt"
	"strings"
	"time"
)

// CanaryRunAllowance is what one run is expected to hold its canary for
// besides its verify window (deadline plus hold): discovery, login, the
// positive control, the revocation request and the clean-up, a few
// exchanges with the identity provider.
const CanaryRunAllowance = 2 * time.Second

// canaryGroup is the probes that share one canary user of one identity
// provider: they run one after another.
type canaryGroup struct {
	name   string   // the canary's name (its username by default): not a secret
	path   string   // where the group's first probe names the canary
	probes []string // target/endpoint, in file order
	need   time.Duration
	// interval is the shortest interval of the group's probes.
	interval time.Duration
}

// canaryCapacity warns when the probes that share a canary cannot all run,
// one after another, within the shortest of their intervals: each may hold
// the canary for its deadline plus its hold (a run waits that long before
// it passes or fails) plus CanaryRunAllowance. Their runs then queue, are
// skipped as canary_busy, and their verdicts age. A single probe on its
// canary is not warned about: timeout < interval already bounds it.
func (v *validator) canaryCapacity(c *Config) {
	groups := map[string]*canaryGroup{}
	var order []string
	for i := range c.Targets {
		t := &c.Targets[i]
		idp := strings.ToLower(strings.TrimSuffix(t.Issuer, "/"))
		if idp == "" {
			idp = strings.ToLower(t.URLs.Token)
		}
		interval := c.Global.Interval.D()
		if t.Interval != nil {
			interval = t.Interval.D()
		}
		for _, e := range t.Endpoints {
			need := effective(c.Global.Deadline, t.Deadline, e.Deadline) + effective(c.Global.Hold, t.Hold, e.Hold) + CanaryRunAllowance
			for _, cn := range canariesWithPaths(t, fmt.Sprintf("targets[%d]", i)) {
				key := idp + "\x00" + cn.Username
				g := groups[key]
				if g == nil {
					g = &canaryGroup{name: cn.Name, path: cn.path, interval: interval}
					groups[key] = g
					order = append(order, key)
				}
				g.probes = append(g.probes, t.Name+"/"+e.Name)
				g.need += need
				g.interval = min(g.interval, interval)
			}
		}
	}
	for _, key := range order {
		g := groups[key]
		if len(g.probes) < 2 || g.need <= g.interval {
			continue
		}
		v.warnFor(g.path, g.path,
			"canary %q is shared by %d probes (%s), which run one after another: each holds it for up to its deadline plus its hold plus about %s, %s in all, "+
				"longer than the shortest of their intervals (%s). Their runs will be skipped (canary_busy) and their verdicts age: "+
				"give some of them a canary user of their own, or lengthen the interval to more than %s",
			g.name, len(g.probes), strings.Join(g.probes, ", "), CanaryRunAllowance, g.need, g.interval, g.need)
	}
}

// effective is the most specific of a global, target and endpoint setting.
func effective(global Duration, target, endpoint *Duration) time.Duration {
	switch {
	case endpoint != nil:
		return endpoint.D()
	case target != nil:
		return target.D()
	}
	return global.D()
}

type canaryAt struct {
	Canary
	path string // the path of its username
}

// canariesWithPaths is AllCanaries with the path of each one's username.
func canariesWithPaths(t *Target, p string) []canaryAt {
	all := t.AllCanaries()
	out := make([]canaryAt, len(all))
	for i, c := range all {
		switch {
		case t.Canary != nil && i == 0:
			out[i] = canaryAt{c, p + ".canary.username"}
		case t.Canary != nil:
			out[i] = canaryAt{c, fmt.Sprintf("%s.canaries[%d].username", p, i-1)}
		default:
			out[i] = canaryAt{c, fmt.Sprintf("%s.canaries[%d].username", p, i)}
		}
	}
	return out
}
