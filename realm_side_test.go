package limp_test

import (
	"context"
	"strings"
	"testing"

	"github.com/limp-go/limp"
)

// TestRealmSidePlan: paged reads whose filter and sort are all on
// declared scalars (the embedded store's side-only plan, answered from
// its side table without opening documents) stay scoped to the call's
// realm, page and total, with and without the permission's query_mod
// through a reference, and ExplainFor shows the realm condition in that
// plan.
func TestRealmSidePlan(t *testing.T) {
	app := startRealms(t)
	for _, r := range []string{"r1", "r2"} {
		if err := newRealm(t, app, r, "admin@x.example"); err != nil {
			t.Fatalf("realm %s: %v", r, err)
		}
	}
	for i, pub := range []bool{true, true, true, false, false} {
		invokeID(t, app, "r1", "team/create", limp.M{"name": "a" + string(rune('0'+i)), "public": pub})
	}
	var r2teams []limp.ID
	for i := range 4 {
		r2teams = append(r2teams, invokeID(t, app, "r2", "team/create", limp.M{"name": "b" + string(rune('0'+i)), "public": true}))
	}
	invokeID(t, app, "r2", "member/create", limp.M{"name": "m", "team": r2teams[0]})
	invokeID(t, app, "r1", "member/create", limp.M{"name": "m", "team": r2teams[0]}) // its team is in r2
	reader := &limp.Session{ID: limp.AnonSessionID, UserID: limp.AnonUserID, User: limp.M{"_id": limp.AnonUserID},
		Privileges: limp.Privileges{"team": {"read"}, "member": {"read"}}}
	page := limp.M{"$limit": 2, "$sort": limp.M{"public": -1}}
	for _, c := range []struct {
		realm, endpoint string
		q               []any
		want            int64
	}{
		{"r1", "team/read", []any{limp.M{"public": true}, page}, 3},
		{"r1", "team/read", []any{limp.M{"public": false}, page}, 2},
		{"r1", "team/read", []any{limp.M{"public": limp.M{"$ne": false}}, limp.M{"$limit": 1, "$skip": 2}}, 3},
		{"r2", "team/read", []any{limp.M{"public": true}, page}, 4},
		{"r2", "team/read", []any{limp.M{"public": false}, page}, 0},
		{limp.GlobalRealm, "team/read", []any{limp.M{"public": true}, page}, 0},
		{"r1", "member/read", []any{limp.M{"name": "m"}, limp.M{"$limit": 2, "$sort": limp.M{"name": 1}}}, 0}, // team in r2: hidden
		{"r2", "member/read", []any{limp.M{"name": "m"}, limp.M{"$limit": 2, "$sort": limp.M{"name": 1}}}, 1},
	} {
		if got := count(t, app, c.realm, reader, c.endpoint, c.q...); got != c.want {
			t.Errorf("%s %s %v: total %d, want %d", c.realm, c.endpoint, c.q, got, c.want)
		}
	}
	ex, err := app.ExplainFor(limp.WithRealm(context.Background(), "r1"), reader, "team", []any{limp.M{"public": true}, page})
	if err != nil {
		t.Fatal(err)
	}
	if s := ex.SQL; !strings.Contains(s, `"k_`) || !strings.Contains(strings.Join(argStrings(ex.Args), ","), "r1") {
		t.Errorf("r1's paged read is not the side-only plan scoped to r1: %s %v", s, ex.Args)
	}
}

func argStrings(args []any) []string {
	var out []string
	for _, a := range args {
		if s, ok := a.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
