package limp_test

import (
	"testing"

	"github.com/limp-go/limp"
)

// Issue 10 item 3 variant: a change of the DEFAULT group's privileges
// takes effect on live connections by the next call.
func TestVerify10RevokeDefaultGroup(t *testing.T) {
	e := newRevokeEnv(t)
	wantErr(t, e.b.call("post/create", nil, post("d0")), 403, limp.CodeForbidden)
	dg := "f00000000000000000000013"
	must(t, e.admin.call("group/update", []any{map[string]any{"_id": dg}}, map[string]any{"privileges": map[string]any{"post": []any{"read", "create"}}}))
	must(t, e.b.call("post/create", nil, post("d1")))
	must(t, e.admin.call("group/update", []any{map[string]any{"_id": dg}}, map[string]any{"privileges": map[string]any{"post": []any{"read"}}}))
	wantErr(t, e.b.call("post/create", nil, post("d2")), 403, limp.CodeForbidden)
}
