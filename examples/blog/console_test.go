package main

import (
	"context"
	"encoding/base64"
	"fmt"
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
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

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
