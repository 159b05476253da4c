package limp

import (
	"reflect"
	"testing"

	"github.com/limp-go/limp/internal/jsonv"
)

// BenchmarkClientFilesMark measures the forged-file check's walk of a
// client doc (filekeep.go) against converting the same 20-attr doc
// (BenchmarkConvert20's work), the cost every client call with a doc now
// pays: report the ratio of the two.
func BenchmarkClientFilesMark(b *testing.B) {
	v, err := jsonv.Parse([]byte(doc20JSON))
	if err != nil {
		b.Fatal(err)
	}
	doc := v.(map[string]any)
	b.Run("mark", func(b *testing.B) {
		c := &Call{Doc: doc}
		b.ReportAllocs()
		for range b.N {
			c.markClientFiles()
		}
		if len(c.clientFiles) != 0 {
			b.Fatal("a file object in a doc without files")
		}
	})
	b.Run("convert", func(b *testing.B) {
		attrs, err := attrsOf(reflect.TypeFor[Doc20]())
		if err != nil {
			b.Fatal(err)
		}
		cc := &convertCtx{locales: []string{"ar_AE", "en_AE"}, locale: "ar_AE"}
		b.ReportAllocs()
		for range b.N {
			for _, at := range attrs {
				if at.Name == "_id" || at.Name == "create_time" {
					continue
				}
				if _, err := at.convert(cc, doc[at.Name], at.Name); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
