package cli

import (
	"os"
	"runtime/debug"
)

// DaemonGOGC is the garbage collector's target percentage `revprober run`
// sets when the GOGC environment variable is not set. Go's default, 100,
// lets the heap grow to twice what is live before it collects: at 10,000
// probes (about 120 MB live) that is a replica of over 300 MB resident.
// At 50 the heap grows by half: a replica of 10,000 probes stays near
// 250 MB for about 10 % more CPU (README, Scale). Prometheus sets its own
// default (75) the same way. GOGC in the environment always wins.
const DaemonGOGC = 50

// setDaemonGOGC applies DaemonGOGC unless the environment sets GOGC, and
// returns the percentage in effect.
func setDaemonGOGC(lookupEnv func(string) (string, bool)) int {
	if _, set := lookupEnv("GOGC"); set {
		p := debug.SetGCPercent(100) // read what the runtime took from GOGC
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(DaemonGOGC)
	return DaemonGOGC
}

// lookupEnv is os.LookupEnv, replaced in tests.
var lookupEnv = os.LookupEnv
