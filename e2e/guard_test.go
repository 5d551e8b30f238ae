package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"consoled/firmware"
)

// Rule 6, the manual's hazard: the console with the older copy launches
// first. consoled refuses, and once forced, takes the newer edits from the
// consoles that join instead of overwriting them.
func TestRule6StaleLaunchRefusedForcedAndAdopted(t *testing.T) {
	key := newKey(t)
	cs := startNetwork(t, 3, key)
	d1, d2, d3 := cs[0], cs[1], cs[2]
	launchAll(t, cs, "demo")
	want := map[string]string{}
	set := func(c *console, k, v string) {
		c.must("set", k, v)
		want[k] = v
	}
	for i := 1; i <= 5; i++ {
		set(cs[i%3], fmt.Sprintf("cue/%d", i), fmt.Sprintf("v%d", i))
	}
	d3.must("logoff") // desk-3 leaves; the others carry on
	for i := 6; i <= 10; i++ {
		set(cs[i%2], fmt.Sprintf("cue/%d", i), fmt.Sprintf("v%d", i))
	}
	set(d1, "cue/1", "changed after desk-3 left")
	d2.must("logoff")
	d1.must("logoff") // the last out: its copy is the master copy

	// Logged off but running: desk-3 is told where the newer copy is.
	r := d3.ctl("launch", "demo")
	if r.code != 3 || !strings.Contains(r.err, "may be outdated") || !strings.Contains(r.err, "desk-1, desk-2") {
		t.Fatalf("stale launch with the others running: exit %d, %q%q", r.code, r.out, r.err)
	}
	st := d3.status()
	if !st.Stale || st.LEDs["fault"] != "blink" || st.Role != "off" {
		t.Fatalf("desk-3 after the refusal: stale %v fault LED %q role %q", st.Stale, st.LEDs["fault"], st.Role)
	}

	// The others are switched off too: nobody who carried on can be reached.
	addr3 := d3.listenAddr()
	d1.stop()
	d2.stop()
	r = d3.ctl("launch", "demo")
	if r.code != 3 || !strings.Contains(r.err, "none of them can be reached") || !strings.Contains(r.err, "desk-1, desk-2") {
		t.Fatalf("stale launch alone: exit %d, %q%q", r.code, r.out, r.err)
	}

	// Forced by holding LAUNCH for 3 s: desk-3 launches its old copy...
	if out := d3.must("press", "launch", "--hold", "3s"); !strings.Contains(out, "--force") {
		t.Fatalf("holding LAUNCH did: %q", out)
	}
	st = d3.status()
	if st.Role != "active" || st.Stale || st.LEDs["fault"] != "off" {
		t.Fatalf("desk-3 after the forced launch: role %q stale %v fault %q", st.Role, st.Stale, st.LEDs["fault"])
	}
	// ...and when the others come back and join, it takes their newer edits.
	for _, c := range []*console{d1, d2} {
		c.args = append(c.args, "--peers", addr3)
		c.start()
		c.must("launch", "demo")
	}
	waitRoles(t, cs, "backup", "backup", "active")
	if got := d3.status().Adoptions; got != 1 {
		t.Fatalf("desk-3 adopted %d newer copies, want 1 (desk-1's; desk-2's is then a prefix)", got)
	}
	set(d2, "cue/11", "after the relaunch")
	d := waitConverged(t, cs)
	hasAll(t, "the show after the stale launch", d, want)
	for _, c := range cs {
		if arch := c.must("archives"); strings.Contains(arch, "demo") {
			t.Fatalf("%s archived a copy; adoption should have replaced nothing: %s", c.id, arch)
		}
	}
}

// The last console to log off keeps the master copy and is not stale; one
// that logged off before it is.
func TestLastOutHoldsTheMasterCopy(t *testing.T) {
	key := newKey(t)
	cs := startNetwork(t, 2, key)
	d1, d2 := cs[0], cs[1]
	launchAll(t, cs, "demo")
	d1.must("set", "cue/1", "x")
	d2.must("logoff")
	d1.must("set", "cue/2", "y")
	d1.must("logoff")
	if r := d2.ctl("launch", "demo"); r.code != 3 {
		t.Fatalf("desk-2 left first, yet launched: exit %d %q%q", r.code, r.out, r.err)
	}
	// desk-1 was the last out: it launches at once, and desk-2 then joins.
	d1.must("launch", "demo")
	d2.must("launch", "demo")
	d := waitConverged(t, cs)
	hasAll(t, "the show", d, map[string]string{"cue/1": "x", "cue/2": "y"})
	if !strings.Contains(d1.log.String(), "this copy is the master copy") {
		t.Fatalf("desk-1 did not record the master copy:\n%s", d1.log.String())
	}
}

// An archived copy comes back as a show of its own, with what it held.
func TestArchiveRestore(t *testing.T) {
	key := newKey(t)
	b := newConsole(t, "desk-2", "--network-key", key)
	b.start()
	b.must("launch", "demo")
	b.must("set", "cue/1", "desk-2's own cue")
	b.must("set", "cue/2", "only here")
	b.stop()
	a := newConsole(t, "desk-1", "--network-key", key)
	a.start()
	a.must("launch", "demo")
	a.must("set", "cue/1", "desk-1's cue")
	b.args = append(b.args, "--peers", a.listenAddr())
	b.start()
	b.must("launch", "demo") // desk-2's copy is not a prefix of desk-1's: archived
	var list []firmware.ArchiveJSON
	if err := json.Unmarshal([]byte(b.must("archives", "--json")), &list); err != nil || len(list) != 1 {
		t.Fatalf("archives: %v %v", list, err)
	}
	name := list[0].Name
	if r := b.ctl("restore", "no-such-archive"); r.code != 1 || !strings.Contains(r.err, "no such archive") {
		t.Fatalf("restore of a missing archive: exit %d %q", r.code, r.err)
	}
	if out := b.must("restore", name); !strings.Contains(out, "as show "+name) {
		t.Fatalf("restore said %q", out)
	}
	if r := b.ctl("restore", name); r.code != 1 || !strings.Contains(r.err, "restored already") {
		t.Fatalf("second restore: exit %d %q", r.code, r.err)
	}
	b.must("logoff")
	b.must("launch", name)
	if st := b.status(); st.Role != "active" || st.Show != name {
		t.Fatalf("restored show: role %q show %q", st.Role, st.Show)
	}
	hasAll(t, "the restored show", b.dump(), map[string]string{"cue/1": "desk-2's own cue", "cue/2": "only here"})
	// The live show is untouched by the restore.
	hasAll(t, "desk-1's show", a.dump(), map[string]string{"cue/1": "desk-1's cue"})
}
