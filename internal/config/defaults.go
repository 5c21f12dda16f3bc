package config

import (
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults, as documented on the types.
const (
	defaultListen      = ":9543"
	defaultInterval    = Duration(time.Minute)
	defaultTimeout     = Duration(45 * time.Second)
	defaultDeadline    = Duration(30 * time.Second)
	defaultHold        = Duration(10 * time.Second)
	defaultReqTimeout  = Duration(5 * time.Second)
	defaultPollInitial = Duration(10 * time.Millisecond)
	defaultPollMax     = Duration(time.Second)
	defaultSLO         = Duration(30 * time.Second)
)

// applyDefaults makes the config effective: globals filled in, and every
// per-target default set. Target interval, timeout, deadline and hold stay nil
// when not overridden (see the Effective* methods) so that "inherits the
// global" remains visible. A duration written as 0 is not defaulted: the
// validation reports it.
func (d *decoder) applyDefaults(c *Config) {
	g := &c.Global
	if g.Listen == "" {
		g.Listen = defaultListen
	}
	for _, f := range []struct {
		key string
		v   *Duration
		def Duration
	}{
		{"interval", &g.Interval, defaultInterval},
		{"timeout", &g.Timeout, defaultTimeout},
		{"deadline", &g.Deadline, defaultDeadline},
		{"hold", &g.Hold, defaultHold},
		{"request_timeout", &g.RequestTimeout, defaultReqTimeout},
		{"poll_initial", &g.PollInitial, defaultPollInitial},
		{"poll_max", &g.PollMax, defaultPollMax},
		{"slo", &g.SLO, defaultSLO},
	} {
		if *f.v == 0 && !d.present("global."+f.key) {
			*f.v = f.def
		}
	}
	for i := range c.Targets {
		targetDefaults(&c.Targets[i])
	}
}

func targetDefaults(t *Target) {
	if t.Login.Method == "" {
		t.Login.Method = "password"
	}
	if len(t.Login.Scopes) == 0 {
		t.Login.Scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	for _, cl := range []*Client{&t.AdminClient, t.IntrospectionClient, &t.Login.Client} {
		if cl != nil && cl.AuthMethod == "" {
			cl.AuthMethod = "client_secret_basic"
		}
	}
	if len(t.Checks.UserinfoDeadStatus) == 0 {
		t.Checks.UserinfoDeadStatus = []int{401}
	}
	for i := range t.Checks.Resources {
		r := &t.Checks.Resources[i]
		if r.Method == "" {
			r.Method = "GET"
		}
		r.Method = strings.ToUpper(r.Method)
		if len(r.DeadStatus) == 0 {
			r.DeadStatus = []int{401, 403}
		}
	}
	for i := range t.Endpoints {
		if e := &t.Endpoints[i]; e.Name == "" {
			e.Name = e.Driver
		}
	}
	if t.Canary != nil && t.Canary.Name == "" {
		t.Canary.Name = t.Canary.Username
	}
	for i := range t.Canaries {
		if c := &t.Canaries[i]; c.Name == "" {
			c.Name = c.Username
		}
	}
}

// EffectiveInterval is the target's interval, else the global one.
func (t *Target) EffectiveInterval(g Global) time.Duration {
	return pick(t.Interval, g.Interval, defaultInterval)
}

// EffectiveTimeout is the target's run timeout, else the global one.
func (t *Target) EffectiveTimeout(g Global) time.Duration {
	return pick(t.Timeout, g.Timeout, defaultTimeout)
}

// EffectiveDeadline is the propagation deadline for endpoint e (which may be
// nil): the endpoint's, else the target's, else the global one.
func (t *Target) EffectiveDeadline(g Global, e *Endpoint) time.Duration {
	if e != nil && e.Deadline != nil {
		return e.Deadline.D()
	}
	return pick(t.Deadline, g.Deadline, defaultDeadline)
}

// EffectiveHold is the hold window for endpoint e (which may be nil): the
// endpoint's, else the target's, else the global one.
func (t *Target) EffectiveHold(g Global, e *Endpoint) time.Duration {
	if e != nil && e.Hold != nil {
		return e.Hold.D()
	}
	return pick(t.Hold, g.Hold, defaultHold)
}

// EffectiveRequestTimeout bounds every HTTP exchange of a run.
func (g Global) EffectiveRequestTimeout() time.Duration {
	return pick(nil, g.RequestTimeout, defaultReqTimeout)
}

// pick falls back to the built-in default when g is zero, so that a Config
// built in code (tests, the demo) behaves like a parsed one.
func pick(override *Duration, global, def Duration) time.Duration {
	switch {
	case override != nil:
		return override.D()
	case global != 0:
		return global.D()
	}
	return def.D()
}

// AllCanaries is the shorthand Canary followed by Canaries, each named
// (default: its username). The copies share their Attributes maps.
func (t *Target) AllCanaries() []Canary {
	var out []Canary
	if t.Canary != nil {
		out = append(out, *t.Canary)
	}
	out = append(out, t.Canaries...)
	for i := range out {
		if out[i].Name == "" {
			out[i].Name = out[i].Username
		}
	}
	return out
}

// IntrospectionEnabled reports whether introspection is checked (default true).
func (c Checks) IntrospectionEnabled() bool { return c.Introspection == nil || *c.Introspection }

// UserinfoEnabled reports whether userinfo is checked (default true).
func (c Checks) UserinfoEnabled() bool { return c.Userinfo == nil || *c.Userinfo }

// RefreshEnabled reports whether the refresh grant is checked (default true).
func (c Checks) RefreshEnabled() bool { return c.Refresh == nil || *c.Refresh }

// String writes the duration the way it is configured: "1m", not "1m0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalYAML writes "30s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads "30s", for decoding a Duration outside Parse (Parse
// also expands ${VAR} first).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
