package cli

import (
	"io"
	"sync"

	"github.com/revprober/revprober/internal/probe"
)

// forEachByCanary calls f(i) for every probe, running the probes of
// different canary users at the same time (at most parallel groups at
// once; 0: no limit) and the probes that share a canary one after
// another, in config order: two runs on one canary would spoil each
// other's verdict. It returns when every call has.
func forEachByCanary(probes []*probe.Probe, parallel int, f func(i int)) {
	groups := probe.CanaryGroups(probes)
	workers := len(groups)
	if parallel > 0 && parallel < workers {
		workers = parallel
	}
	next := make(chan []int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range next {
				for _, i := range g {
					f(i)
				}
			}
		}()
	}
	for _, g := range groups {
		next <- g
	}
	close(next)
	wg.Wait()
}

// lockedWriter serialises writes from concurrent runs (progress lines,
// errors) so that lines do not interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
