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
