package limp_test

import (
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// strictUser has required attrs whose validation the built-in ANON user
// (and any placeholder) cannot pass.
type strictUser struct {
	Email string `json:"email" limp:"type=EMAIL,domains=[example.com]"`
	Phone string `json:"phone" limp:"type=PHONE,codes=[971]"`
	Code  string `json:"code" limp:"pattern=[A-Z]{3}-[0-9]{4}"`
	Birth string `json:"birth" limp:"type=DATE"`
	Score int64  `json:"score" limp:"min=1"`
}

// TestStartWithStrictUserAndGroups: an app whose Config.User has required
// attrs the ANON user cannot satisfy, and whose Config.Groups entry has no
// Desc, starts; the ANON user and the group are stored and readable, and
// a real user still gets every attr validated.
func TestStartWithStrictUserAndGroups(t *testing.T) {
	staff := limp.NewID()
	cfg := limp.Config{
		Name:       "strict",
		Locale:     "en_AE",
		User:       strictUser{},
		AdminDoc:   limp.M{"email": "admin@example.com", "phone": "+971500000000", "code": "ADM-0001", "birth": "2000-01-01", "score": int64(1)},
		Groups:     []limp.Group{{ID: staff, Name: limp.Locale{"en_AE": "Staff"}, Privileges: limp.Privileges{"user": {"read"}}}},
		QuotaIPMin: -1, QuotaAnonMin: -1,
	}
	app := limp.New(limptest.Config(t, cfg))
	s := limptest.Start(t, app)
	c := dial(t, s.WS)
	signIn(t, c, "admin@example.com", limp.DefaultAdminPassword)
	d := docs(t, must(t, c.call("group/read", []any{map[string]any{"_id": staff.Hex()}}, nil)))
	if len(d) != 1 {
		t.Fatalf("group %s: %v", staff.Hex(), d)
	}
	if desc, _ := d[0]["desc"].(map[string]any); desc == nil {
		t.Errorf("group desc = %v, want a LOCALE", d[0]["desc"])
	}
	// A user created by a client is validated in full.
	wantErr(t, c.call("user/create", nil, map[string]any{"email": "u@example.com", "phone": "+0", "code": "ABC-1234",
		"birth": "2000-01-01", "score": 1, "name": map[string]any{"en_AE": "u"}, "locale": "en_AE", "email_hash": "x"}), 400, "CORE_USER_INVALID_ATTR")
}
