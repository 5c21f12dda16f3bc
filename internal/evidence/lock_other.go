//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package evidence

import "os"

// lockFile is a no-op where flock(2) is not available: two writers of one
// file are then not detected.
func lockFile(*os.File) error { return nil }
