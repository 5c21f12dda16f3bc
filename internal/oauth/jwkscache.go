package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
)

// JWKSCache keeps issuers' key sets for a receiver that anyone may POST to
// (the back-channel logout endpoint): without it every anonymous request
// would cost the identity provider a JWKS fetch. A set is fresh for the
// answer's Cache-Control max-age, held between MinAge and MaxAge (DefaultAge
// without one). A token whose kid the cached set does not hold (the issuer
// rotated its keys) refetches the set, but one URL is fetched at most once
// per MinRefetch whatever arrives, a failed fetch included; concurrent
// requests share one fetch. The zero value is not usable: call NewJWKSCache.
type JWKSCache struct {
	MinAge, MaxAge, DefaultAge time.Duration
	MinRefetch                 time.Duration
	// Timeout bounds one fetch, which runs detached from the request that
	// caused it (a client that hangs up must not cancel it for the others).
	Timeout time.Duration
	Now     func() time.Time

	mu     sync.Mutex
	sets   map[string]*cachedJWKS // by URL: configured issuers only, so bounded
	flight singleflight.Group
}

type cachedJWKS struct {
	set     *JWKS
	err     error     // the last fetch's error, while set is nil
	fetched time.Time // last fetch attempt
	fresh   time.Time // set is used without refetching until then
}

// ErrJWKSUnavailable wraps every error that comes from reading a key set
// (not from the token).
var ErrJWKSUnavailable = errors.New("the issuer's JWKS could not be read")

// NewJWKSCache returns a cache with the defaults: sets kept 1 min to 1 h
// (5 min without max-age), a URL fetched at most every 30 s, 10 s per fetch.
func NewJWKSCache() *JWKSCache {
	return &JWKSCache{MinAge: time.Minute, MaxAge: time.Hour, DefaultAge: 5 * time.Minute,
		MinRefetch: 30 * time.Second, Timeout: 10 * time.Second, Now: time.Now, sets: map[string]*cachedJWKS{}}
}

// Keyfunc is a jwt.Keyfunc over the key set at u, fetched through c.
func (jc *JWKSCache) Keyfunc(ctx context.Context, c *http.Client, u string) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		set, err := jc.get(ctx, c, u, false)
		if err != nil {
			return nil, err
		}
		key, err := set.Keyfunc(t)
		if errors.Is(err, ErrUnknownKid) {
			if set, err = jc.get(ctx, c, u, true); err != nil {
				return nil, err
			}
			key, err = set.Keyfunc(t)
		}
		return key, err
	}
}

// get returns the set at u: the cached one while fresh (and, when
// kidMissed, while it was fetched less than MinRefetch ago), else a new
// fetch. Within MinRefetch of a failed fetch it returns that failure.
func (jc *JWKSCache) get(ctx context.Context, c *http.Client, u string, kidMissed bool) (*JWKS, error) {
	now := jc.Now()
	jc.mu.Lock()
	e := jc.sets[u]
	jc.mu.Unlock()
	if e != nil {
		recent := now.Sub(e.fetched) < jc.MinRefetch
		switch {
		case e.set == nil && recent:
			return nil, e.err
		case e.set != nil && (recent || (!kidMissed && now.Before(e.fresh))):
			return e.set, nil
		}
	}
	ch := jc.flight.DoChan(u, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jc.Timeout)
		defer cancel()
		set, age, err := fetchJWKS(fctx, c, u)
		fetched := jc.Now()
		jc.mu.Lock()
		defer jc.mu.Unlock()
		if err != nil {
			err = fmt.Errorf("%w: %v", ErrJWKSUnavailable, err)
			// Keep serving a set we had: the IdP being down must not make
			// every genuine token unverifiable.
			if old := jc.sets[u]; old != nil && old.set != nil {
				jc.sets[u] = &cachedJWKS{set: old.set, fetched: fetched, fresh: old.fresh}
				return old.set, nil
			}
			jc.sets[u] = &cachedJWKS{err: err, fetched: fetched}
			return nil, err
		}
		if age < 0 {
			age = jc.DefaultAge
		}
		age = min(max(age, jc.MinAge), jc.MaxAge)
		jc.sets[u] = &cachedJWKS{set: set, fetched: fetched, fresh: fetched.Add(age)}
		return set, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*JWKS), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", ErrJWKSUnavailable, ctx.Err())
	}
}
