package idpsim

import (
	"net/http"
	"slices"
	"time"
)

// The state model. A grant is one authorization (one login of one user at one
// client, or one client_credentials call); its access and refresh tokens are
// revoked together. Revocation marks each token (and session) with the time it
// takes effect instead of deleting it, so that:
//   - the delay fault is a kill time in the future; the grant remembers that
//     pending kill, and tokens minted from it by a refresh during the delay die
//     with the others;
//   - tokens minted after a kill took effect (from a refresh token that
//     survived, as after the config-api delete) live;
//   - introspection-always-active can still "know" a revoked token.
//
// Entries are dropped once expired, or once dead for good (killed, the kill
// in the past, and no fault that still needs them: resurrect brings them
// back, introspection-always-active still "knows" them). An unknown token
// answers as a revoked one everywhere a prober looks (introspection inactive,
// userinfo 401, refresh invalid_grant), so dropping a dead entry changes no
// verdict, while a live token that vanished would look revoked and spoil
// one. Memory then follows what is alive, not the hours of history.
//
// Every session and grant of a user is also indexed under the user (inum):
// a revocation touches only that user's entries, so its cost does not grow
// with the other users or with time.

type session struct {
	id       string // the session_id cookie value (a secret)
	sid      string // the public id put in id tokens
	user     string // inum
	state    string // "authenticated"
	created  time.Time
	expires  time.Time
	killedAt time.Time // zero: not revoked
}

type grant struct {
	id      string
	user    string // inum; "" for client_credentials
	client  string
	session string // session id it was issued from; "" for ROPC and client_credentials
	scopes  []string
	offline bool   // scope offline_access
	refresh string // the current refresh token; "" when none
	tokens  []*tokenEntry

	// A kill still to come (delay fault): tokens minted before it die with it.
	pendingAccess, pendingRefresh time.Time
}

type tokenEntry struct {
	value     string // the token itself (the key of the access or refresh map)
	grant     *grant
	isRefresh bool
	iat, exp  time.Time
	killedAt  time.Time // zero: not revoked
}

type authCode struct {
	client, redirectURI string
	session, user       string
	scopes              []string
	nonce, challenge    string
	exp                 time.Time
}

type state struct {
	sessions map[string]*session
	bySID    map[string]*session // the public sid → its session
	grants   map[string]*grant
	access   map[string]*tokenEntry
	refresh  map[string]*tokenEntry
	codes    map[string]*authCode
	users    map[string]*userEntries // inum → the user's sessions and grants
	lastGC   time.Time
}

// userEntries index one user's sessions and grants (by id). Grants without a
// user (client_credentials) are not indexed: no revocation looks for them.
type userEntries struct {
	sessions map[string]*session
	grants   map[string]*grant
}

func newState() state {
	return state{
		sessions: map[string]*session{},
		bySID:    map[string]*session{},
		grants:   map[string]*grant{},
		access:   map[string]*tokenEntry{},
		refresh:  map[string]*tokenEntry{},
		codes:    map[string]*authCode{},
		users:    map[string]*userEntries{},
	}
}

// userLocked returns the user's entries (empty, not nil, for a user with none).
func (st *state) userLocked(inum string) *userEntries {
	if u, ok := st.users[inum]; ok {
		return u
	}
	return &userEntries{}
}

// indexLocked returns the user's entries, creating them.
func (st *state) indexLocked(inum string) *userEntries {
	u, ok := st.users[inum]
	if !ok {
		u = &userEntries{sessions: map[string]*session{}, grants: map[string]*grant{}}
		st.users[inum] = u
	}
	return u
}

func (st *state) addSessionLocked(ss *session) {
	st.sessions[ss.id] = ss
	st.bySID[ss.sid] = ss
	st.indexLocked(ss.user).sessions[ss.id] = ss
}

func (st *state) dropSessionLocked(ss *session) {
	delete(st.sessions, ss.id)
	delete(st.bySID, ss.sid)
	if u, ok := st.users[ss.user]; ok {
		delete(u.sessions, ss.id)
		st.forgetUserIfEmptyLocked(ss.user, u)
	}
}

func (st *state) addGrantLocked(g *grant) {
	st.grants[g.id] = g
	if g.user != "" {
		st.indexLocked(g.user).grants[g.id] = g
	}
}

func (st *state) dropGrantLocked(g *grant) {
	for _, e := range slices.Clone(g.tokens) {
		st.dropTokenLocked(e)
	}
	delete(st.grants, g.id)
	if u, ok := st.users[g.user]; ok {
		delete(u.grants, g.id)
		st.forgetUserIfEmptyLocked(g.user, u)
	}
}

func (st *state) forgetUserIfEmptyLocked(inum string, u *userEntries) {
	if len(u.sessions) == 0 && len(u.grants) == 0 {
		delete(st.users, inum)
	}
}

