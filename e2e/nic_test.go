//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"consoled/api"
	"consoled/client"
)

// The NIC test runs consoled with --board mock,nic=show0 inside a network
// namespace, where show0 is one end of a veth pair whose other end (far0)
// sits in a second namespace. Both ends get the same ifindex in their fresh
// namespaces, so the kernel treats show0 as a real NIC (iflink == ifindex)
// and batches its carrier events through link-watch, as it would for eth0.
// Setting far0 down takes show0's carrier away, as pulling the cable would.
const (
	nicNear  = "show0" // watched by consoled, in the first namespace
	nicFar   = "far0"  // the far end, in the second namespace
	nicIndex = "10"
)

var nicSeq atomic.Int64

// nicRig is the two namespaces and the veth pair between them.
type nicRig struct {
	t          *testing.T
	nsA, nsB   string // consoled's namespace, the far end's
	nsAcreated bool
}

// newNICRig makes the namespaces and the veth pair, both ends up, and
// removes everything when the test ends, passed or not. It skips the test
// when it cannot run here.
func newNICRig(t *testing.T) *nicRig {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create network namespaces and a veth pair")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2's ip to create network namespaces")
	}
	id := fmt.Sprintf("consoled-e2e%d-%d", os.Getpid(), nicSeq.Add(1))
	r := &nicRig{t: t, nsA: id + "a", nsB: id + "b"}
	for _, ns := range []string{r.nsA, r.nsB} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Skipf("skipped: ip netns add is not usable here: %v: %s", err, strings.TrimSpace(string(out)))
		}
		t.Cleanup(func() {
			// Deleting a namespace destroys the veth end inside it.
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("cleanup: ip netns del %s: %v: %s", ns, err, out)
			}
		})
	}
	// --listen 127.0.0.1:0 needs the namespace's loopback.
	r.ip("-n", r.nsA, "link", "set", "lo", "up")
	r.createVeth()
	return r
}

// createVeth makes the pair (again, after a removal) and brings both ends up.
func (r *nicRig) createVeth() {
	r.t.Helper()
	r.ip("-n", r.nsA, "link", "add", nicNear, "index", nicIndex, "type", "veth",
		"peer", "name", nicFar, "netns", r.nsB, "index", nicIndex)
	r.ip("-n", r.nsA, "link", "set", nicNear, "up")
	r.ip("-n", r.nsB, "link", "set", nicFar, "up")
	a, b := r.ifindex(r.nsA, nicNear), r.ifindex(r.nsB, nicFar)
	if a != b {
		r.t.Fatalf("veth ends have ifindex %d and %d; the test needs them equal (NIC-like)", a, b)
	}
}

func (r *nicRig) ifindex(ns, name string) int {
	r.t.Helper()
	var links []struct {
		Index int `json:"ifindex"`
	}
	out := r.ip("-n", ns, "-j", "link", "show", "dev", name)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		r.t.Fatalf("ip -j link show %s in %s: %v: %q", name, ns, err, out)
	}
	return links[0].Index
}

// setFar sets the far end down or up, which takes the watched end's carrier
// with it.
func (r *nicRig) setFar(up bool) {
	r.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	r.ip("-n", r.nsB, "link", "set", nicFar, state)
}

// removeVeth deletes the far end, which removes the pair: show0 is gone.
func (r *nicRig) removeVeth() {
	r.t.Helper()
	r.ip("-n", r.nsB, "link", "del", nicFar)
}

