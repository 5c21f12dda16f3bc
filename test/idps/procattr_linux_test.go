//go:build idps && linux

package idps

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the provider if the test binary dies
// without running its cleanups (go test -timeout panics, SIGKILL).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
