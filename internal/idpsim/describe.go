package idpsim

import (
	"slices"
	"strings"
)

// Users are the users the simulator logs in (copies).
func (s *Server) Users() []User { return slices.Clone(s.users) }

// Canaries is how many generated canary users (CanaryUsers) end Users.
func (s *Server) Canaries() int { return s.canaries }

// Clients are the registered clients, by id (copies).
func (s *Server) Clients() []Client {
	out := make([]Client, 0, len(s.clients))
	for _, c := range s.clients {
		cc := *c
		cc.Scopes, cc.GrantTypes, cc.RedirectURIs = slices.Clone(c.Scopes), slices.Clone(c.GrantTypes), slices.Clone(c.RedirectURIs)
		out = append(out, cc)
	}
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	return out
}
