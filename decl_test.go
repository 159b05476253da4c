package limp_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

type declCat struct {
	limp.Doc
	Title string `json:"title"`
}

type declItem struct {
	limp.OwnedDoc
	Title string  `json:"title"`
	Qty   int64   `json:"qty"`
	Cat   limp.ID `json:"cat" limp:"ref=decl_cat"`
	Parts []struct {
		Product limp.ID `json:"product" limp:"ref=nowhere"`
	} `json:"parts"`
}

type declBadTags struct {
	limp.Doc
	N    int64    `json:"n" validate:"min=1.5"`
	Tags []string `json:"tags" validate:"dive,min=x"`
	Num  int64    `json:"num" validate:"dive,min=1"`
	Kind int64    `json:"kind" validate:"oneof=a b"`
	Rate float64  `json:"rate" validate:"oneof=0.5 1.5"`
	Mode string   `json:"mode" limp:"default=z" validate:"oneof=x y"`
	Qty  int64    `json:"qty" limp:"min=1,default=0"`
}

// declDiveOneof has "oneof" rules after "dive": on number items they must
// name numbers (Levels, Scores, Grid are refused; Ok, Keys, Names pass).
type declDiveOneof struct {
	limp.Doc
	Levels []int64          `json:"levels" validate:"dive,oneof=a b"`
	Scores map[string]int64 `json:"scores" validate:"dive,oneof=x"`
	Grid   [][]int64        `json:"grid" validate:"dive,dive,oneof=1 q"`
	Ok     []int64          `json:"ok" validate:"dive,oneof=1 2"`
	Keys   map[string]int64 `json:"keys" validate:"dive,keys,oneof=a b,endkeys,oneof=1 2"`
	Names  []string         `json:"names" validate:"dive,oneof=a b"`
}

