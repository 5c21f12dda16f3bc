// Command revprober proves, continuously, that revoking a user's sessions
// and tokens really works. See README.md.
package main

import (
	"os"

	"github.com/revprober/revprober/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
