package oauth

import (
	"net/url"
	"testing"
)

func TestConfirmFormWithButtonOutsideTheForm(t *testing.T) {
	// oidc-provider's logout prompt: the button sits after the form and
	// names it with form="…".
	page := []byte(`<html><body>
<form id="op.logoutForm" method="post" action="/session/end/confirm">
  <input type="hidden" name="xsrf" value="abc123"/>
</form>
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>
</body></html>`)
	action, method, values, ok := ConfirmForm(page)
	if !ok {
		t.Fatal("no confirmation form found")
	}
	want := url.Values{"xsrf": {"abc123"}, "logout": {"yes"}}
	if action != "/session/end/confirm" || method != "post" || values.Encode() != want.Encode() {
		t.Fatalf("got %s %s %v, want post /session/end/confirm %v", method, action, values, want)
	}
}

func TestLoginFormFields(t *testing.T) {
	for name, page := range map[string]string{
		// zitadel's example OP: the password input has no type=password.
		"untyped password": `<form method="post" action="/login/username">
			<input type="hidden" name="id" value="req1">
			<input name="username"><input name="password"><button type="submit">Login</button></form>`,
		"typed fields": `<form method="post" action="/login"><input type="hidden" name="id" value="req1">
			<input type="email" name="login"><input type="password" name="pw"><input type="submit" value="Sign in"></form>`,
	} {
		t.Run(name, func(t *testing.T) {
			f, kind := pickForm(parseForms([]byte(page)))
			if kind != loginForm {
				t.Fatalf("kind %v, want a login form", kind)
			}
			if f.userField == "" || f.passField == "" || f.values.Get("id") != "req1" {
				t.Fatalf("user %q pass %q hidden %q", f.userField, f.passField, f.values.Get("id"))
			}
		})
	}
	// A page with no form at all is not a login page.
	if _, kind := pickForm(parseForms([]byte("<p>hello</p>"))); kind != noForm {
		t.Fatal("found a form in a page without one")
	}
	if _, _, _, ok := ConfirmForm([]byte(`<form><input type="password" name="p"><button>x</button></form>`)); ok {
		t.Fatal("a login form is not a confirmation form")
	}
}
