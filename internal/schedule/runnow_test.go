package schedule

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

func TestRunNow(t *testing.T) {
	started, unblock := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var recorded []*verdict.Run
	s, err := New(Options{
		Replica: "r1",
		Run: func(_ context.Context, p *probe.Probe) *verdict.Run {
			if p.Endpoint == "slow" {
				close(started)
				<-unblock
			}
			return &verdict.Run{ID: p.ID(), Target: p.Target, Endpoint: p.Endpoint, Result: verdict.Pass}
		},
		Recorders: []Recorder{RecorderFunc(func(r *verdict.Run) { mu.Lock(); recorded = append(recorded, r); mu.Unlock() })},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	canary := []probe.Canary{{Username: "canary01"}}
	slow := &probe.Probe{Target: "t", Endpoint: "slow", Interval: time.Hour, Timeout: time.Minute, Canaries: canary}
	fast := &probe.Probe{Target: "t", Endpoint: "fast", Interval: time.Hour, Timeout: time.Minute, Canaries: canary}
	if err := s.Load([]*probe.Probe{slow, fast}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RunNow(context.Background(), "t/nope"); !errors.Is(err, ErrNoProbe) {
		t.Fatalf("unknown probe: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.RunNow(context.Background(), "t/slow"); done <- err }()
	<-started
	// The same canary is busy: refused at once, not queued.
	if _, err := s.RunNow(context.Background(), "t/fast"); !errors.Is(err, ErrBusy) {
		t.Fatalf("busy canary: %v", err)
	}
	close(unblock)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	run, err := s.RunNow(context.Background(), "t/fast")
	if err != nil || run.Replica != "r1" || run.Tick != nil {
		t.Fatalf("run now: %+v %v", run, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(recorded) != 2 {
		t.Fatalf("recorded %d runs, want 2", len(recorded))
	}
}

type waitOnly struct{}

func (waitOnly) Acquire(context.Context, *probe.Probe, time.Time) (func(), string, error) {
	return func() {}, "", nil
}

func TestRunNowNeedsTryAcquire(t *testing.T) {
	s, err := New(Options{Coordinator: waitOnly{}, Run: func(context.Context, *probe.Probe) *verdict.Run { return &verdict.Run{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if err := s.Load([]*probe.Probe{{Target: "t", Endpoint: "e", Interval: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RunNow(context.Background(), "t/e"); !errors.Is(err, ErrNoTryAcquire) {
		t.Fatalf("got %v", err)
	}
}

// Probes whose canary groups share a user, listed in another order or
// with the issuer spelled with a trailing slash, still exclude each other.
func TestSharedCanaryUserExcludes(t *testing.T) {
	l := NewLocalCoordinator()
	a := &probe.Probe{Target: "a", Endpoint: "e", Issuer: "https://idp.example/", Interval: time.Minute, Timeout: time.Second,
		Canaries: []probe.Canary{{Name: "x", Username: "canary01"}}}
	b := &probe.Probe{Target: "b", Endpoint: "e", Issuer: "https://idp.example", Interval: time.Minute, Timeout: time.Second,
		Canaries: []probe.Canary{{Name: "y", Username: "canary02"}, {Name: "x", Username: "canary01"}}}
	release, ok := l.TryAcquire(a)
	if !ok {
		t.Fatal("a free canary was refused")
	}
	if _, ok := l.TryAcquire(b); ok {
		t.Fatal("a group sharing canary01 ran while canary01 was in use")
	}
	release()
	release, ok = l.TryAcquire(b)
	if !ok {
		t.Fatal("refused after release")
	}
	release()
	if _, ok := l.TryAcquire(a); !ok {
		t.Fatal("a partly taken group left a key held")
	}
}
