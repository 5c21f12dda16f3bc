package idpsim

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestCanaryUsers: --users N adds canary00001 … canaryN with the documented
// passwords, wider than five digits past 99999, and the two default users
// keep working beside them.
func TestCanaryUsers(t *testing.T) {
	u := CanaryUsers(3)
	if len(u) != 3 || u[0] != (User{Inum: "CANARY00001", UID: "canary00001", Mail: "canary00001@example.com", Password: "canary-password-00001"}) ||
		u[2].UID != "canary00003" {
		t.Errorf("CanaryUsers(3) = %+v", u)
	}
	if big := CanaryUsers(100000); big[0].UID != "canary000001" || big[99999].UID != "canary100000" || big[99999].Password != "canary-password-100000" {
		t.Errorf("CanaryUsers(100000): first %+v, last %+v; want six digits", big[0], big[99999])
	}

	e := newEnv(t, Options{Canaries: 5})
	if n := len(e.srv.Users()); n != 7 {
		t.Fatalf("%d users, want the 2 defaults and 5 canaries", n)
	}
	for _, c := range [][2]string{{"canary01", "canary-password-01"}, {"canary02", "canary-password-02"}, {"canary00005", "canary-password-00005"}} {
		if tk := e.ropc(c[0], c[1]); !e.active(tk.access) {
			t.Errorf("%s cannot log in", c[0])
		}
	}
	if r := e.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"password"}, "username": {"canary00006"},
		"password": {"canary-password-00006"}, "scope": {"openid"}}, app); r.status == 200 {
		t.Error("canary00006 logs in, but only 5 canaries were asked for")
	}
}

// stateSize counts every entry the simulator holds.
func (s *Server) stateSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.st.sessions) + len(s.st.bySID) + len(s.st.grants) + len(s.st.access) + len(s.st.refresh) + len(s.st.codes) + len(s.st.users)
	for _, u := range s.st.users {
		n += len(u.sessions) + len(u.grants)
	}
	return n
}

// TestStateStaysBoundedUnderRevocations: canaries logged in and revoked
// over and over for hours (as `revprober run` does) leave nothing behind,
// and what was dropped still answers as revoked: introspection inactive,
// userinfo 401, the refresh token refused, the session unknown.
func TestStateStaysBoundedUnderRevocations(t *testing.T) {
	const users, rounds = 10, 600
	e := newEnv(t, Options{Canaries: users})
	canaries := CanaryUsers(users)
	var first struct {
		sess string
		tk   tokens
	}
	peak := 0
	for i := range rounds {
		c := canaries[i%users]
		var sess string
		var tk tokens
		if i%3 == 0 {
			sess, tk = e.browserLogin(c.UID, c.Password) // a session and a grant from it
		} else {
			tk = e.ropc(c.UID, c.Password)
		}
		if i == 0 {
			first.sess, first.tk = sess, tk
		}
		if s := e.gtr(c.UID); s != 204 {
			t.Fatalf("round %d: GTR %d", i, s)
		}
		e.clk.Add(6e9) // a run every 6 s of the simulator's clock: an hour in all
		peak = max(peak, e.srv.stateSize())
	}
	// What is left: the admin tokens of the last 5 minutes (one per GTR,
	// client_credentials), nothing per round of canary history.
	if peak > 400 {
		t.Errorf("the state peaked at %d entries after %d logins and revocations: it grows with history", peak, rounds)
	}
	if e.active(first.tk.access) || e.userinfo(first.tk.access) != 401 || e.refreshWorks(first.tk.refresh) || e.sessionState(first.sess) != "unknown" {
		t.Error("a revoked and forgotten login answers as alive")
	}
}

// TestConcurrentCanaries: many canaries log in and are revoked at the same
// time (run under -race): each revocation kills exactly its own user's
// tokens and session, never another canary's.
func TestConcurrentCanaries(t *testing.T) {
	const users, rounds = 8, 15
	e := newEnv(t, Options{Canaries: users})
	var wg sync.WaitGroup
	for _, c := range CanaryUsers(users) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				sess, tk := e.browserLogin(c.UID, c.Password)
				other := e.ropc(c.UID, c.Password)
				if !e.active(tk.access) || e.sessionState(sess) != "authenticated" {
					t.Errorf("%s round %d: fresh login not alive", c.UID, i)
					return
				}
				if s := e.gtr(c.UID); s != 204 {
					t.Errorf("%s round %d: GTR %d", c.UID, i, s)
					return
				}
				if e.active(tk.access) || e.active(other.access) || e.refreshWorks(tk.refresh) || e.sessionState(sess) != "unknown" {
					t.Errorf("%s round %d: its own revocation left something alive", c.UID, i)
					return
				}
			}
		}()
	}
	// A bystander logged in before and never revoked stays alive through
	// every other canary's revocations.
	bystander := e.ropc("canary01", "canary-password-01")
	wg.Wait()
	if !e.active(bystander.access) || !e.refreshWorks(bystander.refresh) {
		t.Error("another user's revocation killed canary01's tokens")
	}
	checkIndexes(t, e.srv)
}

// BenchmarkRevokeAfterHistory: one canary's login and global revocation,
// beside 5,000 other canaries logged in, after `old` earlier logins that
// were revoked (the history hours of runs leave). The ns/op must not grow
// with old: a revocation touches only its user's entries, and history is
// not kept. (Before the per-user index and pruning, every revocation
// scanned every grant kept, revoked refresh tokens for 24 h.)
func BenchmarkRevokeAfterHistory(b *testing.B) {
	for _, old := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("old=%d", old), func(b *testing.B) {
			clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} // not zero: a zero kill time means "never killed"
			s := New(Options{Now: clk.Now})
			r := httptest.NewRequest("POST", "/jans-auth/restv1/global-token-revocation", nil)
			scopes := []string{"openid", "offline_access"}
			login := func(user string) {
				ss := s.newSession(user)
				s.newGrant(user, "canary-app", ss.id, scopes, true)
			}
			for i := range old {
				user := fmt.Sprintf("OLD%05d", i%10_000)
				login(user)
				s.revokeUser(r, user, killAll)
			}
			for i := range 5_000 {
				login(fmt.Sprintf("LIVE%05d", i))
			}
			b.ResetTimer()
			for range b.N {
				login("CANARY01")
				s.revokeUser(r, "CANARY01", killAll)
			}
		})
	}
}
