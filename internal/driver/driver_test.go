package driver

import (
	"reflect"
	"testing"
)

// TestUIDFallbackRecorded: "uid" falls back to the username, and the
// fallback is recorded, also when it is read through an Identity (what a
// webhook template sees).
func TestUIDFallbackRecorded(t *testing.T) {
	c := &Canary{Name: "c1", Username: "canary01", Attributes: map[string]string{"mail": "m@example.com"}}
	if got := c.Attr("mail"); got != "m@example.com" || c.Fallbacks() != nil {
		t.Fatalf("mail: %q, fallbacks %v", got, c.Fallbacks())
	}
	if got := c.Attr("username"); got != "canary01" || c.Fallbacks() != nil {
		t.Fatalf("username is not a fallback: %q, %v", got, c.Fallbacks())
	}
	if got := c.Identity().Attr("uid"); got != "canary01" {
		t.Fatalf("uid: %q", got)
	}
	_ = c.Attr("uid")
	if got := c.Fallbacks(); !reflect.DeepEqual(got, []string{"uid"}) {
		t.Errorf("fallbacks %v, want [uid]", got)
	}
	if v := c.Identity(); v.Tokens != nil || v.Jar != nil || v.Grants != nil {
		t.Error("an identity carries tokens or a session")
	}
	c2 := &Canary{Username: "canary01", Attributes: map[string]string{"uid": "c01"}}
	if got := c2.Attr("uid"); got != "c01" || c2.Fallbacks() != nil {
		t.Errorf("a set uid: %q, fallbacks %v", got, c2.Fallbacks())
	}
}
