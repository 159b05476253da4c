package limp_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/limp-go/limp"
)

// A "__sys" method runs only from Go code: with the system session, or
// with the permission check skipped.
func ExampleApp_Invoke() {
	ctx := context.Background()
	ops := limp.NewService("ops", limp.Methods{
		"purge": {Permissions: limp.Perms("__sys"), Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			return limp.OK("Purged.", limp.M{"by_system": c.Session.System()}), nil
		}},
	})
	app := limp.New(limp.Config{Name: "example", Data: ":memory:", Logger: slog.New(slog.DiscardHandler)})
	app.Register("example", ops)
	if err := app.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer app.Shutdown(ctx)

	_, err := app.Invoke(ctx, nil, "ops/purge", nil, nil) // as ANON
	fmt.Println(limp.CodeOf(err))
	res, _ := app.Invoke(ctx, app.SystemSession(), "ops/purge", nil, nil)
	fmt.Println(res.Msg, res.Args["by_system"])
	res, _ = app.Invoke(ctx, nil, "ops/purge", nil, nil, limp.SkipPermissions)
	fmt.Println(res.Msg, res.Args["by_system"])
	// Output:
	// CORE_SESSION_FORBIDDEN
	// Purged. true
	// Purged. false
}
