package schedule

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// downCoordinator is a backend in an outage: every tick is skipped, with
// the backend's error.
type downCoordinator struct{ skip string }

func (c downCoordinator) Acquire(context.Context, *probe.Probe, time.Time) (func(), string, error) {
	return nil, c.skip, errors.New("redis coordination: Redis unreachable")
}

// TestOutageIsNotALinePerProbePerTick: during a coordination outage every
// probe's every tick is skipped. The skip is counted and recorded (the
// status page logs each streak once), and the coordinator logs its own
// state changes; the scheduler adds no warning per probe per tick (10,000
// probes would log 10,000 lines a minute). An error that skips nothing is
// still a warning.
func TestOutageIsNotALinePerProbePerTick(t *testing.T) {
	for _, tc := range []struct {
		skip      string
		wantLines int
	}{{SkipCoordinationDown, 0}, {"", 3 * 5}} {
		var logs bytes.Buffer
		skipped := 0
		s, err := New(Options{
			Coordinator: downCoordinator{skip: tc.skip},
			Logger:      slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
			Skipped:     func(string, string, string) { skipped++ },
			Run: func(context.Context, *probe.Probe) *verdict.Run {
				t.Fatal("a run started without the canary")
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		probes := []*probe.Probe{testProbe("a", time.Minute), testProbe("b", time.Minute), testProbe("c", time.Minute)}
		if err := s.Load(probes); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			for _, p := range probes {
				s.tick(p.ID())
			}
		}
		if got := strings.Count(logs.String(), "probe not run"); got != tc.wantLines {
			t.Errorf("skip %q: %d \"probe not run\" lines for 15 ticks, want %d:\n%s", tc.skip, got, tc.wantLines, logs.String())
		}
		if tc.skip != "" && skipped != 15 {
			t.Errorf("skip %q: %d skips counted, want 15", tc.skip, skipped)
		}
		s.Shutdown()
	}
}
