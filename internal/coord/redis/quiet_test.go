package rediscoord

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/revprober/revprober/internal/testenv"
)

// recordingLogger stands for go-redis's default logger (stderr).
type recordingLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *recordingLogger) Printf(_ context.Context, format string, v ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
	l.mu.Unlock()
}

// TestGoRedisLogsQuiet: during a Redis outage go-redis would print a
// "failed to dial" line at every attempt (about 30 per replica in the
// outage seen); the replica logs one line when Redis becomes unreachable
// and none per attempt.
func TestGoRedisLogsQuiet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there: every dial is refused
	goRedis := &recordingLogger{}
	redis.SetLogger(goRedis)
	var dials atomic.Int64
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}})
	defer cl.Close()
	var out testenv.SyncBuffer
	c, err := New(Options{Client: cl, Replica: "a", Heartbeat: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&out, nil))})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(context.Background())
	waitFor(t, 10*time.Second, func() bool { return dials.Load() >= 10 })
	_ = c.Close()

	goRedis.mu.Lock()
	defer goRedis.mu.Unlock()
	if len(goRedis.lines) > 0 {
		t.Errorf("go-redis printed %d lines in %d failed dials, e.g. %q; want none (state changes are logged once by the coordinator)", len(goRedis.lines), dials.Load(), goRedis.lines[0])
	}
	if n := strings.Count(out.String(), "coordination backend unreachable"); n != 1 {
		t.Errorf("%d 'unreachable' lines in %d failed dials, want 1:\n%s", n, dials.Load(), out.String())
	}
}
