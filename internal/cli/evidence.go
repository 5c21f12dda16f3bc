package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/daemon"
	"github.com/revprober/revprober/internal/evidence"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/status"
	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/internal/webguard"
)

func init() {
	extraCommands["evidence"] = cmdEvidence
}

const evidenceUsage = `Usage:
  revprober evidence verify FILE... [--key PUBKEY.pem] [--head [REPLICA=]SEQ[:HASH]]... [--after [REPLICA=]HASH]...
      check the hash chains, one per replica (and, with --key, every
      signature) through the files (rotated files and several replicas'
      files in any order, or globs); --head requires a chain to reach
      that record (its head as anchored elsewhere); exit 0 only when
      everything verifies (notices are printed as warnings), 1 when not,
      3 on bad usage or unreadable files
  revprober evidence report FILE... [--since T] [--until T] [--format md|html] [--slo D] [--key PUBKEY.pem] [--head ...] [-o OUT]
      summarise a period for an auditor, the runs of every replica merged;
      T is RFC 3339, a date (2026-01-31), or an age (720h, 30d); without
      --until the period ends now when --since is given; without --slo
      each run is judged against the global.slo recorded with it; exit 0
      when the chains verified, 1 when not

See docs/evidence.md for the format and for anchoring the head.
`

func cmdEvidence(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, evidenceUsage)
		return ExitConfig
	}
	switch args[0] {
	case "verify":
		return cmdEvidenceVerify(args[1:], stdout, stderr)
	case "report":
		return cmdEvidenceReport(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, evidenceUsage)
		return 0
	}
	fmt.Fprintf(stderr, "revprober evidence: unknown subcommand %q\n\n%s", args[0], evidenceUsage)
	return ExitConfig
}

// parseInterleaved parses flags that may come after positional arguments
// ("verify a.jsonl b.jsonl --key k.pem").
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// verifyOptions builds the options of verify and report: --key, the
// repeated --after [REPLICA=]HASH and --head [REPLICA=]SEQ[:HASH].
func verifyOptions(key string, afters, heads []string) (evidence.VerifyOptions, error) {
	var opts evidence.VerifyOptions
	for _, a := range afters {
		if replica, hash, ok := strings.Cut(a, "="); ok {
			if opts.AfterByReplica == nil {
				opts.AfterByReplica = map[string]string{}
			}
			opts.AfterByReplica[replica] = hash
		} else {
			opts.After = a
		}
	}
	for _, h := range heads {
		hd, err := evidence.ParseHead(h)
		if err != nil {
			return opts, fmt.Errorf("--head: %w", err)
		}
		opts.Heads = append(opts.Heads, hd)
	}
	if key != "" {
		pub, err := evidence.LoadPublicKey(key)
		if err != nil {
			return opts, err
		}
		opts.PublicKey = pub
	}
	return opts, nil
}

func cmdEvidenceVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("evidence verify", stderr)
	key := fs.String("key", "", "Ed25519 public key (PEM) to verify signatures with")
	var afters, heads multiFlag
	fs.Var(&afters, "after", "`[REPLICA=]HASH` of the record before the first one given (when earlier files are archived); repeatable")
	fs.Var(&heads, "head", "`[REPLICA=]SEQ[:HASHPREFIX]`: the chain must reach this record (a head anchored elsewhere); repeatable")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitConfig
	}
	if len(files) == 0 {
		fmt.Fprint(stderr, evidenceUsage)
		return ExitConfig
	}
	opts, err := verifyOptions(*key, afters, heads)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	files, err = evidence.OrderFiles(files)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	res, err := evidence.Verify(files, opts, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	fmt.Fprintf(stdout, "files (in chain order): %s\n", strings.Join(files, " "))
	printWarnings := func() {
		for _, w := range res.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
	}
	if p := res.Problem; p != nil {
		fmt.Fprintf(stdout, "FAILED: %s\n", p.Error())
		if res.Problems > 1 {
			fmt.Fprintf(stdout, "%d problems in all; the first one is shown.\n", res.Problems)
		}
		if len(res.Chains) > 1 {
			for _, c := range res.Chains {
				fmt.Fprintf(stdout, "chain %s: %s\n", strings.Join(c.Replicas, " → "), evidence.ChainLine(c))
			}
		}
		printWarnings()
		return ExitFail
	}
	if len(res.Chains) == 1 {
		fmt.Fprintf(stdout, "OK: %d records, seq %d to %d, hash chain intact\n", res.Records, res.FirstSeq, res.LastSeq)
		fmt.Fprintf(stdout, "head: seq %d hash %s\n", res.LastSeq, res.LastHash)
	} else {
		fmt.Fprintf(stdout, "OK: %d records in %d chains (one per replica), every chain intact\n", res.Records, len(res.Chains))
	}
	for _, c := range res.Chains {
		if len(res.Chains) > 1 {
			fmt.Fprintf(stdout, "chain %s: %d records, seq %d to %d, head seq %d hash %s\n", strings.Join(c.Replicas, " → "), c.Records, c.FirstSeq, c.LastSeq, c.LastSeq, c.LastHash)
		}
		if c.Head != nil {
			fmt.Fprintf(stdout, "anchored head %s of replica %s: reached (%d record(s) after it)\n", c.Head, c.Replica, c.AfterHead)
		}
	}
	printWarnings()
	switch {
	case res.SigChecked:
		fmt.Fprintf(stdout, "signatures: all %d verified with key %s\n", res.Records, res.KeyID)
	case res.Signed > 0:
		fmt.Fprintf(stdout, "signatures: NOT CHECKED (%d of %d records are signed; pass --key PUBKEY.pem to verify them)\n", res.Signed, res.Records)
	default:
		fmt.Fprintln(stdout, "signatures: NOT CHECKED (the records are not signed)")
	}
	if len(opts.Heads) == 0 {
		fmt.Fprintln(stdout, "note: records cut from the end of a chain cannot be told from a log that stopped there; anchor the head with --head SEQ[:HASH] (from revprober_evidence_last_seq or the head the daemon logs; docs/evidence.md).")
	}
	return 0
}

func cmdEvidenceReport(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("evidence report", stderr)
	key := fs.String("key", "", "Ed25519 public key (PEM) to verify signatures with")
	var afters, heads multiFlag
	fs.Var(&afters, "after", "`[REPLICA=]HASH` of the record before the first one given; repeatable")
	fs.Var(&heads, "head", "`[REPLICA=]SEQ[:HASHPREFIX]`: the chain must reach this record; repeatable")
	since := fs.String("since", "", "start of the period: RFC 3339, a date, or an age (720h, 30d)")
	until := fs.String("until", "", "end of the period (exclusive), same forms")
	format := fs.String("format", "md", "md or html")
	slo := fs.Duration("slo", 0, "propagation latency objective (default: the global.slo recorded with each run, else 30s)")
	out := fs.String("o", "", "write the report to `FILE` instead of standard output")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitConfig
	}
	if len(files) == 0 || (*format != "md" && *format != "html") {
		fmt.Fprint(stderr, evidenceUsage)
		return ExitConfig
	}
	now := time.Now()
	opts := evidence.ReportOptions{SLO: *slo, Now: func() time.Time { return now }}
	if opts.Since, err = parseWhen(*since, now); err != nil {
		fmt.Fprintln(stderr, "--since:", err)
		return ExitConfig
	}
	if opts.Until, err = parseWhen(*until, now); err != nil {
		fmt.Fprintln(stderr, "--until:", err)
		return ExitConfig
	}
	if opts.Verify, err = verifyOptions(*key, afters, heads); err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	if files, err = evidence.OrderFiles(files); err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	rep, err := evidence.BuildReport(files, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return ExitConfig
		}
		defer f.Close()
		w = f
	}
	if *format == "html" {
		err = rep.HTML(w)
	} else {
		err = rep.Markdown(w)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	if !rep.Chain.OK() {
		fmt.Fprintln(stderr, "the evidence did NOT verify:", rep.Chain.Problem)
		return ExitFail
	}
	return 0
}