// kill says which artifacts a revocation ends.
type kill struct {
	access   bool // access (and id) tokens of the affected grants
	refresh  bool // refresh tokens of the affected grants
	sessions bool // the affected sessions
}

var killAll = kill{access: true, refresh: true, sessions: true}

// alive reports whether something with this kill time lives at now: never
// killed, killed later, or (resurrect fault) killed and come back.
func (s *Server) alive(killedAt, now time.Time) bool {
	if killedAt.IsZero() || now.Before(killedAt) {
		return true
	}
	back := s.Faults().Resurrect
	return back > 0 && !now.Before(killedAt.Add(back))
}

// earliest keeps an earlier kill: a second revocation never resurrects or
// postpones.
func earliest(old, t time.Time) time.Time {
	if old.IsZero() || t.Before(old) {
		return t
	}
	return old
}

// effect turns what a revocation endpoint promises into what the faulty server
// does, and when it takes effect: the delay fault's Delay after the revoke
// request r arrived (before any slow fault held it up). A kill time already
// past when the revocation is processed (slow > delay) takes effect at once.
// Faults are read once per revocation.
func (s *Server) effect(r *http.Request, k kill) (kill, time.Time) {
	f := s.Faults()
	if f.IgnoreRevocation {
		return kill{}, time.Time{}
	}
	if f.KeepAccess {
		k.access = false
	}
	if f.KeepRefresh {
		k.refresh = false
	}
	return k, s.arrival(r).Add(f.Delay)
}

// pending is the grant's next kill: a kill that already took effect no longer
// concerns tokens minted after it.
func pending(old, at, now time.Time) time.Time {
	if old.IsZero() || !now.Before(old) {
		return at
	}
	return earliest(old, at)
}

func killGrantLocked(g *grant, k kill, at, now time.Time) {
	for _, e := range g.tokens {
		if (e.isRefresh && k.refresh) || (!e.isRefresh && k.access) {
			e.killedAt = earliest(e.killedAt, at)
		}
	}
	if k.access {
		g.pendingAccess = pending(g.pendingAccess, at, now)
	}
	if k.refresh {
		g.pendingRefresh = pending(g.pendingRefresh, at, now)
	}
}

// ---- revocation helpers for vendor emulations (faults applied inside) ----

// The helpers take the revoke request r: their kill time counts from its
// arrival (effect).

// revokeGrant kills the grant's tokens as k says.
func (s *Server) revokeGrant(r *http.Request, grantID string, k kill) {
	k, at := s.effect(r, k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.st.grants[grantID]; ok {
		now := s.now()
		killGrantLocked(g, k, at, now)
		s.st.dropGoneTokensLocked(g, now, keepsDead(s.Faults()))
	}
}

// revokeUser kills every session of the user (any state) when k.sessions, and
// the tokens of every grant of the user as k says (Janssen global token
// revocation is revokeUser(r, inum, killAll)).
func (s *Server) revokeUser(r *http.Request, inum string, k kill) {
	k, at := s.effect(r, k)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	u := s.st.userLocked(inum)
	if k.sessions {
		for _, ss := range u.sessions {
			ss.killedAt = earliest(ss.killedAt, at)
		}
	}
	for _, g := range u.grants {
		killGrantLocked(g, k, at, now)
	}
	s.pruneUserLocked(inum, now)
}

// revokeSessions kills the user's live sessions that match (when k.sessions)
// and the tokens, as k says, of the grants issued from them. Grants without a
// session (ROPC, client_credentials) are never touched. It returns how many
// live sessions matched, whatever the faults did.
func (s *Server) revokeSessions(r *http.Request, inum string, match func(*session) bool, k kill) int {
	k, at := s.effect(r, k)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	u := s.st.userLocked(inum)
	hit := map[string]bool{}
	for _, ss := range u.sessions {
		if !s.sessionAliveLocked(ss, now) || !match(ss) {
			continue
		}
		hit[ss.id] = true
		if k.sessions {
			ss.killedAt = earliest(ss.killedAt, at)
		}
	}
	for _, g := range u.grants {
		if g.session != "" && hit[g.session] {
			killGrantLocked(g, k, at, now)
		}
	}
	s.pruneUserLocked(inum, now)
	return len(hit)
}

// liveSessions counts the user's live sessions in the given state ("" = any).
func (s *Server) liveSessions(inum, state string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, n := s.now(), 0
	for _, ss := range s.st.userLocked(inum).sessions {
		if (state == "" || ss.state == state) && s.sessionAliveLocked(ss, now) {
			n++
		}
	}
	return n
}

// sessionOwner is the user (inum) of the session with this cookie value,
// alive or not; "" when unknown.
func (s *Server) sessionOwner(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.st.sessions[id]; ok {
		return ss.user
	}
	return ""
}

// ---- sessions ----

func (s *Server) sessionAliveLocked(ss *session, now time.Time) bool {
	return now.Before(ss.expires) && s.alive(ss.killedAt, now)
}

// newSession records an authenticated login of the user.
func (s *Server) newSession(inum string) session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.gcLocked(now)
	ss := &session{id: randomToken(), sid: randomToken()[:22], user: inum, state: "authenticated",
		created: now, expires: now.Add(sessionTTL)}
	s.st.addSessionLocked(ss)
	return *ss
}

