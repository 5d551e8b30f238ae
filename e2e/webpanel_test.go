package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"consoled/internal/browsertest"
)

var httpAddrRE = regexp.MustCompile(`msg="console started".* http=(\S+)`)

// webAddr is the address of a running console's web panel, from its log.
// The log reaches the test through a pipe copied by another goroutine, so
// the line can arrive after the control API already answers.
func (c *console) webAddr() string {
	c.t.Helper()
	var m []string
	waitFor(c.t, "consoled "+c.id+" to log its web panel address", 10*time.Second, func() bool {
		m = httpAddrRE.FindStringSubmatch(c.log.String())
		return m != nil && m[1] != ""
	})
	return m[1]
}

// openPanel opens a console's web panel in b and waits for its first view.
func openPanel(t *testing.T, b *browsertest.Browser, c *console) {
	t.Helper()
	if err := b.Do(20*time.Second, chromedp.Navigate("http://"+c.webAddr()+"/"),
		chromedp.WaitVisible(`#network tbody tr[data-console="`+c.id+`"]`)); err != nil {
		t.Fatal(err)
	}
}

func ledIs(name, state string) string {
	return fmt.Sprintf(`document.getElementById("led-%s").dataset.state === %q`, name, state)
}

// The web panel follows the front panel without a reload: the LEDs change
// within a second of consolectl press and link down, and the page reports
// no error.
func TestWebPanelFollowsTheFrontPanel(t *testing.T) {
	b := browsertest.ForTest(t, 1100, 900)
	c := newConsole(t, "desk-1", "--show", "demo", "--http", "127.0.0.1:0")
	c.start()
	openPanel(t, b, c)
	if _, err := b.WaitJS(time.Second, ledIs("active", "off")+" && "+ledIs("link", "on")); err != nil {
		t.Fatal(err)
	}
	// The page must not reload: a mark set now has to survive.
	if err := b.Do(5*time.Second, chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		args []string
		led  string
		want string
	}{
		{[]string{"press", "launch"}, "active", "on"},
		{[]string{"link", "down"}, "link", "off"},
		{[]string{"link", "up"}, "link", "on"},
		{[]string{"press", "logoff"}, "active", "off"},
	} {
		c.must(step.args...)
		if st := c.status(); st.LEDs[step.led] != step.want {
			t.Fatalf("after %v the console's %s LED is %s", step.args, step.led, st.LEDs[step.led])
		}
		took, err := b.WaitJS(time.Second, ledIs(step.led, step.want)+" && window.notReloaded === true")
		if err != nil {
			t.Fatalf("after consolectl %s: %v", strings.Join(step.args, " "), err)
		}
		t.Logf("consolectl %s: the page showed %s %s %s later", strings.Join(step.args, " "), step.led, step.want, took.Round(time.Millisecond))
	}
	b.Check(t)
}

// The network table follows a failover: the active's row goes, the backup
// that takes over is named the active, in words too.
func TestWebPanelFailover(t *testing.T) {
	b := browsertest.ForTest(t, 1100, 900)
	key := newKey(t)
	a := newConsole(t, "desk-1", "--network-key", key)
	a.start()
	c := newConsole(t, "desk-2", "--network-key", key, "--http", "127.0.0.1:0", "--peers", a.listenAddr())
	c.start()
	launchAll(t, []*console{a, c}, "demo")
	openPanel(t, b, c)
	row := func(id string) string {
		return `document.querySelector('#network tbody tr[data-console="` + id + `"]')`
	}
	if _, err := b.WaitJS(5*time.Second, row("desk-1")+`?.classList.contains("active") && `+row("desk-2")+`?.dataset.role === "backup"`); err != nil {
		t.Fatal(err)
	}
	headline := `document.getElementById("headline").textContent`
	if h, _ := browsertest.Eval[string](b, headline); !strings.Contains(h, "desk-1 is the active server of show demo") {
		t.Errorf("headline before the failover: %q", h)
	}
	a.kill()
	if _, err := b.WaitJS(10*time.Second, row("desk-2")+`?.classList.contains("active") && `+row("desk-1")+`?.dataset.connected === "false"`); err != nil {
		t.Fatal(err)
	}
	if h, _ := browsertest.Eval[string](b, headline); !strings.Contains(h, "desk-2 (this console) is the active server of show demo") {
		t.Errorf("headline after the failover: %q", h)
	}
	if _, err := b.WaitJS(5*time.Second, `[...document.querySelectorAll("#timeline li.failover")].some(li => li.textContent.includes("desk-2 took over from desk-1"))`); err != nil {
		t.Error(err)
	}
	b.Check(t)
}
