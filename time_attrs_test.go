package limp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

type Event struct {
	limp.Doc
	When  time.Time            `json:"when"`
	Ends  *time.Time           `json:"ends"`
	Day   time.Time            `json:"day" limp:"type=DATE"`
	At    time.Time            `json:"at" limp:"type=TIME"`
	Dates []time.Time          `json:"dates" limp:"type=DATE,default=[]"`
	ByKey map[string]time.Time `json:"by_key" limp:"default={}"`
}

// TestTimeFieldsAreTemporalAttrs: time.Time and *time.Time fields are
// DATETIME attrs (optional for a pointer), narrowed by type=DATE/TIME;
// their values travel as LIMP's ISO strings.
func TestTimeFieldsAreTemporalAttrs(t *testing.T) {
	m := limp.NewModule[Event]("event", limp.Methods{
		"read":   {Permissions: limp.Perms("*")},
		"create": {Permissions: limp.Perms("*")},
	})
	s := startApp(t, limp.Config{Name: "events", QuotaIPMin: -1, QuotaAnonMin: -1}, m)
	for _, tt := range []struct {
		attr     string
		typ      limp.Type
		optional bool
	}{
		{"when", limp.TypeDatetime, false}, {"ends", limp.TypeDatetime, true}, {"day", limp.TypeDate, false}, {"at", limp.TypeTime, false},
	} {
		a := m.Attr(tt.attr)
		if a == nil || a.Type != tt.typ || a.Optional != tt.optional {
			t.Errorf("attr %s = %+v, want %s optional=%v", tt.attr, a, tt.typ, tt.optional)
		}
	}
	if a := m.Attr("dates"); a == nil || a.Type != limp.TypeList || a.Items[0].Type != limp.TypeDate {
		t.Errorf("attr dates = %+v, want LIST of DATE", a)
	}
	if a := m.Attr("by_key"); a == nil || a.Type != limp.TypeDict || a.Val.Type != limp.TypeDatetime {
		t.Errorf("attr by_key = %+v, want DICT of DATETIME", a)
	}
	c := dial(t, s.WS)
	r := must(t, c.call("event/create", nil, map[string]any{"when": "2024-05-06T07:08:09+04:00", "day": "2024-05-06", "at": "07:08",
		"dates": []any{"2024-01-01"}, "by_key": map[string]any{"start": "2024-05-06T07:08:09"}}))
	d := docs(t, must(t, c.call("event/read", []any{map[string]any{"_id": docs(t, r)[0]["_id"]}}, nil)))[0]
	if d["when"] != "2024-05-06T03:08:09.000000" || d["day"] != "2024-05-06" || d["at"] != "07:08" {
		t.Errorf("stored %v", d)
	}
	for _, bad := range []map[string]any{
		{"when": "yesterday", "day": "2024-05-06", "at": "07:08"},
		{"when": "2024-05-06T07:08:09", "day": "2024-05-06T07:08:09", "at": "07:08"},
		{"when": "2024-05-06T07:08:09", "day": "2024-05-06", "at": "7 o'clock"},
		{"when": "2024-05-06T07:08:09", "day": "2024-05-06", "at": "07:08", "dates": []any{"2024-13-01"}},
	} {
		wantErr(t, c.call("event/create", nil, bad), 400, "TEST_EVENT_INVALID_ATTR")
	}
}

type badTime struct {
	limp.Doc
	When time.Time   `json:"when" limp:"type=INT"`
	L    []time.Time `json:"l" limp:"type=STR"`
}

func TestTimeFieldWrongTypeTag(t *testing.T) {
	app := limp.New(limptest.Config(t, limp.Config{Name: "bad"}))
	app.Register("test", limp.NewModule[badTime]("bad_time", limp.Methods{"read": {Permissions: limp.Perms("*")}}))
	err := app.Start(t.Context())
	want := `module "bad_time": attr "when": a time.Time field is DATETIME, DATE or TIME, not INT; attr "l": a time.Time field is DATETIME, DATE or TIME, not STR`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Start = %v, want containing %q", err, want)
	}
}
