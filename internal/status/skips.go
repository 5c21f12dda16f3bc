package status

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/revprober/revprober/internal/schedule"
)

// skipWhy says in words what a skip reason (schedule.Skip*, the reasons of
// revprober_runs_skipped_total) means for the operator.
func skipWhy(reason string) string {
	switch reason {
	case schedule.SkipCanaryBusy:
		return "another probe held the shared canary past this probe's wait (probes that share a canary run one after another)"
	case schedule.SkipOverlap:
		return "the previous run of this probe was still running"
	case schedule.SkipNotLeader:
		return "another replica ran these ticks (its status page has their verdicts)"
	case schedule.SkipCoordinationDown:
		return "the coordination backend was unreachable, so no replica could safely take the canary"
	}
	return "skipped (" + reason + ")"
}

func streakReasons(st *streak) string {
	parts := make([]string, len(st.reasons))
	for i, r := range st.reasons {
		parts[i] = fmt.Sprintf("%s ×%d", r.reason, r.n)
	}
	return strings.Join(parts, ", ")
}

// level: not_leader is the normal state of a replica that does not own a
// probe's ticks; every other skip means a verdict is not being renewed.
func skipLevel(reason string) slog.Level {
	if reason == schedule.SkipNotLeader {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

// logSkip logs the first skip of a streak, and the first skip for each
// further reason in it; the others are counted and logged when the streak
// ends (logStreakEnd), so a probe skipped at every tick logs two lines,
// not one per tick.
func (p *Page) logSkip(id, reason string, first time.Time, count int) {
	msg := "probe run skipped; further skips are counted until a run resumes"
	if count > 1 {
		msg = "probe run skipped for another reason; further skips are counted until a run resumes"
	}
	p.opts.Logger.Log(context.Background(), skipLevel(reason), msg, "probe", id, "reason", reason,
		"why", skipWhy(reason), "skipped", count, "since", first.UTC().Format(time.RFC3339))
}

// logStreakEnd logs the end of a streak: how many ticks were skipped, why,
// and since when.
func (p *Page) logStreakEnd(id string, st *streak, resumed time.Time) {
	level := slog.LevelDebug
	for _, r := range st.reasons {
		level = max(level, skipLevel(r.reason))
	}
	if level > slog.LevelInfo {
		level = slog.LevelInfo // the news is good: runs are back
	}
	p.opts.Logger.Log(context.Background(), level, "probe runs resumed after skipped ticks", "probe", id,
		"skipped", st.count, "reasons", streakReasons(st), "since", st.first.UTC().Format(time.RFC3339),
		"for", resumed.Sub(st.first).Round(time.Second).String())
}
