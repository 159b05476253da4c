package limp_test

import (
	"strings"
	"testing"

	"github.com/limp-go/limp"
)

// TestEmailCaseInsensitive: EMAIL auth attrs are one account in any case,
// for sign-in and uniqueness, for new users and for data stored as typed
// (ADMIN's default email is stored upper-case).
func TestEmailCaseInsensitive(t *testing.T) {
	s := testApp(t, limp.Config{AnonPrivileges: limp.Privileges{"user": {"create"}},
		DefaultPrivileges: limp.Privileges{"user": {"read", "update"}}})
	auth := func(typed, password string) reply {
		return dial(t, s.WS).call("session/auth", nil, map[string]any{"email": typed, "hash": authHash(t, typed, password)})
	}
	// Stored data in another case (ADMIN@LIMP.MASAAR.COM).
	for _, typed := range []string{"admin@limp.masaar.com", "Admin@Limp.Masaar.Com", limp.DefaultAdminEmail} {
		must(t, auth(typed, limp.DefaultAdminPassword))
	}
	wantErr(t, auth("admin@limp.masaar.com", "wrong"), 403, limp.CodeInvalidCreds)

	// A new user, signed up in mixed case.
	anon := dial(t, s.WS)
	r := must(t, anon.call("user/create", nil, map[string]any{"name": map[string]any{"en_AE": "Bob"}, "email": "Bob@Example.com",
		"email_hash": authHash(t, "Bob@Example.com", "pw")}))
	bobID := docs(t, r)[0]["_id"].(string)
	for _, typed := range []string{"bob@example.com", "BOB@EXAMPLE.COM", "Bob@Example.com"} {
		must(t, auth(typed, "pw"))
	}
	// One account in any case: sign-up again is a duplicate, also
	// against ADMIN's upper-case email.
	for _, email := range []string{"bob@EXAMPLE.com", "admin@limp.masaar.com"} {
		r := anon.call("user/create", nil, map[string]any{"name": map[string]any{"en_AE": "X"}, "email": email,
			"email_hash": authHash(t, email, "pw")})
		if r.Status != 400 || !strings.HasSuffix(r.code(), "DUPLICATE_DOC") {
			t.Fatalf("sign-up as %s: %d %s %q, want 400 DUPLICATE_DOC", email, r.Status, r.code(), r.Msg)
		}
	}
	// Changing the password with the current one typed in another case.
	bob := dial(t, s.WS)
	signIn(t, bob, "bob@example.com", "pw")
	must(t, bob.call("user/update", []any{map[string]any{"_id": bobID}}, map[string]any{
		"email_hash": authHash(t, "BOB@example.com", "pw2"), "current_hash": authHash(t, "BOB@EXAMPLE.COM", "pw")}))
	must(t, auth("bob@example.com", "pw2"))
	wantErr(t, auth("bob@example.com", "pw"), 403, limp.CodeInvalidCreds)
	// Changing the email to another user's, in another case, is refused.
	r = bob.call("user/update", []any{map[string]any{"_id": bobID}}, map[string]any{"email": "ADMIN@limp.masaar.com",
		"email_hash": authHash(t, "ADMIN@limp.masaar.com", "pw2"), "current_hash": authHash(t, "bob@example.com", "pw2")})
	if r.Status != 400 || !strings.HasSuffix(r.code(), "DUPLICATE_DOC") {
		t.Fatalf("update to ADMIN's email: %d %s %q", r.Status, r.code(), r.Msg)
	}
	// Its own email in another case is not a duplicate of itself.
	must(t, bob.call("user/update", []any{map[string]any{"_id": bobID}}, map[string]any{"email": "BOB@example.com",
		"email_hash": authHash(t, "BOB@example.com", "pw3"), "current_hash": authHash(t, "bob@example.com", "pw2")}))
	must(t, auth("Bob@Example.Com", "pw3"))
}