// parseWhen reads a point in time: RFC 3339, a date or date-time in UTC,
// or an age before now ("720h", "30d").
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, 2026-01-31, or an age like 720h or 30d)", s)
}

// daemonExtras are what `run` and `demo` add to a daemon: the evidence log
// (when the config has evidence.path) and the status page. Evidence
// settings take effect at start; a reload does not reopen the log.
type daemonExtras struct {
	ev   *evidence.Log
	log  *slog.Logger
	page *status.Page
	d    *daemon.Daemon
}

func newDaemonExtras(cfg *config.Config, log *slog.Logger) (*daemonExtras, error) {
	x := &daemonExtras{}
	if cfg != nil && cfg.Evidence.Path != "" {
		replica := cfg.Coordination.Replica
		if replica == "" {
			replica, _ = os.Hostname()
		}
		ev, err := evidence.OpenLogger(cfg.Evidence, replica, log)
		if err != nil {
			return nil, err
		}
		st := ev.Stats()
		// The head, logged at start and at shutdown, anchors the chain for
		// an auditor (evidence verify --head SEQ:HASH).
		log.Info("evidence log open", "file", ev.Path(), "replica", replica, "head_seq", st.Seq, "head_hash", st.Hash,
			"notices", len(ev.Notices()), "signed", cfg.Evidence.SigningKeyFile != "")
		x.ev, x.log = ev, log
	}
	evidencePath := ""
	if x.ev != nil {
		evidencePath = x.ev.Path()
	}
	x.page = status.New(status.Options{
		Logger:      log,
		EvidenceLog: evidencePath,
		SLO: func() time.Duration {
			if x.d == nil || x.d.Config() == nil {
				return 0
			}
			return x.d.Config().Global.SLO.D()
		},
		Probes: func() []*probe.Probe {
			if x.d == nil {
				return nil
			}
			return x.d.Probes()
		},
		Config: func() ([]byte, string, string, error) {
			if x.d == nil || x.d.Config() == nil {
				return nil, "", "", errors.New("no configuration loaded")
			}
			c := x.d.Config()
			y, err := c.Redacted()
			return y, c.Path, c.Digest, err
		},
		RunNow: func(ctx context.Context, id string) (*verdict.Run, error) {
			if x.d == nil {
				return nil, errors.New("the prober is starting")
			}
			return x.d.Sched.RunNow(ctx, id)
		},
		Refused: func(r *http.Request, reason string) {
			if x.d != nil {
				x.d.Refusals.Refuse(r, webguard.HandlerRunNow, reason)
			}
		},
	})
	return x, nil
}

// recorders go into daemon.Options.Recorders.
func (x *daemonExtras) recorders() []schedule.Recorder {
	recs := []schedule.Recorder{x.page}
	if x.ev != nil {
		recs = append(recs, x.ev)
	}
	return recs
}

// loaded is daemon.Options.Loaded: each run record carries its probe's
// configured interval and global.slo, as in force when it ran.
func (x *daemonExtras) loaded(cfg *config.Config, _ []*probe.Probe) {
	if x.ev == nil {
		return
	}
	x.ev.SetSchedule(evidenceSchedule(cfg))
}

// attach mounts the status page on the daemon (before it serves) and
// exports the evidence head and write errors in its metrics.
func (x *daemonExtras) attach(d *daemon.Daemon) {
	x.d = d
	x.page.Register(d.Mux)
	if x.ev != nil {
		x.ev.SetObserver(d.Metrics)
	}
}

func (x *daemonExtras) close() {
	if x != nil && x.ev != nil {
		err := x.ev.Close()
		st := x.ev.Stats()
		x.log.Info("evidence log closed", "file", x.ev.Path(), "head_seq", st.Seq, "head_hash", st.Hash,
			"written", st.Written, "write_errors", st.Failed, "err", err)
	}
}