// liveSession returns a copy of the session with this cookie value if it lives.
func (s *Server) liveSession(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.st.sessions[id]
	if !ok || !s.sessionAliveLocked(ss, s.now()) {
		return session{}, false
	}
	return *ss, true
}

// sessionBySID finds a session (alive or not) by the sid of an id token.
func (s *Server) sessionBySID(sid string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.st.bySID[sid]; ok {
		return *ss, true
	}
	return session{}, false
}

// ---- grants and tokens ----

// tokenInfo is a copy of what a token lookup found, safe to use unlocked.
type tokenInfo struct {
	grant, user, client, session string
	scopes                       []string
	iat, exp                     time.Time
	alive                        bool // unexpired and not revoked
}

func (s *Server) infoLocked(e *tokenEntry, now time.Time) tokenInfo {
	g := e.grant
	return tokenInfo{grant: g.id, user: g.user, client: g.client, session: g.session, scopes: g.scopes,
		iat: e.iat, exp: e.exp, alive: now.Before(e.exp) && s.alive(e.killedAt, now)}
}

// lookupAccess finds an unexpired access token, revoked or not.
func (s *Server) lookupAccess(tok string) (tokenInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e, ok := s.st.access[tok]
	if !ok || !now.Before(e.exp) {
		return tokenInfo{}, false
	}
	return s.infoLocked(e, now), true
}

// lookupRefresh finds an unexpired refresh token, revoked or not.
func (s *Server) lookupRefresh(tok string) (tokenInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e, ok := s.st.refresh[tok]
	if !ok || !now.Before(e.exp) {
		return tokenInfo{}, false
	}
	return s.infoLocked(e, now), true
}

// issued is what a token endpoint hands out.
type issued struct {
	access, refresh      string
	accessExp, issuedAt  time.Time
	scopes               []string
	user, client, sessID string
}

// newGrant records a grant and mints its first tokens.
func (s *Server) newGrant(user, client, sessionID string, scopes []string, withRefresh bool) issued {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.gcLocked(now)
	g := &grant{id: randomToken(), user: user, client: client, session: sessionID,
		scopes: scopes, offline: slices.Contains(scopes, "offline_access")}
	s.st.addGrantLocked(g)
	return s.mintLocked(g, withRefresh, now)
}

// mintLocked adds an access token (and a refresh token, replacing the current
// one) to the grant.
func (s *Server) mintLocked(g *grant, withRefresh bool, now time.Time) issued {
	out := issued{accessExp: now.Add(s.atTTL), issuedAt: now,
		scopes: g.scopes, user: g.user, client: g.client, sessID: g.session}
	out.access = s.accessTokenLocked(g, now, out.accessExp) // opaque, or a JWT (signing.go)
	s.st.addTokenLocked(out.access, &tokenEntry{grant: g, iat: now, exp: out.accessExp,
		killedAt: inherit(g.pendingAccess, now)})
	if withRefresh {
		if e, ok := s.st.refresh[g.refresh]; ok {
			s.st.dropTokenLocked(e)
		}
		out.refresh = randomToken()
		s.st.addTokenLocked(out.refresh, &tokenEntry{grant: g, isRefresh: true, iat: now,
			exp: now.Add(s.rtTTL), killedAt: inherit(g.pendingRefresh, now)})
	}
	return out
}

// inherit gives a new token the grant's kill still to come, if any.
func inherit(pending, now time.Time) time.Time {
	if now.Before(pending) {
		return pending
	}
	return time.Time{}
}

// addTokenLocked indexes a token under its value and its grant; a refresh
// token becomes the grant's current one.
func (st *state) addTokenLocked(tok string, e *tokenEntry) {
	e.value = tok
	if e.isRefresh {
		st.refresh[tok] = e
		e.grant.refresh = tok
	} else {
		st.access[tok] = e
	}
	e.grant.tokens = append(e.grant.tokens, e)
}

// dropTokenLocked forgets a token everywhere it is indexed. The grant stays,
// even without tokens (gcLocked and pruneUserLocked drop empty grants).
func (st *state) dropTokenLocked(e *tokenEntry) {
	if e.isRefresh {
		delete(st.refresh, e.value)
		if e.grant.refresh == e.value {
			e.grant.refresh = ""
		}
	} else {
		delete(st.access, e.value)
	}
	e.grant.tokens = slices.DeleteFunc(e.grant.tokens, func(x *tokenEntry) bool { return x == e })
}

