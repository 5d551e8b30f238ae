package e2e

import (
	"strings"
	"testing"
)

// Issue 13, row 10: a second console with the same --id does not launch;
// the launch fails (exit 1, an error rather than a guard's refusal) naming
// both consoles' addresses.
func TestDuplicateIDStopsTheLaunch(t *testing.T) {
	key := newKey(t)
	a := newConsole(t, "desk-1", "--network-key", key)
	a.start()
	b := newConsole(t, "desk-1", "--network-key", key, "--peers", a.listenAddr())
	b.start()
	r := b.ctl("launch", "demo")
	if r.code != 1 {
		t.Fatalf("launch on the second desk-1: exit %d (%s%s), want 1", r.code, r.out, r.err)
	}
	for _, addr := range []string{a.listenAddr(), b.listenAddr()} {
		if !strings.Contains(r.err, addr) {
			t.Errorf("the message does not name %s: %s", addr, r.err)
		}
	}
	if n := strings.Count(strings.TrimSpace(r.err), "\n"); n != 0 {
		t.Errorf("the message is %d lines: %s", n+1, r.err)
	}
	if st := b.status(); st.Role != "off" {
		t.Fatalf("the second desk-1 is %s", st.Role)
	}
}
