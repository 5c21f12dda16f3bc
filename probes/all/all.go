// Package all registers every revocation endpoint driver. Import it for
// its side effect.
package all

import (
	_ "github.com/revprober/revprober/probes/auth0"
	_ "github.com/revprober/revprober/probes/endsession"
	_ "github.com/revprober/revprober/probes/entra"
	_ "github.com/revprober/revprober/probes/hydra"
	_ "github.com/revprober/revprober/probes/janssen"
	_ "github.com/revprober/revprober/probes/keycloak"
	_ "github.com/revprober/revprober/probes/okta"
	_ "github.com/revprober/revprober/probes/rfc7009"
	_ "github.com/revprober/revprober/probes/scim"
	_ "github.com/revprober/revprober/probes/webhook"
)
