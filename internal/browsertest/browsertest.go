// Package browsertest drives a headless Chromium for the tests of the web
// panel, and the screenshot: the Debian package's chromium, run the way
// this machine needs (no sandbox as root, no background networking: a
// show network is offline, and so are the test machines).
package browsertest

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is the browser's executable, or "" when none is installed.
func Path() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser is one headless browser with one tab, and the errors its pages
// reported.
type Browser struct {
	Ctx    context.Context // the tab: run chromedp actions on it
	cancel func()

	mu     sync.Mutex
	errors []string
}

// Start runs a browser with a fresh profile in dir. Close ends it and
// waits for its process.
func Start(dir string, width, height int) (*Browser, error) {
	path := Path()
	if path == "" {
		return nil, fmt.Errorf("no chromium installed (apt-get install chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(width, height),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{Ctx: ctx, cancel: func() { cancel(); acancel() }}
	// The first action starts the browser: one that cannot start is one
	// error here.
	if err := chromedp.Do(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.addError(m.String() + " " + m.URL)
			}
		}
	}()
	return b, nil
}

// ForTest starts a browser for t, which it ends when t does, or skips t
// with one line when no browser is installed.
func ForTest(t testing.TB, width, height int) *Browser {
	t.Helper()
	if Path() == "" {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
	}
	b, err := Start(t.TempDir(), width, height)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func (b *Browser) addError(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

// Errors are the errors the pages reported so far: exceptions, console
// errors, and the browser's own log errors (a blocked resource, say).
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// Close ends the browser and waits for its process to exit.
func (b *Browser) Close() { b.cancel() }

// Do runs actions on the tab, bounded by d.
func (b *Browser) Do(d time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.Ctx, d)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Eval evaluates a JavaScript expression into a T.
func Eval[T any](b *Browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.Ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// WaitJS evaluates expr (a JavaScript expression giving a boolean) every
// 20 ms until it is true, and returns how long that took; an error once d
// has passed.
func (b *Browser) WaitJS(d time.Duration, expr string) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(d)
	for {
		ok, err := Eval[bool](b, expr)
		if err == nil && ok {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return time.Since(start), fmt.Errorf("%s: %w", expr, err)
			}
			return time.Since(start), fmt.Errorf("not true after %s: %s", d, expr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Check returns a test failure for page errors.
func (b *Browser) Check(t testing.TB) {
	t.Helper()
	for _, e := range b.Errors() {
		t.Errorf("browser: %s", e)
	}
}
