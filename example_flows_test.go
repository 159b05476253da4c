package limp_test

// Runnable flows (README, "Flows"): each example starts an app on the
// in-memory store with limptest.Serve, talks to it with the Go client, and
// prints what a client sees.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// Ticket is the document type of the examples.
type Ticket struct {
	limp.OwnedDoc        // _id, create_time, user (set on create)
	Title         string `json:"title" validate:"min=1,max=200"`
	Slug          string `json:"slug" limp:"unique"`
	Status        string `json:"status" limp:"default=open" validate:"oneof=open closed"`
}

// exampleApp serves an app with a "ticket" module (each user reads and
// writes their own tickets, ADMIN all of them), sign-up open to anyone,
// and mods registered in package "ex".
func exampleApp(ctx context.Context, hooks limp.Hooks, mods ...*limp.Module) *limptest.Server {
	tickets := limp.NewModule[Ticket]("ticket", limp.Methods{
		// Perms are tried in order; the first whose privilege the
		// caller holds applies, with its QueryMod.
		"read": {Permissions: []limp.Perm{
			{Privilege: "admin"},
			{Privilege: "read", QueryMod: limp.M{"user": limp.VarUser}},
		}},
		"create": {Permissions: limp.Perms("create")},
		"update": {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "update", QueryMod: limp.M{"user": limp.VarUser}}},
			QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
		"delete": {Permissions: []limp.Perm{{Privilege: "admin"}, {Privilege: "delete", QueryMod: limp.M{"user": limp.VarUser}}},
			QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}, {"status": {Type: limp.TypeStr}}}},
	})
	tickets.Hooks = hooks
	app := limp.New(limptest.ExampleConfig(limp.Config{
		Name:              "ex",
		Locales:           []string{"en_AE"},
		AnonPrivileges:    limp.Privileges{"user": {"create"}},
		DefaultPrivileges: limp.Privileges{"ticket": {"read", "create", "update", "delete"}},
	}))
	app.Register("ex", append([]*limp.Module{tickets}, mods...)...)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	srv, err := limptest.Serve(ctx, app)
	if err != nil {
		panic(err)
	}
	return srv
}

func exDial(ctx context.Context, srv *limptest.Server) *client.Client {
	c, err := srv.Dial(ctx, nil)
	if err != nil {
		panic(err)
	}
	return c
}

// exSignUpIn signs up a user with email and password, and signs in.
func exSignUpIn(ctx context.Context, c *client.Client, email, password string) {
	if _, err := c.SignUp(ctx, "email", email, password, map[string]any{"name": map[string]any{"en_AE": email}, "locale": "en_AE"}); err != nil {
		panic(err)
	}
	if _, err := c.Auth(ctx, "email", email, password); err != nil {
		panic(err)
	}
}

func exCreate(ctx context.Context, c *client.Client, title string) string {
	res, err := c.Call(ctx, "ticket/create", nil, map[string]any{"title": title, "slug": strings.ToLower(strings.ReplaceAll(title, " ", "-"))})
	if err != nil {
		panic(err)
	}
	var args struct {
		Docs []struct {
			ID string `json:"_id"`
		}
	}
	if err := res.DecodeArgs(&args); err != nil {
		panic(err)
	}
	return args.Docs[0].ID
}

func exTitles(ctx context.Context, c *client.Client, query any) []string {
	r, err := client.Read[Ticket](ctx, c, "ticket", query)
	if err != nil {
		return []string{client.CodeOf(err)}
	}
	var out []string
	for _, d := range r.Docs {
		out = append(out, d.Title)
	}
	return out
}

// Permissions: a user's "read" Perm carries a QueryMod {user: $__user},
// so each user reads only their own tickets; ADMIN matches the first Perm
// (privilege "admin", no QueryMod) and reads every ticket. ANON holds no
// ticket privilege at all.
func Example_permissions() {
	ctx := context.Background()
	srv := exampleApp(ctx, limp.Hooks{})
	defer srv.Close()

	ann, bob, admin, anon := exDial(ctx, srv), exDial(ctx, srv), exDial(ctx, srv), exDial(ctx, srv)
	defer ann.Close()
	defer bob.Close()
	defer admin.Close()
	defer anon.Close()
	exSignUpIn(ctx, ann, "ann@example.com", "ann's password")
	exSignUpIn(ctx, bob, "bob@example.com", "bob's password")
	exCreate(ctx, ann, "Ann 1")
	exCreate(ctx, bob, "Bob 1")
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		panic(err)
	}
	sorted := []any{map[string]any{"$sort": map[string]any{"title": 1}}}
	fmt.Println("ann:  ", exTitles(ctx, ann, sorted))
	fmt.Println("bob:  ", exTitles(ctx, bob, sorted))
	fmt.Println("admin:", exTitles(ctx, admin, sorted))
	fmt.Println("anon: ", exTitles(ctx, anon, sorted))
	// Output:
	// ann:   [Ann 1]
	// bob:   [Bob 1]
	// admin: [Ann 1 Bob 1]
	// anon:  [CORE_SESSION_FORBIDDEN]
}

