package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"consoled/api"
)

// launchAll launches show on every console in order: the first becomes
// active, the rest backups.
func launchAll(t *testing.T, cs []*console, show string) {
	t.Helper()
	for _, c := range cs {
		c.must("launch", show)
	}
	waitRoles(t, cs, append([]string{"active"}, roles(len(cs)-1, "backup")...)...)
}

func roles(n int, role string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = role
	}
	return out
}

// waitRoles waits until the consoles have these roles, in order.
func waitRoles(t *testing.T, cs []*console, want ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("roles %v", want), 20*time.Second, func() bool {
		for i, c := range cs {
			if c.status().Role != want[i] {
				return false
			}
		}
		return true
	})
}

// waitActiveAmong waits until exactly one of cs is active and the others
// follow it, and returns it.
func waitActiveAmong(t *testing.T, cs []*console) *console {
	t.Helper()
	var active *console
	waitFor(t, "one active followed by the others", 20*time.Second, func() bool {
		active = nil
		var followers []string
		for _, c := range cs {
			st := c.status()
			switch st.Role {
			case "active":
				if active != nil {
					return false
				}
				active = c
			case "backup":
				followers = append(followers, st.Active)
			default:
				return false
			}
		}
		if active == nil {
			return false
		}
		for _, f := range followers {
			if f != active.id {
				return false
			}
		}
		return true
	})
	return active
}

