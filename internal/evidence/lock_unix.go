//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package evidence

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockFile takes an exclusive advisory lock (flock(2), LOCK_EX|LOCK_NB) on
// f, so a second writer of the same file fails at Open instead of forking
// the chain. The lock goes with the open file: it is released when f is
// closed or the process dies.
func lockFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		ferr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}); err != nil {
		return err
	}
	if errors.Is(ferr, syscall.EWOULDBLOCK) {
		return &LockedError{File: f.Name(), Holder: lockHolder(f)}
	}
	if errors.Is(ferr, syscall.ENOLCK) || errors.Is(ferr, syscall.EOPNOTSUPP) || errors.Is(ferr, syscall.ENOSYS) {
		return fmt.Errorf("%w: %s: %v", errLockUnsupported, f.Name(), ferr)
	}
	if ferr != nil {
		return fmt.Errorf("evidence: locking %s: %w", f.Name(), ferr)
	}
	return nil
}

// lockHolder names the process holding the flock on f, from /proc/locks
// (Linux), or "" when it cannot be told.
func lockHolder(f *os.File) string {
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return ""
	}
	dev := uint64(sys.Dev) //nolint:unconvert // int32 on some systems
	major := (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor := dev&0xff | (dev>>12)&^uint64(0xff)
	want := fmt.Sprintf(":%d", sys.Ino)
	for _, line := range strings.Split(string(b), "\n") {
		// 1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF
		fs := strings.Fields(line)
		if len(fs) < 6 || fs[1] != "FLOCK" || !strings.HasSuffix(fs[5], want) {
			continue
		}
		parts := strings.Split(fs[5], ":")
		if len(parts) != 3 {
			continue
		}
		ma, err1 := strconv.ParseUint(parts[0], 16, 64)
		mi, err2 := strconv.ParseUint(parts[1], 16, 64)
		if err1 != nil || err2 != nil || ma != major || mi != minor {
			continue
		}
		pid := fs[4]
		if pid == strconv.Itoa(os.Getpid()) {
			return "this process (pid " + pid + ")"
		}
		if comm, err := os.ReadFile("/proc/" + pid + "/comm"); err == nil {
			return fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(string(comm)))
		}
		return "pid " + pid
	}
	return ""
}
