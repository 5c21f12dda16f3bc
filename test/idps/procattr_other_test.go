//go:build idps && !linux

package idps

import "os/exec"

// dieWithParent: only Linux has a parent-death signal; elsewhere the
// t.Cleanup kill is all there is.
func dieWithParent(*exec.Cmd) {}