// rotate exchanges a refresh token of the client for new tokens of the SAME
// grant; the old refresh token is deleted on use, as Janssen does. The error
// string is the invalid_grant description.
func (s *Server) rotate(tok, clientID string) (issued, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.gcLocked(now)
	e, ok := s.st.refresh[tok]
	if !ok || e.grant.client != clientID || !s.alive(e.killedAt, now) {
		return issued{}, "Unable to find grant object for given code."
	}
	if !now.Before(e.exp) {
		return issued{}, "Unable to find refresh token or otherwise token type or client does not match."
	}
	s.st.dropTokenLocked(e)
	if s.Faults().RefreshRevokesAccess {
		// As Ory Hydra and zitadel do: the grant's earlier access tokens die
		// with the refresh. Not a revocation endpoint: no fault spares it.
		for _, x := range e.grant.tokens {
			if !x.isRefresh {
				x.killedAt = earliest(x.killedAt, now)
			}
		}
	}
	return s.mintLocked(e.grant, true, now), ""
}

// ---- authorization codes ----

func (s *Server) newCode(c authCode) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.gcLocked(now)
	code := randomToken()
	c.exp = now.Add(codeTTL)
	s.st.codes[code] = &c
	return code
}

// takeCode removes the code (single use, even when the exchange then fails)
// and returns it if unexpired.
func (s *Server) takeCode(code string) (authCode, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.codes[code]
	delete(s.st.codes, code)
	if !ok || !s.now().Before(c.exp) {
		return authCode{}, false
	}
	return *c, true
}

// ---- memory bound ----

const gcEvery = time.Minute

// keepsDead reports whether the faults still need dead entries: resurrect
// brings them back, introspection-always-active answers active for any
// token it knows. A token dropped before such a fault was switched on
// answers as unknown (dead), as a real server that had deleted it would.
func keepsDead(f Faults) bool { return f.Resurrect > 0 || f.IntrospectionAlwaysActive }

// goneLocked reports whether a token can be forgotten: expired, or killed
// for good.
func goneLocked(e *tokenEntry, now time.Time, keepDead bool) bool {
	return !now.Before(e.exp) || (!keepDead && !e.killedAt.IsZero() && !now.Before(e.killedAt))
}

// sessionGoneLocked: a dead session looks the same to every observer as a
// gone one, unless the resurrect fault is to bring it back.
func (s *Server) sessionGoneLocked(ss *session, now time.Time, keepDead bool) bool {
	return !now.Before(ss.expires) || (!keepDead && !s.sessionAliveLocked(ss, now))
}

// dropGoneTokensLocked forgets the grant's gone tokens, and the grant once it
// has no token left (nothing can mint from it any more: a refresh needs a
// refresh token).
func (st *state) dropGoneTokensLocked(g *grant, now time.Time, keepDead bool) {
	for _, e := range slices.Clone(g.tokens) {
		if goneLocked(e, now, keepDead) {
			st.dropTokenLocked(e)
		}
	}
	if len(g.tokens) == 0 {
		st.dropGrantLocked(g)
	}
}

// pruneUserLocked drops what a revocation of the user just killed for good:
// the user's own entries only, so a revocation costs what that user holds,
// and a user revoked every minute for hours holds no history.
func (s *Server) pruneUserLocked(inum string, now time.Time) {
	u, ok := s.st.users[inum]
	if !ok {
		return
	}
	keepDead := keepsDead(s.Faults())
	for _, g := range u.grants {
		s.st.dropGoneTokensLocked(g, now, keepDead)
	}
	for _, ss := range u.sessions {
		if s.sessionGoneLocked(ss, now, keepDead) {
			s.st.dropSessionLocked(ss)
		}
	}
}

// gcLocked drops expired and dead entries, at most once a gcEvery of the
// (injected) clock, from the write paths: memory then grows only with what
// is alive, plus what was written within one gcEvery. Revocations prune
// their user at once (pruneUserLocked); this sweep catches expiry, kills
// that took effect later (delay fault, asynchronous vendors) and grants of
// no user (client_credentials).
func (s *Server) gcLocked(now time.Time) {
	if now.Sub(s.st.lastGC) < gcEvery && !now.Before(s.st.lastGC) {
		return
	}
	s.st.lastGC = now
	keepDead := keepsDead(s.Faults())
	for _, g := range s.st.grants {
		s.st.dropGoneTokensLocked(g, now, keepDead)
	}
	for _, ss := range s.st.sessions {
		if s.sessionGoneLocked(ss, now, keepDead) {
			s.st.dropSessionLocked(ss)
		}
	}
	for code, c := range s.st.codes {
		if !now.Before(c.exp) {
			delete(s.st.codes, code)
		}
	}
}
