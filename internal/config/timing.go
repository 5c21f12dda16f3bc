package config

// setting is one effective duration and where it comes from, so that an
// ordering error can be shown at the value the operator should change.
type setting struct {
	name, path string
	d          Duration
	level      int  // 0 global, 1 target, 2 endpoint
	explicit   bool // written in the file, not a default
}

// rank orders blame: a more specific level, then a written value, wins.
func (s setting) rank() int {
	if s.explicit {
		return 2*s.level + 1
	}
	return 2 * s.level
}

// order requires short < long, checked only where one of them is set at
// level or below, so an inherited problem is reported once, where it is set.
func (v *validator) order(short, long setting, level int) {
	if short.level < level && long.level < level || short.d <= 0 || long.d <= 0 || short.d < long.d {
		return
	}
	if long.rank() > short.rank() {
		v.errorAt(long.path, "must be longer than the %s (%s)", short.name, short.d)
	} else {
		v.errorAt(short.path, "must be shorter than the %s (%s)", long.name, long.d)
	}
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.errorAt(path, "must be positive")
	}
}

func (v *validator) globals(g *Global) (interval, timeout, deadline setting) {
	at := func(name string, d Duration) setting {
		p := "global." + name
		return setting{name: name, path: p, d: d, explicit: v.present(p)}
	}
	return at("interval", g.Interval), at("timeout", g.Timeout), at("deadline", g.Deadline)
}

// inherit is the target's override of a global setting, if any.
func inherit(s setting, override *Duration, p string) setting {
	if override == nil {
		return s
	}
	return setting{name: s.name, path: p + "." + s.name, d: *override, level: 1, explicit: true}
}

func (v *validator) targetSettings(g Global, t *Target, p string) (interval, timeout, deadline setting) {
	interval, timeout, deadline = v.globals(&g)
	return inherit(interval, t.Interval, p), inherit(timeout, t.Timeout, p), inherit(deadline, t.Deadline, p)
}

// timing checks the target's overrides: timeout < interval, deadline < timeout.
func (v *validator) timing(g Global, t *Target, p string) {
	for name, o := range map[string]*Duration{"interval": t.Interval, "timeout": t.Timeout, "deadline": t.Deadline} {
		if o != nil {
			v.positive(p+"."+name, *o)
		}
	}
	interval, timeout, deadline := v.targetSettings(g, t, p)
	v.order(timeout, interval, 1)
	v.order(deadline, timeout, 1)
}

// endpointTiming checks an endpoint's deadline against the target's timeout.
func (v *validator) endpointTiming(g Global, t *Target, tp string, e *Endpoint, ep string) {
	if e.Deadline == nil {
		return
	}
	v.positive(ep+".deadline", *e.Deadline)
	_, timeout, _ := v.targetSettings(g, t, tp)
	deadline := setting{name: "deadline", path: ep + ".deadline", d: *e.Deadline, level: 2, explicit: true}
	v.order(deadline, timeout, 2)
}
