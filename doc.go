// Package limp is limp-go: an embeddable Go framework for LIMP apps.
//
// A LIMP app declares modules: document types with typed attrs, methods and
// permissions. Clients (such as the ng-limp SDK, or package
// github.com/limp-go/limp/client) talk to it over a websocket at /ws, each
// call a JSON frame carrying an HS256 JWT signed with the connection's
// session token (a public anon token before sign-in). limp-go speaks LIMP
// v6.0's wire protocol exactly, with LIMP's own bugs fixed.
//
// Declare a module as a Go struct; attrs come from its fields:
//
//	type Blog struct {
//		limp.OwnedDoc                         // _id, create_time, user
//		Status    string      `json:"status" limp:"default=draft" validate:"oneof=draft published"`
//		Title     limp.Locale `json:"title" limp:"search"`
//		Cat       limp.ID     `json:"cat" limp:"ref=blog_cat"`
//		Permalink string      `json:"permalink" limp:"unique"`
//	}
//
//	blog := limp.NewModule[Blog]("blog", limp.Methods{
//		"read":   {Permissions: limp.Perms("*")},
//		"create": {Permissions: limp.Perms("create")},
//	})
//	app := limp.New(limp.Config{Name: "blog"})
//	app.Register("blog", blog)
//	app.Run()
//
// Run parses LIMP's command line (--env, --debug, --packages, -p/--port,
// --data, --version) and serves until SIGINT or SIGTERM. To serve the app
// from your own http.Server, call Start, mount the App (an http.Handler)
// and call Shutdown.
//
// Documents are stored in an embedded SQLite database
// (./limp_data/<name>.db by default, no server to install) or in MongoDB
// when --data is a mongodb:// URI.
//
// Field tags: `json` names the attr; `validate` holds validator/v10 rules;
// `limp` holds LIMP options: unique, index, search, optional, ref=module,
// type=TYPE, pattern=RE, min=N, max=N, default=JSON, desc=TEXT. A pointer
// field is optional.
package limp
