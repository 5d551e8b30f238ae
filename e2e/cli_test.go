package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// consolectl's flags as the README tells them: global flags before or after
// the command, -- before a value that begins with a dash, help for each
// command, --version on both programs.
func TestCLIFlags(t *testing.T) {
	c := newConsole(t, "desk-1")
	c.start()
	// --socket after the command and its arguments.
	if r := runCtl(t, "", "launch", "demo", "--socket", c.socket); r.code != 0 {
		t.Fatalf("launch with --socket last: exit %d %q", r.code, r.err)
	}
	if r := runCtl(t, "", "--socket", c.socket, "set", "cue/1", "-3"); r.code != 2 || !strings.Contains(r.err, "set cue/1 -- -3") {
		t.Fatalf("set cue/1 -3: exit %d %q; want 2 and the -- hint", r.code, r.err)
	}
	c.must("set", "cue/1", "--", "-3")
	if got := strings.TrimSpace(c.must("get", "cue/1")); got != "-3" {
		t.Fatalf("after set cue/1 -- -3, get says %q", got)
	}
	if out := c.must("status", "--json", "--socket", c.socket); !strings.Contains(out, `"seq": 1`) {
		t.Fatalf("status --json --socket: %s", out)
	}
	for _, args := range [][]string{{"help", "press"}, {"press", "--help"}} {
		r := runCtl(t, "", args...)
		if r.code != 0 || !strings.Contains(r.out, "usage: consolectl [--socket PATH] press BUTTON [--hold DUR]") {
			t.Fatalf("consolectl %v: exit %d %q %q", args, r.code, r.out, r.err)
		}
	}
	if r := runCtl(t, "", "--version"); r.code != 0 || !strings.HasPrefix(r.out, "consolectl ") || !strings.Contains(r.out, "go1") {
		t.Fatalf("consolectl --version: exit %d %q", r.code, r.out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "consoled"), "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "consoled ") || !strings.Contains(string(out), "go1") {
		t.Fatalf("consoled --version: %v %q", err, out)
	}
}
