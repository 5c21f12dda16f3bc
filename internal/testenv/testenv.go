// Package testenv holds the plumbing shared by revprober's test suites
// that start real processes: free loopback ports and a log buffer that
// child processes can write to while the test reads it.
package testenv

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// FreeAddr returns a loopback address with a port nobody listens on. The
// port is released before use: a small race, fine on a test machine.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// FreePort is FreeAddr's port.
func FreePort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(FreeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// SyncBuffer collects a process's output for failure messages; safe for
// a writer and a reader at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WallStepped returns t with its wall-clock reading moved by step (whole
// seconds) and its monotonic reading kept: what time.Now returns after the
// system clock was stepped (NTP, a resumed VM) while the monotonic clock
// went on. The time package cannot build such a value, so this writes the
// documented layout of time.Time (a wall word with the seconds since 1885
// in bits 30..62 when bit 63, hasMonotonic, is set). ok is false when t has
// no monotonic reading or the layout differs (the caller should skip).
func WallStepped(t time.Time, step time.Duration) (stepped time.Time, ok bool) {
	type layout struct {
		wall uint64
		ext  int64
		loc  *time.Location
	}
	if unsafe.Sizeof(t) != unsafe.Sizeof(layout{}) || step%time.Second != 0 {
		return t, false
	}
	const hasMonotonic, secShift = 1 << 63, 30
	l := (*layout)(unsafe.Pointer(&t))
	if l.wall&hasMonotonic == 0 {
		return t, false
	}
	stepped = t
	s := (*layout)(unsafe.Pointer(&stepped))
	s.wall = uint64(int64(s.wall) + int64(step/time.Second)<<secShift)
	// The self-check: the wall reading moved by step, the monotonic did not.
	if !stepped.Round(0).Equal(t.Round(0).Add(step)) || stepped.Sub(t) != 0 {
		return t, false
	}
	return stepped, true
}
