// Package coord builds the coordination backend named in the config
// (coordination.backend): none (one replica, in-process canary lock), redis
// (the probes are shared by every replica, see rediscoord) or kubernetes
// (one active replica holding a Lease, see kubecoord; only in binaries built
// with -tags kubernetes).
package coord

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/revprober/revprober/internal/config"
	rediscoord "github.com/revprober/revprober/internal/coord/redis"
	"github.com/revprober/revprober/internal/metrics"
	"github.com/revprober/revprober/internal/schedule"
)

// Backend is a started coordination backend.
type Backend struct {
	// Name is the backend label of revprober_coordination_up.
	Name string
	// Coordinator goes into daemon.Options.Coordinator; nil for none.
	Coordinator schedule.Coordinator
	// Replica names this replica.
	Replica string

	setState func(func(up bool))
	close    func() error
}

// Report sends every change of reachability to f (the daemon's metrics
// exist only once the daemon is built): f(backend, up).
func (b *Backend) Report(f func(backend string, up bool)) {
	if b.setState == nil {
		f(b.Name, true) // in-process: always up
		return
	}
	b.setState(func(up bool) { f(b.Name, up) })
}

// Close leaves the replica set (Redis) or releases the Lease (Kubernetes).
// Call it after the scheduler has stopped.
func (b *Backend) Close() error {
	if b.close == nil {
		return nil
	}
	return b.close()
}

// Replica is coordination.replica, or the hostname (the pod name on
// Kubernetes).
func Replica(c config.Coordination) string {
	if c.Replica != "" {
		return c.Replica
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "revprober"
}

// New builds and starts the backend of c. An unreachable Redis or API
// server is not an error: the replica starts, does not probe, and says so
// until the backend answers.
func New(ctx context.Context, c config.Coordination, log *slog.Logger) (*Backend, error) {
	replica := Replica(c)
	switch c.Backend {
	case "", "none":
		return &Backend{Name: metrics.BackendNone, Replica: replica}, nil
	case "redis":
		prefix := c.Redis.KeyPrefix
		if prefix == "" {
			prefix = "revprober:"
		}
		cl := redis.NewClient(&redis.Options{
			Addr: c.Redis.Addr, Password: c.Redis.Password.Reveal(), DB: c.Redis.DB,
			// Fail fast: a replica that cannot reach Redis must know it
			// within a heartbeat, not after go-redis's retries.
			DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 1,
		})
		rc, err := rediscoord.New(rediscoord.Options{Client: cl, Prefix: prefix, Replica: replica, Logger: log})
		if err != nil {
			_ = cl.Close()
			return nil, err
		}
		rc.Start(ctx)
		log.Info("coordination", "backend", "redis", "addr", c.Redis.Addr, "replica", replica)
		return &Backend{Name: metrics.BackendRedis, Coordinator: rc, Replica: replica, setState: rc.SetStateFunc,
			close: func() error { err := rc.Close(); _ = cl.Close(); return err }}, nil
	case "kubernetes":
		return newKubernetes(ctx, c, replica, log)
	}
	return nil, fmt.Errorf("coordination.backend: unknown backend %q", c.Backend)
}