// hasAll fails the test unless dump holds every key of want with its value.
func hasAll(t *testing.T, who string, d api.Dump, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, o := range d.Objects {
		got[o.Key] = o.Value
	}
	var missing []string
	for k, v := range want {
		if got[k] != v {
			missing = append(missing, fmt.Sprintf("%s=%q (have %q)", k, v, got[k]))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Fatalf("%s lacks %d acknowledged edits, e.g. %v", who, len(missing), missing[:min(5, len(missing))])
	}
}

// noArchives fails the test if any console archived a copy of the show:
// every copy that was replaced was a prefix of the new one, or merged.
func noArchives(t *testing.T, cs []*console, show, why string) {
	t.Helper()
	for _, c := range cs {
		if arch := c.must("archives"); strings.Contains(arch, show) {
			t.Fatalf("%s archived a copy of %s (%s): %s", c.id, show, why, arch)
		}
	}
}

// recorder returns a set that records what it set in want.
func recorder(want map[string]string) func(c *console, k, v string) {
	return func(c *console, k, v string) {
		c.must("set", k, v)
		want[k] = v
	}
}

// Rule 3: consoles log off and on at will while one server remains; a new
// console joins from a remaining backup. Rule 4: the old active rejoins as
// a backup and gets what it missed.
func TestRule3LogoffAndRejoin(t *testing.T) {
	key := newKey(t)
	cs := startNetwork(t, 3, key)
	d1, d2, d3 := cs[0], cs[1], cs[2]
	launchAll(t, cs, "demo")
	want := map[string]string{}
	set := recorder(want)
	for i := 1; i <= 10; i++ {
		set(cs[i%3], fmt.Sprintf("cue/%d", i), fmt.Sprintf("v%d", i))
	}

	// A backup logs off: the others carry on.
	d3.must("logoff")
	if st := d1.status(); st.Role != "active" {
		t.Fatalf("desk-1 after desk-3 logged off: role %q", st.Role)
	}
	set(d2, "cue/11", "after desk-3 left")

	// The active logs off: desk-2 takes over and edits go on. A planned
	// hand-over is routine: nothing in desk-2's log warns of it.
	mark := len(d2.log.String())
	d1.must("logoff")
	waitRoles(t, []*console{d1, d2}, "off", "active")
	for _, l := range warnings(d2.log.String()[mark:]) {
		t.Errorf("desk-2 warned during a planned hand-over: %s", l)
	}
	st := d2.status()
	if len(st.Epochs) < 2 || st.LEDs["active"] != "on" || st.LEDs["backup"] != "off" {
		t.Fatalf("desk-2 after taking over: epochs %v leds %v", st.Epochs, st.LEDs)
	}
	set(d2, "cue/12", "on desk-2 alone")

	// A console that was never part of the show joins from desk-2, the
	// only server left.
	d4 := newConsole(t, "desk-4", "--network-key", key, "--peers", d2.listenAddr())
	d4.start()
	if out := d4.must("launch", "demo"); !strings.Contains(out, "backup") {
		t.Fatalf("desk-4 launch said %q", out)
	}
	set(d4, "cue/13", "from desk-4")

	// Rule 4: desk-1, the first active, and desk-3 rejoin as backups and
	// get what they missed, edit by edit.
	catchUps := d2.status().CatchUps
	d1.must("launch", "demo")
	d3.must("launch", "demo")
	all := []*console{d2, d1, d3, d4}
	waitRoles(t, all, "active", "backup", "backup", "backup")
	if got := d2.status().CatchUps; got < catchUps+2 {
		t.Fatalf("desk-2 caught up %d backups, want desk-1 and desk-3 too (was %d)", got, catchUps)
	}
	set(d1, "cue/14", "desk-1 as a backup")
	d := waitConverged(t, all)
	hasAll(t, "the converged show", d, want)
	if len(d.Objects) != len(want) {
		t.Fatalf("converged show has %d objects, want %d", len(d.Objects), len(want))
	}
	noArchives(t, all, "demo", "every copy was a prefix")
}

// Rule 4 with the master console: it rejoins as a backup too (no
// preemption).
func TestRule4MasterRejoinsAsBackup(t *testing.T) {
	key := newKey(t)
	m := newConsole(t, "desk-1", "--network-key", key, "--master")
	m.start()
	b := newConsole(t, "desk-2", "--network-key", key, "--peers", m.listenAddr())
	b.start()
	m.must("launch", "demo")
	b.must("launch", "demo")
	m.must("set", "cue/1", "one")
	m.must("logoff")
	waitRoles(t, []*console{m, b}, "off", "active")
	b.must("set", "cue/2", "two")
	m.must("launch", "demo")
	waitRoles(t, []*console{m, b}, "backup", "active")
	// Stays so: the master does not take the show back.
	b.must("set", "cue/3", "three")
	if st := m.status(); st.Role != "backup" || st.Active != "desk-2" || st.LEDs["backup"] != "on" {
		t.Fatalf("master after rejoining: role %q active %q leds %v", st.Role, st.Active, st.LEDs)
	}
	d := waitConverged(t, []*console{m, b})
	hasAll(t, "the master's copy", d, map[string]string{"cue/1": "one", "cue/2": "two", "cue/3": "three"})
}

// editor makes edits on one console as fast as they are acknowledged and
// records the acknowledged ones; failures (the moments without an active)
// are counted, not recorded.
type editor struct {
	mu     sync.Mutex
	acked  map[string]string
	failed int
	stop   chan struct{}
	done   chan struct{}
}

func startEditor(t *testing.T, c *console, prefix string) *editor {
	ed := &editor{acked: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	cl := c.client()
	go func() {
		defer close(ed.done)
		for i := 0; ; i++ {
			select {
			case <-ed.stop:
				return
			default:
			}
			k, v := fmt.Sprintf("%s/%d", prefix, i), fmt.Sprintf("value %d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, err := cl.Set(ctx, k, v)
			cancel()
			ed.mu.Lock()
			if err == nil {
				ed.acked[k] = v
			} else {
				ed.failed++
			}
			ed.mu.Unlock()
		}
	}()
	t.Cleanup(ed.halt)
	return ed
}

func (ed *editor) halt() {
	select {
	case <-ed.stop:
	default:
		close(ed.stop)
	}
	<-ed.done
}

func (ed *editor) count() int {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	return len(ed.acked)
}

// A crashed active is replaced under a stream of edits from another
// console, and no acknowledged edit is lost.
func TestFailoverKillActiveUnderEdits(t *testing.T) {
	key := newKey(t)
	cs := startNetwork(t, 3, key)
	launchAll(t, cs, "demo")
	ed := startEditor(t, cs[2], "cue")
	waitFor(t, "edits to flow", 20*time.Second, func() bool { return ed.count() >= 50 })
	before := ed.count()
	addr0 := cs[0].listenAddr()
	cs[0].kill()
	waitFor(t, "edits to go on after the active died", 20*time.Second, func() bool { return ed.count() >= before+50 })
	ed.halt()
	active := waitActiveAmong(t, cs[1:])
	if active != cs[1] {
		t.Logf("successor is %s", active.id)
	}
	d := waitConverged(t, cs[1:])
	hasAll(t, "the show after the failover", d, ed.acked)
	t.Logf("%d edits acknowledged, %d failed during the failover", len(ed.acked), ed.failed)

	// The dead console comes back as a backup and gets the show.
	cs[0].args = append(cs[0].args, "--listen", addr0, "--peers", cs[1].listenAddr()+","+cs[2].listenAddr())
	cs[0].start()
	cs[0].must("launch", "demo")
	if st := cs[0].status(); st.Role != "backup" {
		t.Fatalf("desk-1 after restart: role %q", st.Role)
	}
	hasAll(t, "desk-1 after rejoining", waitConverged(t, cs), ed.acked)
}

// The active's cable is pulled: the others carry on with a successor, the
// active serves its own operator as an island; when the cable is back the
// copy further ahead (here the network's: more edits) stays, what only the
// island changed is merged into it, and the island's copy, which no longer
// is a prefix of it, is archived before it is replaced.
func TestLinkLossIslandAndReturn(t *testing.T) {
	key := newKey(t)
	cs := startNetwork(t, 3, key)
	d1, d2, d3 := cs[0], cs[1], cs[2]
	launchAll(t, cs, "demo")
	d1.must("set", "cue/1", "before the split")
	d1.must("link", "down")
	waitActiveAmong(t, []*console{d2, d3})
	st := d1.status()
	if st.Role != "active" || st.Link != "down" || st.LEDs["link"] != "off" {
		t.Fatalf("desk-1 without its cable: role %q link %q leds %v", st.Role, st.Link, st.LEDs)
	}
	d1.must("set", "cue/2", "on the island")
	d3.must("set", "cue/3", "on the network")
	d2.must("set", "cue/4", "on the network")
	if r := d1.ctl("get", "cue/3"); r.code == 0 {
		t.Fatalf("the island saw an edit made on the network: %q", r.out)
	}

	d1.must("link", "up")
	active := waitActiveAmong(t, cs)
	if active == d1 {
		t.Fatalf("the island stayed active over the copy further ahead")
	}
	d := waitConverged(t, cs)
	hasAll(t, "the show after the split", d, map[string]string{"cue/1": "before the split", "cue/2": "on the island", "cue/3": "on the network", "cue/4": "on the network"})
	arch := d1.must("archives")
	if !strings.Contains(arch, "demo") {
		t.Fatalf("desk-1 kept no archive of its island copy: %q", arch)
	}
	if st := d1.status(); st.LEDs["link"] != "on" || st.Role != "backup" {
		t.Fatalf("desk-1 after the cable is back: role %q leds %v", st.Role, st.LEDs)
	}
}

// A backup's cable is pulled: it becomes the active of its island at once
// and keeps its operator working; with nothing edited there, it rejoins by
// catching up and nothing is archived.
func TestLinkLossBackupIsland(t *testing.T) {
	key := newKey(t)
	cs := startNetwork(t, 2, key)
	d1, d2 := cs[0], cs[1]
	launchAll(t, cs, "demo")
	d1.must("set", "cue/1", "one")
	d2.must("link", "down")
	waitRoles(t, cs, "active", "active")
	if st := d2.status(); len(st.Epochs) < 2 || st.LEDs["active"] != "on" {
		t.Fatalf("desk-2 island: epochs %v leds %v", st.Epochs, st.LEDs)
	}
	d1.must("set", "cue/2", "two")
	d2.must("link", "up")
	waitRoles(t, cs, "active", "backup")
	d := waitConverged(t, cs)
	hasAll(t, "the show", d, map[string]string{"cue/1": "one", "cue/2": "two"})
	noArchives(t, cs, "demo", "the island's copy was a prefix")
}
