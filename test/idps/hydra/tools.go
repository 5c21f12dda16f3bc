//go:build tools

// Package tools pins Ory Hydra v2.3.0 as a tool of the idps tests. Hydra's
// own go.mod has replace directives, which `go install …@v2.3.0` refuses:
// this module requires Hydra (its require block copied) and repeats the
// replace that matters outside Hydra's tree, so that
//
//	CGO_ENABLED=1 go build -tags sqlite,sqlite_omit_load_extension -o hydra github.com/ory/hydra/v2
//
// builds the released server from the Go module proxy (make test-idps does).
// The imports below keep the packages of Hydra's main in go.mod and go.sum.
package tools

import (
	_ "github.com/ory/hydra/v2/cmd"
	_ "github.com/ory/x/profilex"
)
