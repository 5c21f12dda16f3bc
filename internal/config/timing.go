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

// window requires deadline + hold < timeout: an artifact may die as late
// as the deadline, and its hold window must still fit in the run. Like
// order, it is checked only where one of the three is set at level or
// below; deadline >= timeout is order's error, not reported twice.
func (v *validator) window(deadline, hold, timeout setting, level int) {
	if deadline.level < level && hold.level < level && timeout.level < level {
		return
	}
	if deadline.d <= 0 || hold.d <= 0 || timeout.d <= 0 || deadline.d >= timeout.d || deadline.d+hold.d < timeout.d {
		return
	}
	blame := hold
	for _, s := range []setting{deadline, timeout} {
		if s.rank() > blame.rank() {
			blame = s
		}
	}
	switch blame {
	case timeout:
		v.errorAt(timeout.path, "must be longer than the deadline plus the hold (%s + %s): raise it above %s, or shorten the deadline or the hold",
			deadline.d, hold.d, deadline.d+hold.d)
	case deadline:
		v.errorAt(deadline.path, "plus the hold (%s) must be shorter than the timeout (%s): shorten the deadline below %s, or shorten the hold, or raise the timeout",
			hold.d, timeout.d, timeout.d-hold.d)
	default:
		v.errorAt(hold.path, "plus the deadline (%s) must be shorter than the timeout (%s): shorten the hold below %s, or raise the timeout",
			deadline.d, timeout.d, timeout.d-deadline.d)
	}
}

func (v *validator) globalSetting(name string, d Duration) setting {
	p := "global." + name
	return setting{name: name, path: p, d: d, explicit: v.present(p)}
}

func (v *validator) globals(g *Global) (interval, timeout, deadline setting) {
	return v.globalSetting("interval", g.Interval), v.globalSetting("timeout", g.Timeout), v.globalSetting("deadline", g.Deadline)
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

// requestTimeoutFits requires request_timeout < timeout. Left at its
// default, the request timeout is not what the operator chose: the error
// is at the timeout and says both ways out.
func (v *validator) requestTimeoutFits(g Global, timeout setting, level int) {
	rt := v.globalSetting("request_timeout", g.RequestTimeout)
	if rt.explicit {
		v.order(rt, timeout, level)
		return
	}
	if timeout.level < level || timeout.d <= 0 || rt.d <= 0 || rt.d < timeout.d {
		return
	}
	v.errorAt(timeout.path, "must be longer than the request_timeout (%s, the default): raise it, or set global.request_timeout below %s",
		rt.d, timeout.d)
}

// targetHold is the target's hold: its own, else the global one.
func (v *validator) targetHold(g Global, t *Target, p string) setting {
	return inherit(v.globalSetting("hold", g.Hold), t.Hold, p)
}

// timing checks the target's overrides: timeout < interval, deadline <
// timeout, deadline + hold < timeout, request_timeout < timeout.
func (v *validator) timing(g Global, t *Target, p string) {
	for name, o := range map[string]*Duration{"interval": t.Interval, "timeout": t.Timeout, "deadline": t.Deadline, "hold": t.Hold} {
		if o != nil {
			v.positive(p+"."+name, *o)
		}
	}
	interval, timeout, deadline := v.targetSettings(g, t, p)
	v.order(timeout, interval, 1)
	v.order(deadline, timeout, 1)
	v.window(deadline, v.targetHold(g, t, p), timeout, 1)
	v.requestTimeoutFits(g, timeout, 1)
}

// endpointTiming checks an endpoint's deadline and hold against the
// target's timeout.
func (v *validator) endpointTiming(g Global, t *Target, tp string, e *Endpoint, ep string) {
	_, timeout, deadline := v.targetSettings(g, t, tp)
	hold := v.targetHold(g, t, tp)
	if e.Deadline != nil {
		v.positive(ep+".deadline", *e.Deadline)
		deadline = setting{name: "deadline", path: ep + ".deadline", d: *e.Deadline, level: 2, explicit: true}
		v.order(deadline, timeout, 2)
	}
	if e.Hold != nil {
		v.positive(ep+".hold", *e.Hold)
		hold = setting{name: "hold", path: ep + ".hold", d: *e.Hold, level: 2, explicit: true}
	}
	v.window(deadline, hold, timeout, 2)
}
