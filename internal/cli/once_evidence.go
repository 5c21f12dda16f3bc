package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/evidence"
	"github.com/revprober/revprober/internal/verdict"
)

// `once` records its runs in the evidence log as the daemon does: one
// record per run, in the configured evidence.path, on the same chain,
// under the same lock and in the same format, so a post-deploy smoke
// check is evidence too. The file has one writer at a time; a running
// daemon holds it for as long as it runs. So `once` waits for the lock
// for --evidence-wait (another `once` finishing), then gives up before
// probing anything (exit 3), naming the holder; --evidence FILE writes
// the runs to a chain of their own instead, --no-evidence writes none.

// onceEvidence is the state of `once`'s evidence flags.
type onceEvidence struct {
	file *string
	none *bool
	wait *time.Duration
	log  *evidence.Log
}

func addEvidenceFlags(fs *flag.FlagSet) *onceEvidence {
	return &onceEvidence{
		file: fs.String("evidence", "", "append the runs to the evidence chain in `FILE` instead of evidence.path (a chain of its own: use it while a daemon holds evidence.path)"),
		none: fs.Bool("no-evidence", false, "write no evidence, even with evidence.path configured"),
		wait: fs.Duration("evidence-wait", 10*time.Second, "how long to wait for the evidence file's lock held by another writer"),
	}
}

// onceReplicaSuffix marks the replica name of a chain `once` writes on
// its own (--evidence FILE), so that verify and report, given it with the
// daemon's files, tell the two chains apart instead of taking one for a
// restart of the other.
const onceReplicaSuffix = "/once"

// attach makes o open the log before any probe runs and record each run.
func (e *onceEvidence) attach(cfg *config.Config, o *onceOptions, stderr io.Writer) {
	ecfg := cfg.Evidence
	replica := cfg.Coordination.Replica
	if replica == "" {
		replica, _ = os.Hostname()
	}
	switch {
	case *e.none:
		return
	case *e.file != "":
		ecfg.Path = *e.file
		replica += onceReplicaSuffix
	case ecfg.Path == "":
		return
	}
	o.checks = append(o.checks, func() error {
		l, err := openWaiting(ecfg, replica, *e.wait, stderr)
		if err != nil {
			var locked *evidence.LockedError
			if errors.As(err, &locked) {
				return fmt.Errorf("%w\nrevprober once: nothing was probed. A running daemon keeps its evidence file locked: "+
					"give once a chain of its own with --evidence FILE, or run it with --no-evidence", err)
			}
			return err
		}
		l.SetSchedule(evidenceSchedule(cfg))
		e.log = l
		return nil
	})
	o.record = append(o.record, func(run *verdict.Run) error {
		if e.log == nil {
			return nil
		}
		run.Replica = replica
		if _, err := e.log.Append(run); err != nil {
			return fmt.Errorf("evidence: the record of %s/%s was not written: %w", run.Target, run.Endpoint, err)
		}
		return nil
	})
}

// openWaiting opens the evidence log, waiting up to wait while another
// writer holds its lock.
func openWaiting(cfg config.Evidence, replica string, wait time.Duration, stderr io.Writer) (*evidence.Log, error) {
	deadline := time.Now().Add(wait)
	for said := false; ; said = true {
		l, err := evidence.OpenLogger(cfg, replica, newLogger(stderr, "warn", false))
		var locked *evidence.LockedError
		if !errors.As(err, &locked) || !time.Now().Before(deadline) {
			return l, err
		}
		if !said {
			fmt.Fprintf(stderr, "%v\nrevprober once: waiting up to %s for the lock (--evidence-wait)\n", err, wait)
		}
		time.Sleep(min(250*time.Millisecond, time.Until(deadline)))
	}
}

// close closes the log and prints its head, which anchors the chain
// (evidence verify --head SEQ:HASH).
func (e *onceEvidence) close(stderr io.Writer) {
	if e.log == nil {
		return
	}
	err := e.log.Close()
	st := e.log.Stats()
	fmt.Fprintf(stderr, "evidence: %d records written to %s, head seq %d hash %s\n", st.Written, e.log.Path(), st.Seq, st.Hash)
	if err != nil {
		fmt.Fprintln(stderr, "evidence:", err)
	}
}

// evidenceSchedule is what every run record carries besides the run: its
// probe's configured interval and global.slo.
func evidenceSchedule(cfg *config.Config) evidence.Schedule {
	s := evidence.Schedule{SLO: cfg.Global.SLO.D(), Intervals: map[evidence.ProbeKey]time.Duration{}}
	for _, t := range cfg.Targets {
		interval := t.EffectiveInterval(cfg.Global)
		for _, ep := range t.Endpoints {
			s.Intervals[evidence.ProbeKey{Target: t.Name, Endpoint: ep.Name}] = interval
		}
	}
	return s
}