func (r *nicRig) ip(args ...string) string {
	r.t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pids lists the processes in consoled's namespace.
func (r *nicRig) pids() []string {
	out, err := exec.Command("ip", "netns", "pids", r.nsA).CombinedOutput()
	if err != nil {
		r.t.Errorf("ip netns pids %s: %v: %s", r.nsA, err, out)
		return nil
	}
	return strings.Fields(string(out))
}

// nicConsole is consoled run inside the rig's first namespace.
type nicConsole struct {
	t      *testing.T
	socket string
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
	err    error // Wait's result, valid after exited is closed
	cl     *client.Client
}

// startInNamespace runs consoled --board mock,nic=show0 in the rig's first
// namespace and waits until its control API answers. ip netns exec execs
// consoled in its own process, so the process started here is consoled:
// killing it kills consoled. The cleanup does so and checks that nothing
// is left in the namespace.
func (r *nicRig) startConsoled(id string) *nicConsole {
	t := r.t
	t.Helper()
	data := t.TempDir()
	c := &nicConsole{t: t, socket: filepath.Join(data, "consoled.sock"), log: &syncBuffer{}, exited: make(chan struct{})}
	bin := filepath.Join(binDir, "consoled")
	c.cmd = exec.Command("ip", "netns", "exec", r.nsA, bin,
		"--id", id, "--data", data, "--board", "mock,nic="+nicNear,
		"--http", "off", "--listen", "127.0.0.1:0")
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	// Should the test binary die without its cleanups, consoled goes too
	// (the parent-death signal survives ip's exec of consoled).
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting consoled in namespace %s: %v", r.nsA, err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	c.cl = client.Unix(c.socket)
	// Registered after the namespaces' cleanups, so it runs before them.
	t.Cleanup(func() {
		c.cl.Close()
		select {
		case <-c.exited:
		default:
			c.cmd.Process.Kill()
			select {
			case <-c.exited:
			case <-time.After(10 * time.Second):
				t.Errorf("cleanup: consoled (pid %d) still running 10s after SIGKILL", c.cmd.Process.Pid)
			}
		}
		if left := r.pids(); len(left) > 0 {
			t.Errorf("cleanup: processes left in namespace %s after killing consoled: %v", r.nsA, left)
		}
		if t.Failed() {
			t.Logf("consoled %s log:\n%s", id, c.log.String())
		}
	})

	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.cl.Status(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-c.exited:
			t.Fatalf("consoled %s exited at start (%v):\n%s", id, c.err, c.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("consoled %s did not answer within 20s: %v", id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The process started is consoled itself, not an ip waiting for it.
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", c.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("reading the started process's executable: %v", err)
	}
	if want, _ := filepath.EvalSymlinks(bin); exe != want && exe != bin {
		t.Fatalf("the started process (pid %d) runs %s, not consoled (%s): killing it would leave consoled running", c.cmd.Process.Pid, exe, bin)
	}
	return c
}

// waitLink polls the status until it shows link and the LINK LED as wanted.
func (c *nicConsole) waitLink(link, led string, within time.Duration) api.Status {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var (
		st  api.Status
		err error
	)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err = c.cl.Status(ctx)
		cancel()
		if err == nil && st.Link == link && st.LEDs["link"] == led {
			return st
		}
		select {
		case <-c.exited:
			c.t.Fatalf("consoled exited (%v) while waiting for link %s, LINK LED %s", c.err, link, led)
		default:
		}
		if time.Now().After(deadline) {
			if err != nil {
				c.t.Fatalf("no link %s / LINK LED %s within %s: status: %v", link, led, within, err)
			}
			c.t.Fatalf("no link %s / LINK LED %s within %s: status has link %q, LINK LED %q", link, led, within, st.Link, st.LEDs["link"])
		}
		time.Sleep(time.Millisecond)
	}
}

// waitLog waits for consoled's output to contain text. (Its output reaches
// the buffer through a pipe, a moment after consoled wrote it.)
func (c *nicConsole) waitLog(text string, within time.Duration) {
	c.t.Helper()
	c.log.waitFor(c.t, "consoled", within, text)
}

// alive checks that consoled is still running and answering.
func (c *nicConsole) alive(when string) {
	c.t.Helper()
	select {
	case <-c.exited:
		c.t.Fatalf("consoled exited %s: %v", when, c.err)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.cl.Status(ctx); err != nil {
		c.t.Fatalf("consoled does not answer %s: %v", when, err)
	}
}

// TestNICLinkOnRealVeth: the LINK LED and the status follow a real NIC's
// carrier, seen through netlink, in a consoled process.
func TestNICLinkOnRealVeth(t *testing.T) {
	r := newNICRig(t)
	c := r.startConsoled("desk-nic")
	// Carrier detection is bounded by the 100 ms poll; 5 s leaves room for
	// a loaded machine and the race detector without hiding a hang.
	const within = 5 * time.Second

	st := c.waitLink("up", "on", within)
	if want := "mock,nic=" + nicNear; st.Board != want {
		t.Errorf("status board %q, want %q", st.Board, want)
	}

	r.setFar(false)
	c.waitLink("down", "off", within)
	panel, err := c.cl.Panel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if panel["link"] != "off" {
		t.Errorf("panel LINK LED %q after carrier loss, want off (panel %v)", panel["link"], panel)
	}

	// The NIC is real: the mock's link command must not pretend to drive it.
	res := runCtl(t, "", "--socket", c.socket, "link", "up")
	if res.code != api.ExitError || !strings.Contains(res.err, "mock board only") {
		t.Errorf("consolectl link up on a real NIC: exit %d, stdout %q, stderr %q; want exit %d and an error saying link works on the mock board only",
			res.code, res.out, res.err, api.ExitError)
	}
	res = runCtl(t, "", "--socket", c.socket, "link", "down")
	if res.code != api.ExitError || !strings.Contains(res.err, "mock board only") {
		t.Errorf("consolectl link down on a real NIC: exit %d, stdout %q, stderr %q; want exit %d and an error saying link works on the mock board only",
			res.code, res.out, res.err, api.ExitError)
	}
	// And the refused command changed nothing.
	c.waitLink("down", "off", within)

	r.setFar(true)
	c.waitLink("up", "on", within)

	// The NIC disappears (driver unloaded, USB NIC unplugged): link down,
	// and the service carries on.
	r.removeVeth()
	c.waitLink("down", "off", within)
	c.alive("after the NIC was removed")
	c.waitLog(nicNear+" absent", within)

	// It comes back: carrier again.
	r.createVeth()
	c.waitLink("up", "on", within)
	c.alive("after the NIC came back")
}
