// Command tenants is limp-go's realm-mode example (spec §5.6): a help
// desk where each client company is a realm with its own users,
// customers and tickets, none of which another realm can see.
//
//	go run ./examples/tenants   # serves ws://127.0.0.1:8081/ws/{realm} (-p to change)
//
// ADMIN signs in at /ws/__global and creates a realm with realm/create:
//
//	{"name": "acme", "user": {"name": {"en_AE": "Acme admin"},
//	  "email": "admin@acme.example", "email_hash": <client.Hash(...)>}}
//
// which makes the realm's admin (who signs in at /ws/acme at once) and its
// DEFAULT group. Every call at /ws/acme or /acme/{module}/{method} then
// reads and writes acme's documents only.
package main

import (
	"context"

	"github.com/limp-go/limp"
)

// Customer is a company a realm serves. Names are unique per realm.
type Customer struct {
	limp.Doc
	Name string `json:"name" limp:"unique" validate:"min=1,max=200"`
	Tier int64  `json:"tier" limp:"default=1,min=1,max=3"`
}

// Ticket is a support request about a customer.
type Ticket struct {
	limp.OwnedDoc
	Title    string     `json:"title" limp:"search" validate:"min=1,max=200"`
	Customer limp.ID    `json:"customer" limp:"ref=customer"`
	Priority int64      `json:"priority" limp:"default=2,min=1,max=5"`
	Status   string     `json:"status" limp:"default=open" validate:"oneof=open closed"`
	Shot     *limp.File `json:"shot" limp:"types=image/*,max_size=1048576"`
}

// Modules returns the example's modules.
func Modules() []*limp.Module {
	byID := []limp.Args{{"_id": {Type: limp.TypeID}}}
	customers := limp.NewModule[Customer]("customer", limp.Methods{
		"read":   {Permissions: limp.Perms("read")},
		"watch":  {Permissions: limp.Perms("read")}, // live queries, scoped to the caller's realm
		"create": {Permissions: limp.Perms("admin")},
		"update": {Permissions: limp.Perms("admin"), QueryArgs: byID},
		"delete": {Permissions: limp.Perms("admin"), QueryArgs: byID},
	})
	customers.Cache = []limp.CacheSet{{}} // cached reads, keyed per realm
	tickets := limp.NewModule[Ticket]("ticket", limp.Methods{
		// The realm's admins read every ticket, users their own.
		"read": {Permissions: []limp.Perm{
			{Privilege: "admin"},
			{Privilege: "read", QueryMod: limp.M{"user": limp.VarUser}},
		}},
		"create": {Permissions: limp.Perms("create")},
		"update": {Permissions: []limp.Perm{
			{Privilege: "admin"},
			{Privilege: "update", QueryMod: limp.M{"user": limp.VarUser}},
		}, QueryArgs: byID},
		"delete": {Permissions: limp.Perms("admin"), QueryArgs: byID},
		// Tickets open in the realm, over HTTP GET /{realm}/ticket/open.
		"open": {
			Permissions: limp.Perms("*"),
			GetMethod:   true,
			Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
				res, err := c.App().Invoke(ctx, c.App().SystemSession(), "ticket/read",
					limp.NewQuery(limp.M{"status": "open"}, limp.M{"$limit": 1, "$attrs": []any{"_id"}}), nil)
				if err != nil {
					return nil, err
				}
				return limp.OK("Open tickets in the realm.", limp.M{"realm": c.Realm, "count": res.Args["total"]}), nil
			},
		},
	})
	return []*limp.Module{customers, tickets}
}

// NewApp returns the example app, in realm mode.
func NewApp(cfg limp.Config) *limp.App {
	cfg.Name = "tenants"
	cfg.Version = "1.0.0"
	cfg.Realm = true
	cfg.Locales = []string{"en_AE"}
	cfg.Locale = "en_AE"
	if cfg.DefaultPrivileges == nil {
		// A realm's users read its customers and file tickets.
		cfg.DefaultPrivileges = limp.Privileges{"customer": {"read"}, "ticket": {"read", "create", "update"},
			"user": {"read", "update"}, "session": {"read", "delete"}}
	}
	app := limp.New(cfg)
	app.Register("tenants", Modules()...)
	return app
}

func main() {
	NewApp(limp.Config{}).Run()
}
