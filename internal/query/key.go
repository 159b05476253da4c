package query

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/limp-go/limp/internal/oid"
)

// Key returns a canonical encoding of q: two queries have the same key
// exactly when they select, order, page, shape and group the same way
// (values keep their kinds: int64 2 and float64 2 differ, as do an
// oid.ID and its hex string). The read cache keys entries by it.
func Key(q *Query) string {
	var b strings.Builder
	b.WriteString("f")
	keyNode(&b, q.Filter)
	b.WriteString("|s")
	keyValue(&b, q.Search)
	b.WriteString("|o")
	for _, s := range q.Sort {
		keyValue(&b, s.Path)
		if s.Desc {
			b.WriteByte('-')
		}
	}
	fmt.Fprintf(&b, "|k%d|l%d|a", q.Skip, q.Limit)
	if q.Attrs == nil {
		b.WriteString("*")
	}
	for _, a := range q.Attrs {
		keyValue(&b, a)
	}
	b.WriteString("|g")
	for _, g := range q.Group {
		keyValue(&b, g.By)
		fmt.Fprintf(&b, "%d", g.Count)
	}
	if g := q.GeoNear; g != nil {
		b.WriteString("|n")
		keyValue(&b, g.Attr)
		fmt.Fprintf(&b, "%x,%x,%x", math.Float64bits(g.Lng), math.Float64bits(g.Lat), math.Float64bits(g.MaxDistance))
	}
	b.WriteString("|e")
	if q.Extn == nil {
		b.WriteString("*")
	}
	for _, e := range q.Extn {
		keyValue(&b, e)
	}
	if q.Soft {
		b.WriteString("|soft")
	}
	return b.String()
}

func keyNode(b *strings.Builder, n Node) {
	switch n := n.(type) {
	case nil:
		b.WriteString("_")
	case And:
		b.WriteString("&(")
		for _, c := range n {
			keyNode(b, c)
		}
		b.WriteString(")")
	case Or:
		b.WriteString("|(")
		for _, c := range n {
			keyNode(b, c)
		}
		b.WriteString(")")
	case *Cond:
		b.WriteString("c(")
		keyValue(b, n.Path)
		b.WriteString(n.Op.String())
		keyValue(b, n.Value)
		keyValue(b, n.Value2)
		if j := n.Join; j != nil {
			b.WriteString("j(")
			keyValue(b, j.Local)
			keyValue(b, j.Collection)
			fmt.Fprintf(b, "%t%t", j.IDList, j.Deny)
			keyNode(b, j.Filter)
			b.WriteString(")")
		}
		b.WriteString(")")
	case *Access:
		b.WriteString("a(")
		keyValue(b, n.Path)
		keyValue(b, n.User)
		for _, g := range n.Groups {
			keyValue(b, g)
		}
		b.WriteString(")")
	default:
		fmt.Fprintf(b, "?%T", n)
	}
}

// keyValue writes v with its kind, strings length-prefixed.
func keyValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("n")
	case bool:
		if x {
			b.WriteString("t")
		} else {
			b.WriteString("f")
		}
	case int64:
		b.WriteString("i" + strconv.FormatInt(x, 10) + ";")
	case float64:
		b.WriteString("d" + strconv.FormatUint(math.Float64bits(x), 16) + ";")
	case string:
		b.WriteString("s" + strconv.Itoa(len(x)) + ":" + x)
	case oid.ID:
		b.WriteString("o" + x.Hex())
	case []any:
		b.WriteString("[")
		for _, e := range x {
			keyValue(b, e)
		}
		b.WriteString("]")
	case map[string]any:
		b.WriteString("{")
		for _, k := range slices.Sorted(mapKeys(x)) {
			keyValue(b, k)
			keyValue(b, x[k])
		}
		b.WriteString("}")
	default:
		s := fmt.Sprintf("%T:%v", x, x)
		b.WriteString("x" + strconv.Itoa(len(s)) + ":" + s)
	}
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
