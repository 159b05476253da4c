// Code copied from ../../../examples/blog/main.go and readonly.go (package main
// cannot be imported); TestExampleCopy fails when the copy drifts.

package main

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/limp-go/limp"
)

// BlogCat is a blog category.
type BlogCat struct {
	limp.Doc
	Title limp.Locale  `json:"title"`
	Desc  *limp.Locale `json:"desc"`
}

// Blog is a blog post.
type Blog struct {
	limp.OwnedDoc
	Status    string       `json:"status" limp:"default=draft" validate:"oneof=draft pending rejected published"`
	Title     limp.Locale  `json:"title" limp:"search"`
	Subtitle  *limp.Locale `json:"subtitle"`
	Content   limp.Locale  `json:"content" limp:"search"`
	Permalink string       `json:"permalink" limp:"unique,pattern=^[a-z0-9-]+$"`
	Cat       limp.ID      `json:"cat" limp:"ref=blog_cat,index"`
	Tags      []string     `json:"tags" limp:"default=[]"`
	Views     int64        `json:"views" limp:"default=0,min=0"`
	// Cover is an image, uploaded in chunks over the websocket or with
	// POST /file/create, served at /blog/retrieve_file/{_id}/cover/{name}
	// (and /{WxH}/{name} for thumbnails).
	Cover *limp.File `json:"cover" limp:"types=image/*,max_size=5242880,max_dims=[4096,4096]"`
}

// Modules returns the example's modules; tests reuse them.
func Modules() []*limp.Module {
	cats := limp.NewModule[BlogCat]("blog_cat", limp.Methods{
		"read":   {Permissions: limp.Perms("*")},
		"create": {Permissions: limp.Perms("admin")},
		"update": {Permissions: limp.Perms("admin"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
		"delete": {Permissions: limp.Perms("admin"), QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
	})
	// Anyone reads published posts; authors also read their own.
	readPerms := []limp.Perm{
		{Privilege: "admin"},
		{Privilege: "read", QueryMod: []limp.M{{"status": "published"}, {"user": limp.VarUser}}},
		{Privilege: "*", QueryMod: limp.M{"status": "published"}},
	}
	blog := limp.NewModule[Blog]("blog", limp.Methods{
		"read": {Permissions: readPerms},
		// Live queries with read's permissions (spec §6.12): anonymous
		// watchers see published posts only.
		"watch": {Permissions: readPerms, Watch: true},
		"create": {Permissions: []limp.Perm{
			{Privilege: "admin"},
			// Authors start drafts with no views: both are the
			// server's to set.
			{Privilege: "create", DocMod: limp.M{"status": "draft", "views": nil}},
		}},
		"update": {Permissions: []limp.Perm{
			{Privilege: "admin"},
			{Privilege: "update", QueryMod: limp.M{"user": limp.VarUser}, DocMod: limp.M{"status": nil, "views": nil}},
		}, QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
		"delete": {Permissions: []limp.Perm{
			{Privilege: "admin"},
			{Privilege: "delete", QueryMod: limp.M{"user": limp.VarUser}},
		}, QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}}}},
		// Files: attach or remove the cover of one's own post.
		"create_file": {Permissions: []limp.Perm{
			{Privilege: "admin"},
			{Privilege: "update", QueryMod: limp.M{"user": limp.VarUser}},
		}},
		"delete_file": {Permissions: []limp.Perm{
			{Privilege: "admin"},
			{Privilege: "update", QueryMod: limp.M{"user": limp.VarUser}},
		}},
		// A custom method, exposed over HTTP GET /blog/count too.
		"count": {
			Permissions: limp.Perms("*"),
			GetMethod:   true,
			Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
				res, err := c.App().Invoke(ctx, c.Session, "blog/read", limp.NewQuery(limp.M{"$limit": 1, "$attrs": []any{"_id"}}), nil)
				if err != nil {
					return nil, err
				}
				// The message is the global setting "count_msg" (an
				// admin sets it with setting/create or setting/update).
				msg, err := limp.SettingOf[string](ctx, c.App(), "count_msg")
				if errors.Is(err, limp.ErrNoSetting) {
					msg, err = "Count of posts you may read.", nil
				}
				if err != nil {
					return nil, err
				}
				return limp.OK(msg, limp.M{"count": res.Args["total"]}), nil
			},
		},
	})
	// Audit log: every change to a post is kept in diff, listed by
	// blog/history.
	blog.Diff = true
	// Analytics: one BLOG_READ occurrence per client read, per user.
	blog.Analytics = []limp.Analytic{{
		Condition: func(ctx context.Context, c *limp.Call) bool { return c.Method.Name() == "read" },
		Doc: func(ctx context.Context, c *limp.Call) limp.AnalyticEvent {
			return limp.AnalyticEvent{Event: "BLOG_READ", Subevent: "list", Score: 1}
		},
	}}
	return []*limp.Module{cats, blog}
}

// NewApp returns the example app.
func NewApp(cfg limp.Config) *limp.App {
	cfg.Name = "blog"
	cfg.Version = "1.0.0"
	cfg.Locales = []string{"ar_AE", "en_AE"}
	cfg.Locale = "ar_AE"
	if cfg.AnonPrivileges == nil {
		// ANON reads, and signs up (user/create limited to what a new
		// user may set).
		cfg.AnonPrivileges = limp.Privileges{"blog": {"read"}, "blog_cat": {"read"}, "user": {"create"}}
	}
	if cfg.Envs == nil {
		// --env dev (the default behaviour) and --env prod (refuses the
		// default credentials unless BLOG_ADMIN_PASSWORD and
		// BLOG_ANON_TOKEN set real ones).
		cfg.Envs = map[string]func(*limp.Config){
			"dev": func(c *limp.Config) {},
			"prod": func(c *limp.Config) {
				c.Production = true
				if v := os.Getenv("BLOG_ADMIN_PASSWORD"); v != "" {
					c.AdminPassword = v
				}
				if v := os.Getenv("BLOG_ANON_TOKEN"); v != "" {
					c.AnonToken = v
				}
			},
		}
	}
	if cfg.DefaultPrivileges == nil {
		// Every signed-in user (the DEFAULT group) writes their own posts.
		cfg.DefaultPrivileges = limp.Privileges{"blog": {"read", "create", "update", "delete"}, "blog_cat": {"read"},
			"user": {"read", "update"}, "session": {"read", "delete"},
			"setting": {"read", "create", "update"}} // users keep their own settings
	}
	app := limp.New(cfg)
	app.Use(readOnly(os.Getenv("BLOG_READ_ONLY") != "")) // readonly.go
	app.Register("blog", Modules()...)
	return app
}

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
