package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"consoled/api"
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
	set := recorder(want)
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

	// Switched off: nobody who carried on can be reached.
	addr3 := d3.listenAddr()
	d1.stop()
	d2.stop()
	r := d3.ctl("launch", "demo")
	if r.code != 3 || !strings.Contains(r.err, "may be outdated") || !strings.Contains(r.err, "desk-1, desk-2") || !strings.Contains(r.err, "none of them can be reached") {
		t.Fatalf("stale launch alone: exit %d, %q%q", r.code, r.out, r.err)
	}
	st := d3.status()
	if !st.Stale || st.LEDs["fault"] != "blink" || st.Role != "off" {
		t.Fatalf("desk-3 after the refusal: stale %v fault LED %q role %q", st.Stale, st.LEDs["fault"], st.Role)
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
	noArchives(t, cs, "demo", "adoption replaces nothing")
}

// The last console to log off keeps the master copy and is not stale; one
// that logged off before it is, and takes the master copy before launching.
func TestLastOutHoldsTheMasterCopy(t *testing.T) {
	key := newKey(t)
	cs := startNetwork(t, 2, key)
	d1, d2 := cs[0], cs[1]
	launchAll(t, cs, "demo")
	d1.must("set", "cue/1", "x")
	d2.must("logoff")
	d1.must("set", "cue/2", "y")
	d1.must("logoff")
	d1.waitLog(5*time.Second, "this copy is the master copy")
	d2.must("launch", "demo")
	hasAll(t, "desk-2's show", d2.dump(), map[string]string{"cue/1": "x", "cue/2": "y"})
	d1.must("launch", "demo")
	waitRoles(t, cs, "backup", "active")
	hasAll(t, "the show", waitConverged(t, cs), map[string]string{"cue/1": "x", "cue/2": "y"})
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
	var list []api.Archive
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

// Rule 6 when the forced console also made edits: the copies diverged. The
// objects only the joiners changed are merged in, for objects changed on
// both sides the active's version stays and the joiner's is kept in an
// archive, and the merge is reported until acknowledged.
func TestRule6ForcedLaunchThenEditsMerges(t *testing.T) {
	key := newKey(t)
	cs := startNetwork(t, 3, key)
	d1, d2, d3 := cs[0], cs[1], cs[2]
	launchAll(t, cs, "demo")
	for i := 1; i <= 5; i++ {
		cs[i%3].must("set", fmt.Sprintf("cue/%d", i), fmt.Sprintf("v%d", i))
	}
	d3.must("logoff")
	for i := 6; i <= 8; i++ {
		d1.must("set", fmt.Sprintf("cue/%d", i), fmt.Sprintf("v%d", i))
	}
	d1.must("set", "cue/1", "desk-1 after the split")
	d2.must("delete", "cue/2")
	d2.must("logoff")
	d1.must("logoff")
	addr3 := d3.listenAddr()
	d1.stop()
	d2.stop()

	if r := d3.ctl("launch", "demo"); r.code != 3 {
		t.Fatalf("stale launch: exit %d %q", r.code, r.err)
	}
	d3.must("launch", "demo", "--force")
	d3.must("set", "cue/1", "desk-3 after the split") // both changed cue/1
	d3.must("set", "cue/20", "only on desk-3")
	d3.must("delete", "cue/5") // only desk-3 changed cue/5: a delete is a change

	for _, c := range []*console{d1, d2} {
		c.args = append(c.args, "--peers", addr3)
		c.start()
		c.must("launch", "demo")
	}
	waitRoles(t, cs, "backup", "backup", "active")
	d := waitConverged(t, cs)
	got := map[string]string{}
	for _, o := range d.Objects {
		got[o.Key] = o.Value
	}
	want := map[string]string{
		"cue/1": "desk-3 after the split", "cue/3": "v3", "cue/4": "v4",
		"cue/6": "v6", "cue/7": "v7", "cue/8": "v8", "cue/20": "only on desk-3",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("merged show:\n got %v\nwant %v", got, want)
	}
	st := d3.status()
	if len(st.Merges) == 0 || st.LEDs["fault"] != "blink" {
		t.Fatalf("desk-3 after merging: merges %+v fault %q", st.Merges, st.LEDs["fault"])
	}
	if m := st.Merges[0]; m.With != "desk-1" || m.Merged != 4 || fmt.Sprint(m.Conflicts) != "[cue/1]" {
		t.Fatalf("first merge report: %+v", m)
	}
	// desk-1's version of the object both changed is in its archive.
	var list []api.Archive
	if err := json.Unmarshal([]byte(d1.must("archives", "--json")), &list); err != nil || len(list) != 1 {
		t.Fatalf("desk-1 archives: %v %v", list, err)
	}
	d1.must("restore", list[0].Name)
	d1.must("logoff")
	d1.must("launch", list[0].Name)
	hasAll(t, "desk-1's archived copy", d1.dump(), map[string]string{"cue/1": "desk-1 after the split"})

	if out := d3.must("ack"); !strings.Contains(out, "acknowledged 2") {
		t.Fatalf("ack said %q (want both merges, desk-1's and desk-2's)", out)
	}
	if st := d3.status(); len(st.Merges) != 0 || st.LEDs["fault"] != "off" {
		t.Fatalf("after ack: merges %+v fault %q", st.Merges, st.LEDs["fault"])
	}
}

// A stale copy is brought up to date from a console that carried on and is
// running but logged off, and then launched: the manual's hazard, avoided
// without forcing. A console that carried on but left before others did has
// a stale copy too, and does not count.
func TestStaleLaunchTakesTheNewerCopyFirst(t *testing.T) {
	key := newKey(t)
	cs := startNetwork(t, 3, key)
	d1, d2, d3 := cs[0], cs[1], cs[2]
	launchAll(t, cs, "demo")
	want := map[string]string{}
	set := recorder(want)
	set(d1, "cue/1", "all three")
	d3.must("logoff")
	set(d2, "cue/2", "desk-1 and desk-2")
	d2.must("logoff")
	set(d1, "cue/3", "desk-1 alone")
	d1.must("logoff") // the master copy

	// desk-1 is off: desk-2 is running, but its copy is outdated too.
	addr1 := d1.listenAddr()
	d1.stop()
	r := d3.ctl("launch", "demo")
	if r.code != 3 || !strings.Contains(r.err, "desk-2's copy") || !strings.Contains(r.err, "outdated too") {
		t.Fatalf("stale launch with only desk-2 running: exit %d %q%q", r.code, r.out, r.err)
	}

	// desk-1 is back, logged off: desk-3 takes its copy and launches.
	d1.args = append(d1.args, "--listen", addr1, "--peers", d2.listenAddr()+","+d3.listenAddr())
	d1.start()
	waitFor(t, "desk-3 to see desk-1", 20*time.Second, func() bool {
		for _, p := range d3.status().Peers {
			if p.Console == "desk-1" && p.Connected {
				return true
			}
		}
		return false
	})
	d3.must("launch", "demo")
	if st := d3.status(); st.Role != "active" || st.Stale {
		t.Fatalf("desk-3 after taking the newer copy: role %q stale %v", st.Role, st.Stale)
	}
	hasAll(t, "desk-3's show", d3.dump(), want)
	d1.must("launch", "demo")
	d2.must("launch", "demo")
	waitRoles(t, cs, "backup", "backup", "active")
	hasAll(t, "the show", waitConverged(t, cs), want)
	noArchives(t, cs, "demo", "the copy taken was newer")
}

// Rule 5's helper: a console asked to launch while no active serves the show
// waits for the master console to launch first, and then joins it.
func TestLaunchWaitsForTheMaster(t *testing.T) {
	key := newKey(t)
	m := newConsole(t, "desk-1", "--network-key", key, "--master")
	m.start()
	b := newConsole(t, "desk-2", "--network-key", key, "--peers", m.listenAddr(), "--master-grace", "30s")
	b.start()
	m.must("launch", "demo")
	b.must("launch", "demo")
	m.must("set", "cue/1", "one")
	m.must("logoff")
	b.must("set", "cue/2", "two") // desk-2 carried on: it holds the master copy
	b.must("logoff")

	done := make(chan ctlResult, 1)
	go func() { done <- runCtl(t, "", "--socket", b.socket, "launch", "demo") }()
	waitFor(t, "desk-2 to wait for the master", 20*time.Second, func() bool { return b.status().WaitingFor == "desk-1" })
	// The master launches: it takes desk-2's newer copy first, then desk-2
	// stops waiting and joins it.
	m.must("launch", "demo")
	r := <-done
	if r.code != 0 || !strings.Contains(r.out, "backup") {
		t.Fatalf("desk-2's launch: exit %d %q%q", r.code, r.out, r.err)
	}
	waitRoles(t, []*console{m, b}, "active", "backup")
	hasAll(t, "the show", waitConverged(t, []*console{m, b}), map[string]string{"cue/1": "one", "cue/2": "two"})
	if st := b.status(); st.WaitingFor != "" {
		t.Fatalf("desk-2 still says it waits for %q", st.WaitingFor)
	}
}

// The console holding the newest copy need not be one this console was
// with: one that joined after it left is asked too.
func TestStaleLaunchAsksEveryRunningConsole(t *testing.T) {
	key := newKey(t)
	cs := startNetwork(t, 3, key)
	d1, d2, d3 := cs[0], cs[1], cs[2]
	d1.must("launch", "demo")
	d2.must("launch", "demo")
	d1.must("set", "cue/1", "desk-1 and desk-2")
	d2.must("logoff") // desk-2 was with desk-1 only
	d3.must("launch", "demo")
	d1.must("set", "cue/2", "desk-1 and desk-3")
	d1.must("logoff")
	d3.must("set", "cue/3", "desk-3 alone")
	d3.must("logoff")
	d1.stop()
	d2.must("launch", "demo") // takes desk-3's copy: desk-3 is running, logged off
	hasAll(t, "desk-2's show", d2.dump(), map[string]string{"cue/1": "desk-1 and desk-2", "cue/2": "desk-1 and desk-3", "cue/3": "desk-3 alone"})
}
