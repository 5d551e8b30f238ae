package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ip runs an iproute2 command and fails the test on error.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// twoHosts makes two network namespaces joined by a veth pair, each end a
// NIC-like link with an address, and removes them when the test ends.
func twoHosts(t *testing.T) (ns [2]string, nic [2]string, addr [2]string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		t.Skipf("ip netns unusable here: %v", err)
	}
	id := fmt.Sprintf("%d%d", os.Getpid()%10000, time.Now().UnixNano()%1000)
	for i := range ns {
		ns[i] = fmt.Sprintf("cd-disc%d-%s", i, id)
		nic[i] = fmt.Sprintf("dsc%d", i)
		addr[i] = fmt.Sprintf("10.77.0.%d", i+1)
		ip(t, "netns", "add", ns[i])
		name := ns[i]
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	}
	tmpA, tmpB := "dA"+id, "dB"+id
	ip(t, "link", "add", tmpA, "type", "veth", "peer", "name", tmpB)
	t.Cleanup(func() { exec.Command("ip", "link", "del", tmpA).Run() }) // if the move failed
	for i, tmp := range []string{tmpA, tmpB} {
		ip(t, "link", "set", tmp, "netns", ns[i])
		ip(t, "-n", ns[i], "link", "set", tmp, "name", nic[i])
		ip(t, "-n", ns[i], "addr", "add", addr[i]+"/24", "dev", nic[i])
		ip(t, "-n", ns[i], "link", "set", nic[i], "up")
		ip(t, "-n", ns[i], "link", "set", "lo", "up")
	}
	return ns, nic, addr
}

// Two consoles on a LAN find each other by their beacons, with no --peers,
// and the second to launch joins the first as backup.
func TestDiscoveryOnLAN(t *testing.T) {
	ns, nic, addr := twoHosts(t)
	key := newKey(t)
	var cs [2]*console
	for i := range cs {
		cs[i] = newConsole(t, fmt.Sprintf("desk-%d", i+1),
			"--network-key", key, "--board", "mock,nic="+nic[i], "--listen", addr[i]+":7400")
		cs[i].netns = ns[i]
		cs[i].start()
	}
	waitFor(t, "the consoles to find each other", 15*time.Second, func() bool {
		st := cs[1].status()
		return len(st.Peers) == 1 && st.Peers[0].Console == "desk-1" && st.Peers[0].Connected
	})
	cs[0].must("launch", "demo")
	cs[0].must("set", "cue/1", "found by beacon")
	cs[1].must("launch", "demo")
	if st := cs[1].status(); st.Role != "backup" || st.Active != "desk-1" {
		t.Fatalf("desk-2: role %q following %q", st.Role, st.Active)
	}
	waitConverged(t, cs[:])
}
