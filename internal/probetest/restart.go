package probetest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/idpsim"
)

// Restartable is a simulator that a test can take down and bring back on
// the same address with fresh, empty state: an identity provider that
// restarts and loses every token and session it held in memory. While it
// is down, connections to its address are refused.
type Restartable struct {
	t    testing.TB
	opts idpsim.Options
	addr string
	// downWhen, if set, is asked about every request: true takes the
	// simulator down, after answering it (answered) or instead of it.
	downWhen func(r *http.Request) (down, answered bool)

	mu       sync.Mutex
	srv      *http.Server
	sim      *idpsim.Server
	restarts atomic.Int32
}

// RestartableSim starts a restartable simulator on a loopback port.
// downWhen (may be nil) takes it down at a request of the test's choosing;
// it comes back, fresh, when a client of Transport finds it down.
func RestartableSim(t testing.TB, opts idpsim.Options, downWhen func(*http.Request) (down, answered bool)) *Restartable {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Restartable{t: t, opts: opts, addr: ln.Addr().String(), downWhen: downWhen}
	r.serve(ln)
	t.Cleanup(r.Down)
	return r
}

// URL is the simulator's base URL (the issuer is URL + "/jans-auth").
func (r *Restartable) URL() string { return "http://" + r.addr }

// Restarts counts the times it came back.
func (r *Restartable) Restarts() int { return int(r.restarts.Load()) }

func (r *Restartable) serve(ln net.Listener) {
	sim := idpsim.New(r.opts)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		down, answered := false, false
		if r.downWhen != nil {
			down, answered = r.downWhen(req)
		}
		if down && answered {
			sim.ServeHTTP(w, req)
			w.(http.Flusher).Flush()
		}
		if down {
			r.Down() // closes this connection too: an unanswered request gets no answer
			return
		}
		sim.ServeHTTP(w, req)
	})}
	r.mu.Lock()
	r.srv, r.sim = srv, sim
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Down stops the simulator: its listener and every connection close.
func (r *Restartable) Down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up brings the simulator back on the same address with fresh state, if
// it is down.
func (r *Restartable) Up() {
	r.mu.Lock()
	up := r.srv != nil
	r.mu.Unlock()
	if up {
		return
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Errorf("restarting the simulator on %s: %v", r.addr, err)
		return
	}
	r.restarts.Add(1)
	r.serve(ln)
}

// Transport is a probe transport that brings the simulator back up when a
// connection to it was refused: the request that found it down fails, as
// it would against a restarting IdP, and the next one meets the fresh
// simulator.
func (r *Restartable) Transport(t testing.TB) http.RoundTripper {
	tr, err := httpx.NewTransport(httpx.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil && addr == r.addr && errors.Is(err, syscall.ECONNREFUSED) {
			r.Up()
		}
		return c, err
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}
