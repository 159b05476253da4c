package main

import (
	"context"
	"strings"

	"github.com/limp-go/limp"
)

// readOnly is the example's interceptor (limp.Interceptor): while on
// (BLOG_READ_ONLY set, e.g. during a migration), every call of a write
// method — create, update, delete, and file changes — is refused with
// 503 "The blog is read-only for maintenance." BLOG_READ_ONLY, over the
// websocket and HTTP alike; reads and sign-ins go on.
func readOnly(on bool) limp.Interceptor {
	return func(next limp.Handler) limp.Handler {
		if !on {
			return next // costs nothing when off
		}
		return func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			switch _, meth, _ := strings.Cut(c.Endpoint, "/"); meth {
			case "create", "update", "delete", "create_file", "delete_file":
				if !strings.HasPrefix(c.Endpoint, "session/") {
					return nil, limp.NewError(503, "BLOG_READ_ONLY", "The blog is read-only for maintenance.")
				}
			}
			return next(ctx, c)
		}
	}
}
