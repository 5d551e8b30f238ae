package ctl

import (
	"bytes"
	"strings"
	"testing"

	"consoled/api"
)

// Lag is counted from the active of each console's own show; a console
// that is off, or whose show has no active that answered, has none.
func TestNetLags(t *testing.T) {
	cs := []api.NetConsole{
		{Console: "a", Role: "active", Show: "demo", Seq: 10},
		{Console: "b", Role: "backup", Show: "demo", Seq: 7},
		{Console: "c", Role: "syncing", Show: "demo", Seq: 12}, // ahead of a heartbeat: no negative lag
		{Console: "d", Role: "off"},
		{Console: "e", Role: "active", Show: "other", Seq: 3, Error: "gone"},
		{Console: "f", Role: "backup", Show: "other", Seq: 2},
	}
	setLags(cs)
	want := map[string]int{"a": 0, "b": 3, "c": 0, "d": -1, "e": -1, "f": -1}
	for _, c := range cs {
		got := -1
		if c.Lag != nil {
			got = int(*c.Lag)
		}
		if got != want[c.Console] {
			t.Errorf("%s: lag %d, want %d (-1: none)", c.Console, got, want[c.Console])
		}
	}
	var b bytes.Buffer
	printNet(&b, api.Net{Consoles: cs})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "CONSOLE") || !strings.Contains(lines[2], " 3 ") || !strings.Contains(lines[5], "not asked: gone") {
		t.Errorf("table:\n%s", b.String())
	}
}