// Queries are lists of steps: conditions (an object is AND, a list of
// objects is OR, operators such as $regex and $in), then $sort, $skip,
// $limit and $attrs. A read returns the page and the total.
func Example_queries() {
	ctx := context.Background()
	srv := exampleApp(ctx, limp.Hooks{})
	defer srv.Close()
	c := exDial(ctx, srv)
	defer c.Close()
	exSignUpIn(ctx, c, "q@example.com", "secret words")
	for _, t := range []string{"Alpha", "Beta", "Gamma", "Delta"} {
		exCreate(ctx, c, t)
	}
	fmt.Println(exTitles(ctx, c, []any{
		map[string]any{"title": map[string]any{"$regex": "a$"}},
		map[string]any{"$sort": map[string]any{"title": -1}, "$limit": 2},
	}))
	fmt.Println(exTitles(ctx, c, []any{
		[]any{map[string]any{"slug": "beta"}, map[string]any{"slug": map[string]any{"$in": []any{"gamma"}}}},
		map[string]any{"$sort": map[string]any{"title": 1}},
	}))
	r, err := client.Read[Ticket](ctx, c, "ticket", []any{map[string]any{"$skip": 1, "$limit": 1, "$sort": map[string]any{"title": 1}}})
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Total, r.Count, r.Docs[0].Title)
	// Output:
	// [Gamma Delta]
	// [Beta Gamma]
	// 4 1 Beta
}

// Soft delete and purge: delete marks documents deleted (reads no longer
// see them, and their unique values are free again); a delete with
// "$soft": true (LIMP's spelling) removes them for good and needs the
// module's admin privilege.
func Example_softDeleteAndPurge() {
	ctx := context.Background()
	srv := exampleApp(ctx, limp.Hooks{})
	defer srv.Close()
	c, admin := exDial(ctx, srv), exDial(ctx, srv)
	defer c.Close()
	defer admin.Close()
	exSignUpIn(ctx, c, "d@example.com", "delete me not")
	id := exCreate(ctx, c, "Old")
	res, err := c.Call(ctx, "ticket/delete", []any{map[string]any{"_id": id}}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Msg, exTitles(ctx, c, nil))
	exCreate(ctx, c, "Old") // slug "old" is free again
	fmt.Println(exTitles(ctx, c, nil))

	_, err = c.Call(ctx, "ticket/delete", []any{map[string]any{"status": "open", "$soft": true}}, nil)
	fmt.Println("purge as a user:", client.CodeOf(err))
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		panic(err)
	}
	// The purge removes the live "Old" and the one soft-deleted above.
	res, err = admin.Call(ctx, "ticket/delete", []any{map[string]any{"status": "open", "$soft": true}}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("purge as ADMIN:", res.Msg, exTitles(ctx, c, nil))
	// Output:
	// Deleted 1 docs. []
	// [Old]
	// purge as a user: CORE_SESSION_FORBIDDEN
	// purge as ADMIN: Deleted 2 docs. []
}

// Hooks run around base methods: a PreCreate hook may change the doc (or
// refuse with an *Error and its code), an OnRead hook the result.
func Example_hooks() {
	ctx := context.Background()
	hooks := limp.Hooks{
		PreCreate: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			title, _ := c.Doc["title"].(string)
			if strings.Contains(title, "spam") {
				return nil, c.Module.Error(400, "SPAM", "No spam, please.")
			}
			c.Doc["title"] = strings.ToUpper(title[:1]) + title[1:]
			return nil, nil
		},
		OnRead: func(ctx context.Context, c *limp.Call, r *limp.Result) (*limp.Result, error) {
			r.Args["served_by"] = "limp-go"
			return r, nil
		},
	}
	srv := exampleApp(ctx, hooks)
	defer srv.Close()
	c := exDial(ctx, srv)
	defer c.Close()
	exSignUpIn(ctx, c, "h@example.com", "hooked on hooks")
	exCreate(ctx, c, "lower case")
	_, err := c.Call(ctx, "ticket/create", nil, map[string]any{"title": "buy spam", "slug": "spam"})
	fmt.Println(client.CodeOf(err))
	res, err := c.Call(ctx, "ticket/read", nil, nil)
	if err != nil {
		panic(err)
	}
	var args struct {
		Docs     []Ticket `json:"docs"`
		ServedBy string   `json:"served_by"`
	}
	if err := res.DecodeArgs(&args); err != nil {
		panic(err)
	}
	fmt.Println(args.Docs[0].Title, args.ServedBy)
	// Output:
	// EX_TICKET_SPAM
	// Lower case limp-go
}

// A custom method is a Method with a Handler: it goes through the same
// permission and argument checks as base methods (a missing doc arg is
// 400 <PKG>_<MODULE>_INVALID_DOC). Here a service (a module without documents) greets.
func Example_customMethod() {
	ctx := context.Background()
	greeter := limp.NewService("greeter", limp.Methods{
		"hello": {
			Permissions: limp.Perms("*"),
			DocArgs:     []limp.Args{{"name": {Type: limp.TypeStr}}},
			Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
				return limp.OK("Greeted.", limp.M{"greeting": fmt.Sprintf("Hello, %v!", c.Doc["name"])}), nil
			},
		},
	})
	srv := exampleApp(ctx, limp.Hooks{}, greeter)
	defer srv.Close()
	c := exDial(ctx, srv)
	defer c.Close()
	res, err := c.Call(ctx, "greeter/hello", nil, map[string]any{"name": "Ada"})
	if err != nil {
		panic(err)
	}
	var args struct{ Greeting string }
	_ = res.DecodeArgs(&args)
	fmt.Println(res.Msg, args.Greeting)
	_, err = c.Call(ctx, "greeter/hello", nil, map[string]any{})
	fmt.Println(client.CodeOf(err))
	// Output:
	// Greeted. Hello, Ada!
	// EX_GREETER_INVALID_DOC
}
