package demo_test

import (
	"slices"
	"testing"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/demo"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	_ "github.com/revprober/revprober/probes/all" // every driver
)

// TestEveryDemoProbeHasItsOwnCanary: no two demo probes share a canary
// (they would run one after another, and one failing run would hold the
// others back), and every canary is a user of a default simulator.
func TestEveryDemoProbeHasItsOwnCanary(t *testing.T) {
	cfg, err := demo.Config(demo.Params{SimURL: "http://127.0.0.1:1"}, config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	probes, err := probe.Compile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if groups := probe.CanaryGroups(probes); len(groups) != len(probes) {
		t.Errorf("%d probes on %d canary groups, want one canary each: %v", len(probes), len(groups), groups)
	}
	users := idpsim.New(idpsim.Options{}).Users()
	for _, p := range probes {
		for _, c := range p.Canaries {
			if !slices.ContainsFunc(users, func(u idpsim.User) bool { return u.UID == c.Username && u.Password == c.Password.Reveal() }) {
				t.Errorf("%s: canary %s is not a user of the default simulator", p.ID(), c.Username)
			}
		}
	}
}
