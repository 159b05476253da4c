package mongo

import (
	"errors"
	"fmt"
	"testing"

	"github.com/limp-go/limp/internal/store"
)

// TestOverflowError: the server's refusal of an integer $inc or $mul
// (MongoDB's BadValue text, which FerretDB shares) becomes a
// *store.OverflowError naming the path that overflows; other errors
// pass through.
func TestOverflowError(t *testing.T) {
	const doc = ` for document {_id: ObjectId('6b0ca3f82f69d24d6525ab86')}`
	tests := []struct {
		msg  string
		u    *store.Update
		want string // "" for pass-through
	}{
		{"write exception: write errors: [Failed to apply $inc operations to current value ((NumberLong)9223372036854775807)" + doc + "]",
			&store.Update{Add: map[string]any{"n": int64(1)}}, `"n": 9223372036854775807 + 1 overflows a 64-bit integer`},
		{"Failed to apply $mul operations to current value ((NumberLong)-9223372036854775808)" + doc,
			&store.Update{Mul: map[string]any{"n": int64(-1)}}, `"n": -9223372036854775808 * -1 overflows a 64-bit integer`},
		{"Failed to apply $inc operations to current value ((NumberLong)9223372036854775800)" + doc,
			&store.Update{Add: map[string]any{"a": int64(1), "b": int64(100)}}, `"b": 9223372036854775800 + 100 overflows a 64-bit integer`},
		{"Failed to apply $inc operations to current value ((NumberInt)5)" + doc,
			&store.Update{Add: map[string]any{"n": int64(1)}}, `"n": 5 + 1 overflows a 64-bit integer`},
		{"Cannot apply $inc to a value of non-numeric type", &store.Update{Add: map[string]any{"n": int64(1)}}, ""},
		{"E11000 duplicate key error", &store.Update{Add: map[string]any{"n": int64(1)}}, ""},
	}
	for _, tt := range tests {
		in := fmt.Errorf("update x: %w", errors.New(tt.msg))
		got := overflowError(in, tt.u)
		var oe *store.OverflowError
		switch {
		case tt.want == "" && got != in:
			t.Errorf("%q: got %v, want it passed through", tt.msg, got)
		case tt.want != "" && (!errors.As(got, &oe) || oe.Error() != tt.want):
			t.Errorf("%q: got %v, want %s", tt.msg, got, tt.want)
		}
	}
}
