package cli

import (
	"runtime/debug"
	"testing"
)

// Without GOGC in the environment the daemon collects at DaemonGOGC; an
// operator's GOGC is left as the runtime read it.
func TestDaemonGOGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	if got := setDaemonGOGC(func(string) (string, bool) { return "", false }); got != DaemonGOGC {
		t.Errorf("GOGC unset: %d in effect, want %d", got, DaemonGOGC)
	}
	if got := debug.SetGCPercent(100); got != DaemonGOGC {
		t.Errorf("GOGC unset: the runtime collects at %d, want %d", got, DaemonGOGC)
	}

	debug.SetGCPercent(200) // as the runtime would have read GOGC=200
	if got := setDaemonGOGC(func(k string) (string, bool) { return "200", k == "GOGC" }); got != 200 {
		t.Errorf("GOGC=200 set: %d in effect, want 200", got)
	}
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("GOGC=200 set: the runtime collects at %d, want the operator's 200", got)
	}
}
