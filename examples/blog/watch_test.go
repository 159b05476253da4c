package main

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/client"
	"github.com/limp-go/limp/limptest"
)

// TestWatch: blog/watch through client.Watch (spec §6.12, issue 14 items
// 1–4): an anonymous watcher sees a post enter when it is published (as
// create, shaped as read returns it, the category expanded), its updates,
// its leaving when it is unpublished (as delete with only _id), and
// nothing of drafts; the admin's watcher sees everything; watch/delete
// ends a watch.
func TestWatch(t *testing.T) {
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := s.Client(t, nil)
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatalf("admin auth: %v", err)
	}
	r, err := admin.Call(ctx, "blog_cat/create", nil, map[string]any{"title": map[string]any{"ar_AE": "تقنية", "en_AE": "Tech"}})
	if err != nil {
		t.Fatal(err)
	}
	cat := r.Args["docs"].([]any)[0].(map[string]any)["_id"].(string)

	anon := s.Client(t, nil)
	aw, err := anon.Watch(ctx, "blog/watch", nil, nil)
	if err != nil {
		t.Fatalf("anon watch: %v", err)
	}
	if got := aw.Created.Args; got["code"] != "CORE_WATCH_OK" || got["watch"] != aw.ID || got["call_id"] != aw.ID || aw.Created.Msg != "Created watch task." {
		t.Fatalf("created reply: %s %v", aw.Created.Msg, got)
	}
	adw, err := admin.Watch(ctx, "blog/watch", []any{map[string]any{"$attrs": []any{"status"}}}, nil)
	if err != nil {
		t.Fatalf("admin watch: %v", err)
	}

	next := func(w *client.Watch) *client.Response {
		t.Helper()
		r, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if r.Msg != "Detected 1 docs." || r.Args["watch"] != w.ID || r.Args["call_id"] != w.ID || fmt.Sprint(r.Args["count"]) != "1" {
			t.Fatalf("event: %s %#v (id %q)", r.Msg, r.Args, w.ID)
		}
		return r
	}
	doc := func(r *client.Response) map[string]any { return r.Args["docs"].([]any)[0].(map[string]any) }

	// A draft: the admin sees it created; anon nothing.
	r, err = admin.Call(ctx, "blog/create", nil, map[string]any{"title": map[string]any{"ar_AE": "Hi"},
		"content": map[string]any{"ar_AE": "..."}, "cat": cat, "permalink": "hi"})
	if err != nil {
		t.Fatal(err)
	}
	id := r.Args["docs"].([]any)[0].(map[string]any)["_id"].(string)
	e := next(adw)
	if e.Args["oper"] != "create" || !reflect.DeepEqual(doc(e), map[string]any{"_id": id, "status": "draft"}) {
		t.Fatalf("admin create event: %v", e.Args)
	}
	// Published: it enters the anon watch as create, shaped as read.
	if _, err := admin.Call(ctx, "blog/update", []any{map[string]any{"_id": id}}, map[string]any{"status": "published"}); err != nil {
		t.Fatal(err)
	}
	e = next(aw)
	d := doc(e)
	if e.Args["oper"] != "create" || d["_id"] != id || d["status"] != "published" {
		t.Fatalf("anon enter event: %v", e.Args)
	}
	rr, err := client.Read[map[string]any](ctx, anon, "blog", []any{map[string]any{"_id": id}})
	if err != nil || len(rr.Docs) != 1 {
		t.Fatalf("read: %v %+v", err, rr)
	}
	if fmt.Sprintf("%v", d) != fmt.Sprintf("%v", rr.Docs[0]) {
		t.Errorf("watch doc differs from read:\n watch %v\n read  %v", d, rr.Docs[0])
	}
	if c, ok := d["cat"].(map[string]any); !ok || c["_id"] != cat {
		t.Errorf("cat not expanded: %v", d["cat"])
	}
	if e := next(adw); e.Args["oper"] != "update" {
		t.Fatalf("admin update event: %v", e.Args)
	}
	// An update while published: update.
	if _, err := admin.Call(ctx, "blog/update", []any{map[string]any{"_id": id}}, map[string]any{"tags": []any{"go"}}); err != nil {
		t.Fatal(err)
	}
	if e := next(aw); e.Args["oper"] != "update" || !reflect.DeepEqual(doc(e)["tags"], []any{"go"}) {
		t.Fatalf("anon update event: %v", e.Args)
	}
	next(adw)
	// Unpublished: it leaves the anon watch as delete {_id}.
	if _, err := admin.Call(ctx, "blog/update", []any{map[string]any{"_id": id}}, map[string]any{"status": "draft"}); err != nil {
		t.Fatal(err)
	}
	if e := next(aw); e.Args["oper"] != "delete" || !reflect.DeepEqual(doc(e), map[string]any{"_id": id}) {
		t.Fatalf("anon leave event: %v", e.Args)
	}
	next(adw)
	// Deleted while a draft: admin sees delete, anon nothing.
	if _, err := admin.Call(ctx, "blog/delete", []any{map[string]any{"_id": id}}, nil); err != nil {
		t.Fatal(err)
	}
	if e := next(adw); e.Args["oper"] != "delete" || !reflect.DeepEqual(doc(e), map[string]any{"_id": id}) {
		t.Fatalf("admin delete event: %v", e.Args)
	}
	// Nothing more reached anon: a published post shows next.
	if _, err := admin.Call(ctx, "blog/create", nil, map[string]any{"title": map[string]any{"ar_AE": "P"},
		"content": map[string]any{"ar_AE": "..."}, "cat": cat, "permalink": "p", "status": "published"}); err != nil {
		t.Fatal(err)
	}
	if e := next(aw); e.Args["oper"] != "create" || doc(e)["permalink"] != "p" {
		t.Fatalf("anon got %v, want the published post", e.Args)
	}
	next(adw)

	// watch/delete.
	if err := aw.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := anon.Call(ctx, "watch/delete", []any{map[string]any{"watch": aw.ID}}, nil); client.CodeOf(err) != limp.CodeInvalidWatch {
		t.Fatalf("delete twice: %v", err)
	}
	r, err = admin.Call(ctx, "watch/delete", []any{map[string]any{"watch": "__all"}}, nil)
	if err != nil || r.Msg != "All watch tasks deleted." || !reflect.DeepEqual(r.Args["watch"], []any{adw.ID}) {
		t.Fatalf("delete all: %v %v", err, r)
	}
}
