package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// chromium returns the system Chromium (Debian's chromium; $CHROMIUM
// overrides), or "" when there is none. The test never downloads a browser.
func chromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestConsoleChromium drives the console in headless Chromium: it signs in
// as ADMIN, creates a blog_cat, reads it back, sees an error with its
// code, uploads a file, and saves a screenshot (console.png in the test's
// temp dir; also to $LIMP_CONSOLE_SCREENSHOT when set).
func TestConsoleChromium(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("no chromium binary found (apt-get install chromium, or set $CHROMIUM); .ci/ts installs it")
	}
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))

	ctx := browser(t, bin)

	// reply waits for the n-th log entry and returns its status and code.
	reply := func(n int) (status, code string) {
		t.Helper()
		sel := chromedp.CSS(fmt.Sprintf(`#log .reply[data-seq="%d"]`, n))
		if err := chromedp.Do(ctx, chromedp.WaitVisible(sel)); err != nil {
			t.Fatalf("waiting for reply %d: %v", n, err)
		}
		attrs, err := chromedp.Run(ctx, chromedp.Attributes(sel))
		if err != nil {
			t.Fatalf("reply %d: %v", n, err)
		}
		return attrs["data-status"], attrs["data-code"]
	}
	send := func(endpoint, query, doc string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`button.method[data-endpoint=%q]`, endpoint))),
			chromedp.SetValue(chromedp.ID("#query"), query),
			chromedp.SetValue(chromedp.ID("#doc"), doc),
			chromedp.Click(chromedp.ID("#send")),
		); err != nil {
			t.Fatalf("send %s: %v", endpoint, err)
		}
	}

	// Open the console; it connects by itself in dev.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#status.ok")),
	); err != nil {
		t.Fatalf("open console: %v", err)
	}

	// Sign in as ADMIN.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("#auth-val"), limp.DefaultAdminEmail),
		chromedp.SetValue(chromedp.ID("#auth-pass"), limp.DefaultAdminPassword),
		chromedp.Click(chromedp.ID("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#whoami.signed-in")),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("#whoami")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(who), strings.ToLower(limp.DefaultAdminEmail)) {
		t.Errorf("whoami = %q", who)
	}
	if st, _ := reply(1); st != "200" {
		t.Fatalf("sign in reply status %s", st)
	}

	// Create a blog_cat, then read it back.
	send("blog_cat/create", `[]`, `{"title": {"ar_AE": "تقنية", "en_AE": "Tech"}}`)
	if st, code := reply(2); st != "200" {
		t.Fatalf("blog_cat/create: status %s code %s", st, code)
	}
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.limpConsole.lastReply.args.docs[0]._id`))
	if err != nil || len(id) != 24 {
		t.Fatalf("created _id %q: %v", id, err)
	}
	send("blog_cat/read", fmt.Sprintf(`[{"_id": %q}]`, id), `{}`)
	if st, code := reply(3); st != "200" {
		t.Fatalf("blog_cat/read: status %s code %s", st, code)
	}
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.limpConsole.lastReply.args.docs[0].title.en_AE`))
	if err != nil {
		t.Fatal(err)
	}
	logText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#log .reply[data-seq="3"] pre`)))
	if err != nil {
		t.Fatal(err)
	}
	if title != "Tech" || !strings.Contains(logText, id) || !strings.Contains(logText, "تقنية") {
		t.Errorf("read back title %q; reply shows:\n%s", title, logText)
	}

	// An invalid doc: the reply shows the status and the LIMP code.
	send("blog_cat/create", `[]`, `{"title": 5}`)
	if st, code := reply(4); st != "400" || !strings.HasPrefix(code, "CORE_") && !strings.HasPrefix(code, "BLOG_") {
		t.Errorf("invalid create: status %s code %q, want 400 with a code", st, code)
	}

	// Upload a cover with the file picker; the doc editor gets the attr.
	png := filepath.Join(t.TempDir(), "dot.png")
	dot, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
	if err := os.WriteFile(png, dot, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button.method[data-endpoint="blog/create"]`)),
		chromedp.SetUploadFiles(chromedp.ID("#file"), []string{png}),
		chromedp.Click(chromedp.ID("#upload")),
	); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if st, code := reply(5); st != "200" {
		t.Fatalf("upload: status %s code %s", st, code)
	}
	if doc, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("#doc"))); err != nil || !strings.Contains(doc, `"cover": []`) {
		t.Errorf("doc after upload = %q (%v)", doc, err)
	}
	// Go back to the read reply for the screenshot.
	send("blog_cat/read", fmt.Sprintf(`[{"_id": %q}]`, id), `{}`)
	reply(6)

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.TempDir(), "console.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	if p := os.Getenv("LIMP_CONSOLE_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(shot) < 10_000 {
		t.Errorf("screenshot is only %d bytes", len(shot))
	}
}

// browser starts headless Chromium for the test and returns a tab's
// context, bounded by 90 seconds.
func browser(t *testing.T, bin string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancel)
	// Log what the page writes to its console; the goroutine ends with ctx.
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			t.Logf("page %s: %s", m.Type, m.Text)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	return ctx
}

// TestReadmeWebPage runs the README's web page (sign up, sign in, list
// documents with the TypeScript client) in headless Chromium against the
// example, so that the README's example keeps working.
func TestReadmeWebPage(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("no chromium binary found (apt-get install chromium, or set $CHROMIUM); .ci/ts installs it")
	}
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## The TypeScript client")
	if !ok {
		t.Fatal("README has no TypeScript client section")
	}
	_, rest, ok = strings.Cut(rest, "```html\n")
	page, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README's TypeScript section has no html block")
	}
	lib, err := os.ReadFile(filepath.Join("..", "..", "clients", "ts", "dist", "index.js"))
	if err != nil {
		t.Fatal(err)
	}

	s := limptest.Start(t, NewApp(limptest.Config(t, limp.Config{})))
	// A published post to list.
	ctx := context.Background()
	admin := s.Client(t, nil)
	if _, err := admin.Auth(ctx, "email", limp.DefaultAdminEmail, limp.DefaultAdminPassword); err != nil {
		t.Fatal(err)
	}
	res, err := admin.Call(ctx, "blog_cat/create", nil, map[string]any{"title": map[string]any{"ar_AE": "عام", "en_AE": "General"}})
	if err != nil {
		t.Fatal(err)
	}
	cat := res.Args["docs"].([]any)[0].(map[string]any)["_id"]
	if _, err := admin.Call(ctx, "blog/create", nil, map[string]any{"title": map[string]any{"ar_AE": "مرحبا", "en_AE": "Hello README"},
		"content": map[string]any{"ar_AE": "..."}, "permalink": "hello-readme", "cat": cat, "status": "published"}); err != nil {
		t.Fatal(err)
	}

	page = strings.ReplaceAll(page, "ws://127.0.0.1:8081/ws", s.WS)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, page)
		case "/limp.js":
			w.Header().Set("Content-Type", "text/javascript")
			_, _ = w.Write(lib)
		default:
			http.NotFound(w, r)
		}
	}))
	defer web.Close()

	bctx := browser(t, bin)
	for _, round := range []string{"sign up", "sign in again"} {
		rctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		err := chromedp.Do(rctx,
			chromedp.Navigate(web.URL+"/"),
			chromedp.SetValue(chromedp.ID("email"), "reader@example.com"),
			chromedp.SetValue(chromedp.ID("password"), "s3cret pässword"),
			chromedp.Click(chromedp.CSS("#sign button")),
			chromedp.WaitVisible(chromedp.CSS("#posts li")),
		)
		cancel()
		if err != nil {
			msg, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('msg').textContent + ' | ' + location.href + ' | ' + document.getElementById('email').value`))
			t.Fatalf("%s: %v (page says %q)", round, err, msg)
		}
		msg, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("msg")))
		if err != nil || msg != "Signed in as reader@example.com" {
			t.Errorf("%s: msg = %q (%v)", round, msg, err)
		}
		posts, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("posts")))
		if err != nil || !strings.Contains(posts, "Hello README (published)") {
			t.Errorf("%s: posts = %q (%v)", round, posts, err)
		}
	}
}
