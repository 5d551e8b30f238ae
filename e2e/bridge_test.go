//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"consoled/api"
	"consoled/client"
)

// bridgeRig is n network namespaces, one per console, each with a veth
// (nic0) into one Linux bridge that sits in a namespace of its own: a show
// network's switch, with nothing of it on the host's NICs.
type bridgeRig struct {
	t      *testing.T
	bridge string   // the bridge's namespace
	ns     []string // each console's namespace
	addr   []string // each console's address on nic0
}

// newBridgeRig makes the rig and removes it when the test ends, passed or
// not. It skips the test where namespaces cannot be made.
func newBridgeRig(t *testing.T, n int) *bridgeRig {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create network namespaces, veths and a bridge")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2's ip to create network namespaces")
	}
	id := fmt.Sprintf("%d-%d", os.Getpid(), nicSeq.Add(1))
	r := &bridgeRig{t: t, bridge: "cd-br" + id}
	if out, err := exec.Command("ip", "netns", "add", r.bridge).CombinedOutput(); err != nil {
		t.Skipf("skipped: ip netns add is not usable here: %v: %s", err, strings.TrimSpace(string(out)))
	}
	// Deleting a namespace destroys the veth ends and the bridge in it.
	t.Cleanup(func() { exec.Command("ip", "netns", "del", r.bridge).Run() })
	ip(t, "-n", r.bridge, "link", "add", "br0", "type", "bridge")
	// No IGMP querier on this bridge: flood the beacons' group, as a show
	// network's unmanaged switch does.
	ip(t, "-n", r.bridge, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
	ip(t, "-n", r.bridge, "link", "set", "br0", "up")
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("cd-b%d-%s", i+1, id)
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		port := fmt.Sprintf("p%d", i+1)
		ip(t, "-n", r.bridge, "link", "add", port, "type", "veth", "peer", "name", "nic0", "netns", ns)
		ip(t, "-n", r.bridge, "link", "set", port, "master", "br0", "up")
		addr := fmt.Sprintf("10.79.0.%d", i+1)
		ip(t, "-n", ns, "addr", "add", addr+"/24", "dev", "nic0")
		ip(t, "-n", ns, "link", "set", "nic0", "up")
		ip(t, "-n", ns, "link", "set", "lo", "up")
		r.ns, r.addr = append(r.ns, ns), append(r.addr, addr)
	}
	return r
}

// remove deletes the namespaces now, and checks that they are gone.
func (r *bridgeRig) remove() {
	r.t.Helper()
	for _, ns := range append([]string{r.bridge}, r.ns...) {
		ip(r.t, "netns", "del", ns)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, ns := range append([]string{r.bridge}, r.ns...) {
		if strings.Contains(string(out), ns) {
			r.t.Errorf("namespace %s is still there after its removal", ns)
		}
	}
}

// Five consoles on a bridge, each in its own namespace with its own NIC,
// find each other by their beacons alone (no --peers): one launches and is
// active, the other four launch at once and become live backups, edits made
// on the active and on a backup reach every console, and everything the
// test made is gone at the end.
func TestBridgeFiveConsoles(t *testing.T) {
	const n = 5
	r := newBridgeRig(t, n)
	key := newKey(t)
	cs := make([]*console, n)
	cls := make([]*client.Client, n)
	for i := range cs {
		cs[i] = newConsole(t, fmt.Sprintf("desk-%d", i+1), "--network-key", key,
			"--board", "mock,nic=nic0", "--listen", r.addr[i]+":7400")
		cs[i].netns = r.ns[i]
		cs[i].start()
		cls[i] = cs[i].client()
	}
	statuses := func() []api.Status {
		out := make([]api.Status, n)
		for i, cl := range cls {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			out[i], _ = cl.Status(ctx)
			cancel()
		}
		return out
	}
	waitFor(t, "every console to connect to the four others by discovery", 20*time.Second, func() bool {
		for _, st := range statuses() {
			conn := 0
			for _, p := range st.Peers {
				if p.Connected {
					conn++
				}
			}
			if conn != n-1 {
				return false
			}
		}
		return true
	})

	cs[0].must("launch", "demo")
	cs[0].must("set", "cue/1", `{"fade":3}`)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, errs[i] = cls[i].Launch(ctx, "demo", false)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("launch on desk-%d: %v", i+1, err)
		}
	}
	var last []api.Status
	waitFor(t, "desk-1 active and four live backups following it", 20*time.Second, func() bool {
		last = statuses()
		if last[0].Role != "active" {
			return false
		}
		for _, st := range last[1:] {
			if st.Role != "backup" || st.Syncing || st.Active != "desk-1" || st.Seq != last[0].Seq {
				return false
			}
		}
		return true
	})

	for i := 0; i < 10; i++ {
		cs[0].must("set", fmt.Sprintf("cue/%d", i+2), fmt.Sprintf(`{"fade":%d}`, i))
		cs[1+i%(n-1)].must("set", fmt.Sprintf("palette/%d", i), fmt.Sprintf(`{"red":%d}`, i))
	}
	d := waitConverged(t, cs)
	if len(d.Objects) != 21 {
		t.Fatalf("the show has %d objects, want 21", len(d.Objects))
	}
	for _, st := range statuses() {
		if st.Console != "desk-1" && (st.Role != "backup" || st.Active != "desk-1") {
			t.Fatalf("%s: role %q following %q after the edits", st.Console, st.Role, st.Active)
		}
	}

	// Cleanup, checked: every process gone, then every namespace.
	for _, c := range cs {
		c.kill()
		if c.cmd.ProcessState == nil {
			t.Errorf("consoled %s still runs", c.id)
		}
	}
	r.remove()
}
