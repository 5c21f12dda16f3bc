package backchannel

import (
	"fmt"
	"testing"
	"time"
)

// TestJTICacheBounded: the jti memory never holds more than its bound;
// expired entries go first, then the ones that expire soonest, and a jti is
// refused as a replay until its token expires.
func TestJTICacheBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &jtiCache{max: 3, until: map[string]time.Time{}}
	if !c.firstUse("a", now.Add(time.Minute), now) || c.firstUse("a", now.Add(time.Minute), now.Add(59*time.Second)) {
		t.Fatal("a replay within the token's lifetime was not refused")
	}
	if !c.firstUse("a", now.Add(3*time.Minute), now.Add(61*time.Second)) {
		t.Fatal("a jti past its token's expiry is still remembered (the token itself is refused as expired then)")
	}
	for i := 0; i < 10; i++ {
		c.firstUse(fmt.Sprint(i), now.Add(time.Duration(10+i)*time.Minute), now)
		if len(c.until) > 3 {
			t.Fatalf("%d entries, bound 3", len(c.until))
		}
	}
	// The three latest-expiring survive.
	for _, k := range []string{"7", "8", "9"} {
		if _, ok := c.until[k]; !ok {
			t.Fatalf("%s was evicted before sooner-expiring entries: %v", k, c.until)
		}
	}
}