// TestStartReportsDeclarationMistakes: every mistake in a declaration is
// reported by Start, all at once, with these exact messages; none is left
// to the first call.
func TestStartReportsDeclarationMistakes(t *testing.T) {
	ok := limp.Perms("*")
	cat := func() *limp.Module {
		return limp.NewModule[declCat]("decl_cat", limp.Methods{"read": {Permissions: ok}})
	}
	item := func(methods limp.Methods) *limp.Module { return limp.NewModule[declItem]("decl_item", methods) }
	group, err := limp.ParseID("f00000000000000000000099")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  limp.Config
		mods func() []*limp.Module
		want []string
	}{
		{"validate tags", limp.Config{}, func() []*limp.Module {
			return []*limp.Module{limp.NewModule[declBadTags]("decl_tags", limp.Methods{"read": {Permissions: ok}})}
		}, []string{
			`module "decl_tags": attr "n": validate tag "min=1.5": strconv.ParseInt: parsing "1.5": invalid syntax; attr "tags": validate tag "dive,min=x": strconv.ParseInt: parsing "x": invalid syntax; attr "num": validate tag "dive,min=1": dive error! can't dive on a non slice or map; attr "kind": validate tag "oneof=a b": oneof value "a" is not a number; attr "rate": validate tag "oneof=0.5 1.5": Bad field type float64; attr "mode": default z: fails rule "oneof=x y"; attr "qty": default 0: value 0 is below the minimum 1`,
		}},
		{"oneof after dive", limp.Config{}, func() []*limp.Module {
			return []*limp.Module{limp.NewModule[declDiveOneof]("decl_dive", limp.Methods{"read": {Permissions: ok}})}
		}, []string{
			`module "decl_dive": attr "levels": validate tag "dive,oneof=a b": oneof value "a" is not a number; attr "scores": validate tag "dive,oneof=x": oneof value "x" is not a number; attr "grid": validate tag "dive,dive,oneof=1 q": oneof value "q" is not a number`,
		}},
		{"query mod, doc mod and args", limp.Config{}, func() []*limp.Module {
			return []*limp.Module{cat(), item(limp.Methods{
				"read": {Permissions: []limp.Perm{{Privilege: "*", QueryMod: limp.M{"nope": 1, "cat.title": "x", "cat.nope": 1, "$limit": 1}},
					{Privilege: "*", QueryMod: []limp.M{{"user": limp.VarUser}, {"owner": limp.VarUser}}},
					{Privilege: "*", QueryMod: limp.M{"$or": []any{limp.M{"title": "x"}}, "$sort": limp.M{"title": 1}}}}},
				"create": {Permissions: []limp.Perm{{Privilege: "*", DocMod: limp.M{"qty": nil, "gone": nil}}},
					DocArgs: []limp.Args{{"title": {Type: limp.TypeStr}}, {"missing": {Type: limp.TypeStr}}}},
				"update": {Permissions: ok, QueryArgs: []limp.Args{{"_id": {Type: limp.TypeID}, "idd": {Type: limp.TypeID}}}},
				"find": {Permissions: ok, QueryArgs: []limp.Args{{"q": {Type: limp.TypeStr}}}, PathArgs: []string{"q", "page"},
					Handler: func(context.Context, *limp.Call) (*limp.Result, error) { return nil, nil }},
			})}
		}, []string{
			`module "decl_item": attr "parts.product" references unknown module "nowhere"`,
			`module "decl_item": method "create" DocArgs[1] names undeclared attr "missing"`,
			`module "decl_item": method "find" PathArgs names "page", which no QueryArgs set declares`,
			`module "decl_item": method "create" Permissions[0]: DocMod names undeclared attr "gone"`,
			`module "decl_item": method "read" Permissions[0]: QueryMod names undeclared attr "cat.nope"`,
			`module "decl_item": method "read" Permissions[0]: QueryMod names undeclared attr "nope"`,
			`module "decl_item": method "read" Permissions[1]: QueryMod names undeclared attr "owner"`,
			`module "decl_item": method "read" Permissions[2]: QueryMod has unknown special key "$or" (accepted: $search $sort $skip $limit $extn $attrs $group $geo_near $soft)`,
			`module "decl_item": method "update" QueryArgs[0] names undeclared attr "idd"`,
		}},
		{"privileges", limp.Config{
			AnonPrivileges:    limp.Privileges{"decl_cat": {"read", "fly"}, "ghost": {"read"}},
			DefaultPrivileges: limp.Privileges{"*": {"*"}, "user": {"read", "teleport"}},
			Groups: []limp.Group{
				{ID: group, Name: limp.Locale{"en_AE": "Staff", "fr_FR": "Personnel"}, Privileges: limp.Privileges{"phantom": {"*"}}},
				{ID: group, Name: limp.Locale{"ar_AE": "x"}},
			},
		}, func() []*limp.Module {
			c := cat()
			c.Methods["read"] = &limp.Method{Permissions: []limp.Perm{{Privilege: "browse"}, {Privilege: "ghost.read"}, {Privilege: "user.admin"}, {Privilege: "user.fly"}}}
			return []*limp.Module{c}
		}, []string{
			`Config.AnonPrivileges names unknown module "ghost"`,
			`Config.AnonPrivileges: module "decl_cat" does not declare privilege "fly" (its Privileges are [read create update delete admin])`,
			`Config.DefaultPrivileges: module "user" does not declare privilege "teleport" (its Privileges are [read create update delete admin])`,
			`Config.Groups[0]: Name has locale "fr_FR", which is not one of Config.Locales [ar_AE en_AE]`,
			`Config.Groups[0].Privileges names unknown module "phantom"`,
			`Config.Groups[1]: ID f00000000000000000000099 repeats Config.Groups[0]`,
			`Config.Groups[1]: Name needs a value in the default locale "en_AE"`,
			`module "decl_cat": method "read" Permissions[0]: privilege "browse" is not declared by module "decl_cat" (its Privileges are [read create update delete admin])`,
			`module "decl_cat": method "read" Permissions[1]: privilege "ghost.read" names unknown module "ghost"`,
			`module "decl_cat": method "read" Permissions[3]: privilege "user.fly" is not declared by module "user" (its Privileges are [read create update delete admin])`,
		}},
		{"attrs declared directly", limp.Config{}, func() []*limp.Module {
			c := cat()
			c.Attrs = []*limp.Attr{
				{Name: "code", Type: limp.TypeStr, Pattern: "[a-z"},
				{Name: "n", Type: limp.TypeInt, Validate: "dive"},
				{Name: "l", Type: limp.TypeList},
			}
			return []*limp.Module{c}
		}, []string{
			"module \"decl_cat\": attr \"code\": pattern: error parsing regexp: missing closing ]: `[a-z)$`",
			`module "decl_cat": attr "l": LIST needs item types`,
			`module "decl_cat": attr "n": validate tag "dive": dive error! can't dive on a non slice or map`,
		}},
		{"refs and extns", limp.Config{}, func() []*limp.Module {
			c, i := cat(), item(limp.Methods{"read": {Permissions: ok}})
			i.Extns = map[string]*limp.Extn{"cat": {Module: "decl_cat", Attrs: []string{"title", "subtitle"}}, "user": {Module: "nobody"}}
			return []*limp.Module{c, i}
		}, []string{
			`module "decl_item": attr "parts.product" references unknown module "nowhere"`,
			`module "decl_item": extn on attr "cat" keeps attr "subtitle", which module "decl_cat" does not declare`,
			`module "decl_item": extn on attr "user" references unknown module "nobody"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Name, cfg.Locale = "decl", "en_AE"
			app := limp.New(limptest.Config(t, cfg))
			app.Register("test", tt.mods()...)
			err := app.Start(t.Context())
			if err == nil {
				_ = app.Shutdown(context.Background())
				t.Fatal("Start: no error")
			}
			got := strings.Split(strings.TrimPrefix(err.Error(), "limp: invalid declarations:\n"), "\n")
			slices.Sort(got)
			slices.Sort(tt.want)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Start error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestStartPrivilegesOfLeftOutPackage: privileges may name modules of a
// package that --packages leaves out; Start still checks their names.
func TestStartPrivilegesOfLeftOutPackage(t *testing.T) {
	for _, tt := range []struct {
		privs limp.Privileges
		want  string
	}{
		{limp.Privileges{"decl_cat": {"read"}}, ""},
		{limp.Privileges{"decl_cat": {"fly"}}, `Config.AnonPrivileges: module "decl_cat" does not declare privilege "fly" (its Privileges are [read create update delete admin])`},
	} {
		app := limp.New(limptest.Config(t, limp.Config{Name: "decl", Packages: []string{"main"}, AnonPrivileges: tt.privs}))
		app.Register("main", limp.NewModule[declItem]("decl_item", limp.Methods{"read": {Permissions: limp.Perms("*")}}))
		app.Register("extra", limp.NewModule[declCat]("decl_cat", limp.Methods{"read": {Permissions: limp.Perms("*")}}))
		// decl_item's ref to decl_cat and nested ref are their own errors; keep only the privilege lines.
		err := app.Start(t.Context())
		if err == nil {
			_ = app.Shutdown(context.Background())
		}
		got := ""
		if err != nil {
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, "Config.") {
					got = l
				}
			}
		}
		if got != tt.want {
			t.Errorf("privileges %v: Start error line %q, want %q (error %v)", tt.privs, got, tt.want, err)
		}
	}
}
