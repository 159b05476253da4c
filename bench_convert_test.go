package limp

import (
	"reflect"
	"testing"

	"github.com/limp-go/limp/internal/jsonv"
)

// Doc20 is a 20-attr document for the conversion benchmark.
type Doc20 struct {
	Doc
	Title    Locale            `json:"title"`
	Slug     string            `json:"slug" limp:"pattern=[a-z0-9-]+"`
	Status   string            `json:"status" validate:"oneof=draft published"`
	Email    string            `json:"email" limp:"type=EMAIL"`
	Phone    string            `json:"phone" limp:"type=PHONE"`
	Site     string            `json:"site" limp:"type=URI_WEB"`
	IP       string            `json:"ip" limp:"type=IP"`
	When     string            `json:"when" limp:"type=DATETIME"`
	Day      string            `json:"day" limp:"type=DATE"`
	Count    int64             `json:"count" limp:"min=0,max=1000"`
	Price    float64           `json:"price"`
	Active   bool              `json:"active"`
	Owner    ID                `json:"owner"`
	Tags     []string          `json:"tags" limp:"max=10"`
	Refs     []ID              `json:"refs"`
	Meta     map[string]string `json:"meta"`
	Loc      Geo               `json:"loc"`
	Extra    any               `json:"extra"`
	Note     *string           `json:"note"`
	Position struct {
		X int64 `json:"x"`
		Y int64 `json:"y"`
	} `json:"position"`
}

var doc20JSON = `{"title":{"ar_AE":"عنوان","en_AE":"Title"},"slug":"a-post","status":"draft","email":"a@example.com",
"phone":"+971501234567","site":"https://example.com/x","ip":"10.0.0.1","when":"2020-01-01T10:00:00","day":"2020-01-01",
"count":12,"price":9.5,"active":true,"owner":"5e1d1e0c0a1b2c3d4e5f6071","tags":["a","b"],
"refs":["5e1d1e0c0a1b2c3d4e5f6071"],"meta":{"k":"v"},"loc":{"type":"Point","coordinates":[55.2,25.1]},
"extra":{"any":[1,2]},"note":"n","position":{"x":1,"y":2}}`

// BenchmarkConvert20 validates and converts a 20-attr document, attr by
// attr, as create does.
func BenchmarkConvert20(b *testing.B) {
	attrs, err := attrsOf(reflect.TypeFor[Doc20]())
	if err != nil {
		b.Fatal(err)
	}
	v, err := jsonv.Parse([]byte(doc20JSON))
	if err != nil {
		b.Fatal(err)
	}
	doc := v.(map[string]any)
	cc := &convertCtx{locales: []string{"ar_AE", "en_AE"}, locale: "ar_AE"}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n := 0
		for _, at := range attrs {
			if at.Name == "_id" || at.Name == "create_time" {
				continue
			}
			if _, err := at.convert(cc, doc[at.Name], at.Name); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 20 {
			b.Fatalf("converted %d attrs", n)
		}
	}
}
