package idpsim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Faults can be changed while the server runs (safe for concurrent use through
// Server.SetFaults). The zero value is a correct server.
type Faults struct {
	IgnoreRevocation            bool          // revocation endpoints answer success but kill nothing
	KeepRefresh                 bool          // refresh tokens survive every revocation
	KeepAccess                  bool          // access tokens survive every revocation (a stale cache): introspection active, userinfo 200
	Delay                       time.Duration // revocation takes effect only Delay after the revoke request arrived (Slow included)
	IntrospectionAlwaysActive   bool          // introspection says active:true for any known token, even revoked
	IntrospectionAlwaysInactive bool          // introspection always says {"active":false}
	Introspection500            bool          // introspection answers 500
	Revoke500                   bool          // every revocation endpoint answers 500 and does nothing
	LoginFail                   bool          // password grant answers 401 invalid_client "Invalid user."; the HTML login form rejects the password
	Slow                        time.Duration // every response is delayed by Slow (respect request context cancellation)
	// Resurrect: every revoked token and session comes back alive Resurrect
	// after its revocation took effect, and stays alive (a stale replica or
	// cache repopulating from an un-updated store).
	Resurrect time.Duration
	// RefreshRevokesAccess: a refresh grant revokes the earlier access
	// tokens of its grant, as Ory Hydra and zitadel do.
	RefreshRevokesAccess bool
	// HangIntrospection, HangUserinfo and HangToken: that endpoint sends its
	// status and headers, then trickles the body one byte a second.
	HangIntrospection, HangUserinfo, HangToken bool
}

// FaultNames lists every fault name (without "=DURATION"), sorted, for help
// text and table tests.
var FaultNames = []string{
	"delay",
	"hang-introspection",
	"hang-token",
	"hang-userinfo",
	"ignore-revocation",
	"introspection-500",
	"introspection-always-active",
	"introspection-always-inactive",
	"keep-access",
	"keep-refresh",
	"login-fail",
	"refresh-revokes-access",
	"resurrect",
	"revoke-500",
	"slow",
}

// faultBools maps each boolean fault name to its field, so ParseFaults and
// Names cannot drift apart.
func faultBools(f *Faults) map[string]*bool {
	return map[string]*bool{
		"ignore-revocation":             &f.IgnoreRevocation,
		"introspection-500":             &f.Introspection500,
		"introspection-always-active":   &f.IntrospectionAlwaysActive,
		"introspection-always-inactive": &f.IntrospectionAlwaysInactive,
		"keep-access":                   &f.KeepAccess,
		"keep-refresh":                  &f.KeepRefresh,
		"login-fail":                    &f.LoginFail,
		"revoke-500":                    &f.Revoke500,
		"refresh-revokes-access":        &f.RefreshRevokesAccess,
		"hang-introspection":            &f.HangIntrospection,
		"hang-userinfo":                 &f.HangUserinfo,
		"hang-token":                    &f.HangToken,
	}
}

func faultDurations(f *Faults) map[string]*time.Duration {
	return map[string]*time.Duration{"delay": &f.Delay, "slow": &f.Slow, "resurrect": &f.Resurrect}
}

// ParseFaults turns fault names as users type them ("keep-refresh",
// "delay=250ms", ...) into Faults. An item may also hold several names
// separated by commas, so a single command-line flag can carry a list; empty
// items are ignored, so "" means "no fault".
func ParseFaults(specs []string) (Faults, error) {
	var f Faults
	bools, durs := faultBools(&f), faultDurations(&f)
	for _, spec := range specs {
		for _, item := range strings.Split(spec, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			name, val, hasVal := strings.Cut(item, "=")
			if b, ok := bools[name]; ok {
				if hasVal {
					return Faults{}, fmt.Errorf("fault %q: %s takes no value", item, name)
				}
				*b = true
				continue
			}
			d, ok := durs[name]
			if !ok {
				return Faults{}, fmt.Errorf("fault %q: unknown name (known: %s)", item, strings.Join(FaultNames, ", "))
			}
			if !hasVal {
				return Faults{}, fmt.Errorf("fault %q: %s needs a duration, e.g. %s=250ms", item, name, name)
			}
			v, err := time.ParseDuration(val)
			if err != nil || v < 0 {
				return Faults{}, fmt.Errorf("fault %q: bad duration %q", item, val)
			}
			*d = v
		}
	}
	// Both at once would make every introspection answer ambiguous.
	if f.IntrospectionAlwaysActive && f.IntrospectionAlwaysInactive {
		return Faults{}, fmt.Errorf("faults introspection-always-active and introspection-always-inactive exclude each other")
	}
	return f, nil
}

// Names is the inverse of ParseFaults: the sorted names of the faults that are
// on, durations as "delay=250ms".
func (f Faults) Names() []string {
	names := []string{}
	for name, b := range faultBools(&f) {
		if *b {
			names = append(names, name)
		}
	}
	for name, d := range faultDurations(&f) {
		if *d > 0 {
			names = append(names, name+"="+d.String())
		}
	}
	sort.Strings(names)
	return names
}
