package limp

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/store/mongo"
	"github.com/limp-go/limp/internal/store/sqlite"
)

type realmIdxDoc struct {
	Doc
	Slug  string `json:"slug" limp:"unique"`
	Title string `json:"title" limp:"search"`
}

func startRealmApp(t *testing.T) *App {
	t.Helper()
	a := New(Config{Name: "idx", Realm: true, Data: ":memory:", Locale: "en_AE", Locales: []string{"en_AE"}, Logger: slog.New(slog.DiscardHandler)})
	a.Register("test", NewModule[realmIdxDoc]("page", Methods{"read": {Permissions: Perms("*")}}))
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	return a
}

// TestRealmIndexes: in realm mode unique sets are unique per realm on
// both stores, realm has a plain index, and no text index covers realm
// (LIMP's text index on realm collided with an app's $search index).
func TestRealmIndexes(t *testing.T) {
	a := startRealmApp(t)
	for _, mod := range []string{"page", "user"} {
		c := a.modules[mod].coll
		for _, set := range c.Unique {
			if !slices.Contains(set, realmAttr) {
				t.Errorf("%s: unique set %v lacks realm", mod, set)
			}
		}
		if slices.Contains(c.Search, realmAttr) {
			t.Errorf("%s: realm is searched", mod)
		}
		var unique, plain, text bool
		for _, ix := range mongo.Indexes(c, a.cfg.Locales) {
			keys := ix.Keys.String()
			switch {
			case ix.Unique && strings.Contains(keys, `"realm"`) && len(ix.Keys) >= 2 && ix.Keys[0].Key != realmAttr:
				unique = true
			case !ix.Unique && !ix.Text && len(ix.Keys) == 1 && ix.Keys[0].Key == realmAttr:
				plain = true
			case ix.Text && strings.Contains(keys, realmAttr):
				text = true
			}
		}
		if !unique || !plain || text {
			t.Errorf("%s: MongoDB indexes: compound unique %v, plain realm %v, text on realm %v", mod, unique, plain, text)
		}
		names, stmts, err := sqlite.IndexSQL(c)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, n := range names {
			if strings.HasPrefix(stmts[n], "CREATE UNIQUE INDEX") && strings.Contains(stmts[n], "realm") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no unique SQLite index with realm: %v", mod, stmts)
		}
	}
	if a.modules["realm"].coll.Attrs[realmAttr] != nil {
		t.Error("the realm module has a realm attr")
	}
}

// TestRealmScopeJoins: the wrapper adds the realm to the collection and
// to every join at any depth, without changing the query it was given.
func TestRealmScopeJoins(t *testing.T) {
	a := startRealmApp(t)
	inner := &query.Cond{Path: "public", Op: query.Eq, Value: true, Join: &query.Join{Local: "team", Collection: "teams"}}
	outer := &query.Cond{Path: "name", Op: query.Eq, Value: "x", Join: &query.Join{Local: "member", Collection: "members", Filter: inner}}
	q := &query.Query{Filter: query.Or{outer, &query.Cond{Path: "a", Op: query.Eq, Value: 1}}}
	s := realmStore{a: a}
	got := s.scope(a.modules["page"].coll, "acme", q)
	if outer.Join.Filter != inner || inner.Join.Filter != nil {
		t.Fatal("scope changed the query it was given")
	}
	and, ok := got.Filter.(query.And)
	if !ok || len(and) != 2 {
		t.Fatalf("scoped filter %#v", got.Filter)
	}
	if c, ok := and[0].(*query.Cond); !ok || c.Path != realmAttr || c.Value != "acme" {
		t.Fatalf("no realm condition first: %#v", and[0])
	}
	j1 := and[1].(query.Or)[0].(*query.Cond).Join
	f1 := j1.Filter.(query.And)
	if c := f1[0].(*query.Cond); c.Path != realmAttr || c.Value != "acme" {
		t.Fatalf("join not scoped: %#v", f1)
	}
	j2 := f1[1].(*query.Cond).Join
	if c, ok := j2.Filter.(*query.Cond); !ok || c.Path != realmAttr || c.Value != "acme" {
		t.Fatalf("nested join not scoped: %#v", j2.Filter)
	}
	// Joins into the realms collection are scoped by name; the global
	// realm sees every realm.
	if c, ok := a.realmCond("realms", "acme").(*query.Cond); !ok || c.Path != "name" {
		t.Fatalf("realms scoped by %#v", c)
	}
	if a.realmCond("realms", GlobalRealm) != nil {
		t.Fatal("the global realm does not see every realm")
	}
}

// TestRealmFilter: the filter live queries use is the wrapper's: nil for
// a system context, the realm's condition for a call's.
func TestRealmFilter(t *testing.T) {
	a := startRealmApp(t)
	ctx := context.Background()
	if f := a.realmFilter(ctx, "page"); f != nil {
		t.Errorf("system context: %#v", f)
	}
	if c, ok := a.realmFilter(WithRealm(ctx, "acme"), "page").(*query.Cond); !ok || c.Path != realmAttr || c.Value != "acme" {
		t.Errorf("acme: %#v", c)
	}
	plain := New(Config{Name: "plain"})
	if f := plain.realmFilter(WithRealm(ctx, "acme"), "page"); f != nil {
		t.Errorf("not realm mode: %#v", f)
	}
}
