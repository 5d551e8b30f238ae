package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"consoled/api"
	"consoled/replication/wire"
)

// newKey writes a fresh network key file for a test's show network.
func newKey(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "network.key")
	if _, _, err := wire.LoadOrCreateKey(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// listenAddr is the peer address a running console listens on.
func (c *console) listenAddr() string {
	c.t.Helper()
	return c.status().Listen
}

// startNetwork starts n consoles sharing key; console i knows the
// addresses of consoles 0..i-1.
func startNetwork(t *testing.T, n int, key string, extra ...string) []*console {
	t.Helper()
	var cs []*console
	var addrs []string
	for i := 0; i < n; i++ {
		args := append([]string{"--network-key", key}, extra...)
		if len(addrs) > 0 {
			args = append(args, "--peers", strings.Join(addrs, ","))
		}
		c := newConsole(t, fmt.Sprintf("desk-%d", i+1), args...)
		c.start()
		addrs = append(addrs, c.listenAddr())
		cs = append(cs, c)
	}
	return cs
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitConverged waits until every console's dump has the same digest and
// seq, and returns that dump.
func waitConverged(t *testing.T, cs []*console) api.Dump {
	t.Helper()
	var d api.Dump
	waitFor(t, "all consoles to hold the same show", 30*time.Second, func() bool {
		d = cs[0].dump()
		for _, c := range cs[1:] {
			o := c.dump()
			if o.Digest != d.Digest || o.Seq != d.Seq {
				return false
			}
		}
		return true
	})
	return d
}

// Rule 1: the first console to launch is active; the others join as backups
// and get its copy. A joiner's different copy of a show of the same name is
// merged first (nothing anyone acknowledged leaves the live show; where
// both hold an object, the active's stays), then archived and replaced.
func TestRule1JoinReplacesAndArchives(t *testing.T) {
	key := newKey(t)
	// desk-2 has its own, different copy of the show from an earlier day.
	b := newConsole(t, "desk-2", "--network-key", key)
	b.start()
	b.must("launch", "demo")
	b.must("set", "cue/1", "old cue from another day")
	b.must("set", "cue/99", "only on desk-2")
	b.stop()

	a := newConsole(t, "desk-1", "--network-key", key)
	a.start()
	a.must("launch", "demo")
	for i := 1; i <= 50; i++ {
		a.must("set", fmt.Sprintf("cue/%d", i), fmt.Sprintf(`{"fade":%d}`, i))
	}
	b.args = append(b.args, "--peers", a.listenAddr())
	b.start()
	out := b.must("launch", "demo")
	if !strings.Contains(out, "backup") {
		t.Fatalf("desk-2 launch said %q, want it to join as backup", out)
	}
	st := b.status()
	if st.Role != "backup" || st.LEDs["backup"] != "on" || st.LEDs["active"] != "off" || st.Active != "desk-1" {
		t.Fatalf("desk-2 status: role %q leds %v active %q", st.Role, st.LEDs, st.Active)
	}
	if ast := a.status(); ast.Role != "active" || ast.FullSyncs != 1 {
		t.Fatalf("desk-1: role %q full syncs %d", ast.Role, ast.FullSyncs)
	}
	d := waitConverged(t, []*console{a, b})
	if d.Seq != 51 || len(d.Objects) != 51 {
		t.Fatalf("converged dump: seq %d, %d objects; want desk-1's 50 and desk-2's cue/99", d.Seq, len(d.Objects))
	}
	hasAll(t, "the show", d, map[string]string{"cue/1": `{"fade":1}`, "cue/99": "only on desk-2"})
	if m := a.status().Merges; len(m) != 1 || m[0].With != "desk-2" || m[0].Merged != 1 || len(m[0].Conflicts) != 1 || m[0].Conflicts[0] != "cue/1" {
		t.Fatalf("desk-1's merge report: %+v", m)
	}
	waitFor(t, "desk-2 to report what of its copy the show lacks", 10*time.Second, func() bool {
		m := b.status().Merges
		return len(m) == 1 && m[0].Unmatched == 1 && m[0].Archive != ""
	})
	var arch []api.Archive
	if err := json.Unmarshal([]byte(b.must("archives", "--json")), &arch); err != nil {
		t.Fatal(err)
	}
	if len(arch) != 1 || arch[0].Show != "demo" || arch[0].Edits != 2 || !strings.Contains(arch[0].Why, "desk-1") {
		t.Fatalf("archives on desk-2: %+v", arch)
	}
}

// Rule 2: an edit on any console reaches every console.
func TestRule2EditsFromAnyConsole(t *testing.T) {
	cs := startNetwork(t, 3, newKey(t))
	cs[0].must("launch", "demo")
	for _, c := range cs[1:] {
		c.must("launch", "demo")
		if st := c.status(); st.Role != "backup" {
			t.Fatalf("%s joined as %q", c.id, st.Role)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	want := map[string]string{}
	for i := 0; i < 60; i++ {
		c := cs[r.IntN(len(cs))]
		k := fmt.Sprintf("cue/%d", r.IntN(20))
		if r.IntN(5) == 0 {
			if _, ok := want[k]; ok {
				c.must("delete", k)
				delete(want, k)
				continue
			}
		}
		v := fmt.Sprintf("from %s #%d", c.id, i)
		c.must("set", k, v)
		want[k] = v
		// Read-your-writes on the console that made the edit.
		if got := strings.TrimSpace(c.must("get", k)); got != v {
			t.Fatalf("%s: get %s = %q right after set %q", c.id, k, got, v)
		}
	}
	d := waitConverged(t, cs)
	if d.Digest != digestOf(want) {
		t.Fatalf("converged digest %s, want %s", d.Digest, digestOf(want))
	}
	st := cs[0].status()
	if len(st.Peers) != 2 {
		t.Fatalf("desk-1 peers: %+v", st.Peers)
	}
	for _, p := range st.Peers {
		if !p.Connected || p.Role != "backup" {
			t.Fatalf("desk-1 sees peer %+v", p)
		}
	}
}

// A console without the network key can neither join nor read.
func TestWrongKeyRefused(t *testing.T) {
	a := newConsole(t, "desk-1", "--network-key", newKey(t))
	a.start()
	a.must("launch", "demo")
	a.must("set", "cue/1", "secret show data")
	intruder := newConsole(t, "intruder", "--network-key", newKey(t), "--peers", a.listenAddr())
	intruder.start()
	waitFor(t, "desk-1 to count refused connections", 10*time.Second, func() bool { return a.status().AuthRefused > 0 })
	intruder.must("launch", "demo") // alone: its own island
	if st := intruder.status(); st.Role != "active" || len(st.Peers) != 0 {
		t.Fatalf("intruder: role %q peers %+v", st.Role, st.Peers)
	}
	if r := intruder.ctl("get", "cue/1"); r.code == 0 {
		t.Fatalf("intruder read desk-1's data: %q", r.out)
	}
	if st := a.status(); len(st.Peers) != 0 || st.Seq != 1 {
		t.Fatalf("desk-1 after intrusion attempts: peers %+v seq %d", st.Peers, st.Seq)
	}
	a.waitLog(5*time.Second, "wrong network key")
}

// A console speaking another protocol version is refused on both sides,
// with the FAULT LED blinking on both.
func TestIncompatibleVersionRefused(t *testing.T) {
	key := newKey(t)
	a := newConsole(t, "desk-1", "--network-key", key)
	a.start()
	b := newConsole(t, "desk-2", "--network-key", key, "--protocol-version", "99", "--peers", a.listenAddr())
	b.start()
	for _, c := range []*console{a, b} {
		waitFor(t, c.id+" to report the protocol fault", 10*time.Second, func() bool {
			st := c.status()
			return st.LEDs["fault"] == "blink" && len(st.Faults) > 0 && strings.Contains(st.Faults[0].Message, "incompatible protocol version") && strings.Contains(st.Faults[0].Message, "99")
		})
		if st := c.status(); len(st.Peers) != 0 {
			t.Fatalf("%s connected to an incompatible peer: %+v", c.id, st.Peers)
		}
	}
}

// A backup that missed edits gets just those edits, not a new copy.
func TestCatchUpAfterMissedEdits(t *testing.T) {
	cs := startNetwork(t, 2, newKey(t))
	a, b := cs[0], cs[1]
	a.must("launch", "demo")
	for i := 0; i < 20; i++ {
		a.must("set", fmt.Sprintf("cue/%d", i), "v1")
	}
	b.must("launch", "demo")
	waitConverged(t, cs)
	b.must("logoff")
	for i := 0; i < 30; i++ {
		a.must("set", fmt.Sprintf("cue/%d", i), "v2")
	}
	before := a.status()
	b.must("launch", "demo")
	d := waitConverged(t, cs)
	after := a.status()
	if after.CatchUps != before.CatchUps+1 || after.FullSyncs != before.FullSyncs {
		t.Fatalf("rejoin: catch-ups %d→%d, full syncs %d→%d; want one more catch-up and no full sync",
			before.CatchUps, after.CatchUps, before.FullSyncs, after.FullSyncs)
	}
	if d.Seq != 50 {
		t.Fatalf("seq %d, want 50", d.Seq)
	}
	if arch := b.must("archives"); !strings.Contains(arch, "no archives") {
		t.Fatalf("a catch-up archived something:\n%s", arch)
	}
}

// fillShow loads n objects of size bytes into the console's show through
// concurrent clients.
func fillShow(t *testing.T, c *console, n, size int) {
	t.Helper()
	fillShowWith(t, c, n, func(int) string { return strings.Repeat("x", size) })
}

// fillShowRandom is fillShow with values that do not compress, so that a
// copy of the show takes as long as its size says.
func fillShowRandom(t *testing.T, c *console, n, size int) {
	t.Helper()
	fillShowWith(t, c, n, func(int) string {
		b := make([]byte, size/2)
		for i := range b {
			b[i] = byte(rand.Uint32())
		}
		return hex.EncodeToString(b)
	})
}

func fillShowWith(t *testing.T, c *console, n int, value func(int) string) {
	t.Helper()
	setMany(t, c, n, func(i int) (string, string) { return fmt.Sprintf("fixture/%06d", i), value(i) }, nil)
}

// setMany makes n edits on c from 16 clients at once: edit i sets kv(i);
// done, if not nil, is told of each acknowledged one (from any client).
func setMany(t *testing.T, c *console, n int, kv func(i int) (string, string), done func(k, v string)) {
	t.Helper()
	cl := c.client()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				k, v := kv(i)
				if _, err := cl.Set(context.Background(), k, v); err != nil {
					errs <- fmt.Errorf("set %s on %s: %w", k, c.id, err)
					return
				}
				if done != nil {
					mu.Lock()
					done(k, v)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// waitIncoming waits until a console is receiving a copy into its store.
func waitIncoming(t *testing.T, c *console) {
	t.Helper()
	waitFor(t, c.id+" to start receiving a copy", 60*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(c.data, "shows", ".incoming-*", "*"))
		return len(m) > 0
	})
}

// A join interrupted by a power cut of either side leaves the joiner with
// its old copy intact or the complete new one, never a mix.
func TestJoinInterruptedByKill(t *testing.T) {
	for _, victim := range []string{"joiner", "active"} {
		t.Run(victim, func(t *testing.T) {
			key := newKey(t)
			b := newConsole(t, "desk-2", "--network-key", key)
			b.start()
			b.must("launch", "demo")
			b.must("set", "cue/1", "desk-2's own copy")
			oldDigest := b.dump().Digest
			b.stop()

			a := newConsole(t, "desk-1", "--network-key", key)
			a.start()
			a.must("launch", "demo")
			fillShow(t, a, 4000, 8<<10) // ~32 MB: a transfer long enough to cut

			b.args = append(b.args, "--peers", a.listenAddr())
			b.start()
			launched := make(chan ctlResult, 1)
			go func() { r, _ := tryCtl("", "--socket", b.socket, "launch", "demo"); launched <- r }()
			waitIncoming(t, b)
			// desk-1 merged desk-2's different copy before sending its own.
			newDigest := a.dump().Digest
			if victim == "joiner" {
				b.kill()
			} else {
				a.kill()
			}
			<-launched
			if victim == "active" {
				b.kill()
			}
			// Restart desk-2 alone and look at what it holds.
			b.args = []string{"--id", "desk-2", "--data", b.data, "--board", "mock", "--http", "off", "--listen", "127.0.0.1:0", "--network-key", key}
			b.start()
			// Its record says desk-1 carried on (desk-2 was joining it):
			// force the launch, only to look at the copy.
			b.must("launch", "demo", "--force")
			got := b.dump().Digest
			if got != oldDigest && got != newDigest {
				t.Fatalf("after the kill desk-2 holds a mix: digest %s, want old %s or new %s", got, oldDigest, newDigest)
			}
			if m, _ := filepath.Glob(filepath.Join(b.data, "shows", ".*")); len(m) > 0 {
				t.Fatalf("leftovers of the transfer: %v", m)
			}
			t.Logf("desk-2 holds the %s copy", map[bool]string{true: "old", false: "new"}[got == oldDigest])
		})
	}
}
