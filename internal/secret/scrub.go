package secret

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// MinScrubLen is the shortest value a Scrubber removes: a shorter one would
// shred ordinary words of the text and protects little anyway.
const MinScrubLen = 4

// Scrubber remembers the secrets one run handled (configured credentials,
// tokens the IdP issued, credentials it sent) and removes them from text,
// in clear and in the encodings a server is likely to echo them in. It is
// safe for concurrent use; the zero value is ready.
type Scrubber struct {
	mu    sync.Mutex
	forms []string        // every registered form, unique, longest first
	added map[string]bool // values already registered: every request re-adds its credentials
}

// Add registers values, each with its encoded forms.
func (s *Scrubber) Add(values ...string) {
	var forms []string
	s.mu.Lock()
	if s.added == nil {
		s.added = map[string]bool{}
	}
	for _, v := range values {
		if len(v) >= MinScrubLen && !s.added[v] {
			s.added[v] = true
			forms = append(forms, encodings(v)...)
		}
	}
	s.mu.Unlock()
	s.addForms(forms)
}

// AddBasic registers a client secret and the HTTP Basic credentials it
// travels in with id: base64 of "id:password" as RFC 7617 writes it, and of
// the form-urlencoded parts as RFC 6749 §2.3.1 does. The id alone is not a
// secret and is not registered.
func (s *Scrubber) AddBasic(id, password string) {
	if len(password) < MinScrubLen {
		return
	}
	s.Add(password,
		base64.StdEncoding.EncodeToString([]byte(id+":"+password)),
		base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(password))))
}

func (s *Scrubber) addForms(forms []string) {
	if len(forms) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forms = append(s.forms, forms...)
	// Longest first: a short secret (a password) that occurs inside a
	// token must not be replaced first, or the token's remainder no longer
	// matches and stays in the text.
	slices.SortFunc(s.forms, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
	})
	s.forms = slices.Compact(s.forms)
}

// Scrub replaces every registered form in text with Redacted.
func (s *Scrubber) Scrub(text string) string {
	if s == nil || text == "" {
		return text
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.forms {
		text = strings.ReplaceAll(text, f, Redacted)
	}
	return text
}

// Len is the number of registered forms.
func (s *Scrubber) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.forms)
}

// encodings are the forms v may be echoed in: as is, URL-encoded (a form
// body or query string), as a JSON string's content (with and without
// Go's HTML escaping, and with "/" escaped as some encoders do) and
// HTML-escaped (an error page).
//
// Each form once: a token's forms are mostly the token itself, and every
// duplicate would be sorted and compacted again by the next Add.
func encodings(v string) []string {
	out := make([]string, 1, 9)
	out[0] = v
	for _, f := range [...]string{url.QueryEscape(v), url.PathEscape(v), html.EscapeString(v)} {
		out = appendNew(out, f)
	}
	for _, j := range [...]string{jsonContent(v, true), jsonContent(v, false)} {
		out = appendNew(appendNew(out, j), strings.ReplaceAll(j, "/", `\/`))
	}
	return out
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// jsonContent is v as encoded inside a JSON string, without the quotes.
func jsonContent(v string, escapeHTML bool) string {
	if jsonPlain(v) {
		// Nothing an encoder would escape (the usual token, password or
		// client secret): v itself, without an encoder per value.
		return v
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(v) // a string always encodes
	s := strings.TrimSuffix(b.String(), "\n")
	return s[1 : len(s)-1]
}

// jsonPlain reports whether v is printable ASCII that encoding/json writes
// as is, HTML escaping or not: no quote, backslash, <, > or &.
func jsonPlain(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
