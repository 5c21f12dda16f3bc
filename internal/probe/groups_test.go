package probe_test

import (
	"fmt"
	"testing"

	"github.com/revprober/revprober/internal/probe"
)

// TestCanaryGroups: probes sharing a canary user, directly or through a
// chain of probes, land in one group (their runs must not overlap); the
// others are groups of their own; order follows the config.
func TestCanaryGroups(t *testing.T) {
	mk := func(issuer string, users ...string) *probe.Probe {
		p := &probe.Probe{Issuer: issuer}
		for _, u := range users {
			p.Canaries = append(p.Canaries, probe.Canary{Name: u, Username: u})
		}
		return p
	}
	probes := []*probe.Probe{
		mk("https://a", "u1"),       // 0
		mk("https://a", "u2"),       // 1
		mk("https://a", "u3", "u1"), // 2: shares u1 with 0
		mk("https://a", "u3"),       // 3: shares u3 with 2, so with 0
		mk("https://b", "u1"),       // 4: same name at another IdP: another user
		mk("https://a/", "u2"),      // 5: the same IdP as 1
	}
	got := fmt.Sprint(probe.CanaryGroups(probes))
	if want := "[[0 2 3] [1 5] [4]]"; got != want {
		t.Errorf("groups %s, want %s", got, want)
	}
	if got := fmt.Sprint(probe.CanaryGroups(nil)); got != "[]" {
		t.Errorf("no probes: %s", got)
	}
}
