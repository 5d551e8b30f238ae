package netlink

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"consoled/hal"
)

// The kernel tests watch one end of a veth pair whose ends sit in two fresh
// network namespaces with the same ifindex. Equal ifindex matters: the
// kernel treats a device whose iflink differs from its ifindex (a normal
// veth) as urgent and reports its carrier at once, but one whose iflink
// equals its ifindex (a real NIC, or this veth) goes through link-watch's
// batching, up to a second late. That is the case the poll exists for.
const (
	nicA      = "show0" // watched, in namespace A
	nicB      = "far0"  // the far end, in namespace B; its state drives A's carrier
	vethIndex = "10"
)

var nsSeq atomic.Int64

type vethPair struct {
	nsA, nsB string
	hA       netns.NsHandle
	nlA, nlB *vnl.Handle
}

// newVethPair makes the namespaces and the pair, both ends up. Everything
// is removed when the test ends, passed or not.
func newVethPair(tb testing.TB) *vethPair {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("skipped: needs root to create network namespaces and a veth pair")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("skipped: needs iproute2's ip to create network namespaces")
	}
	id := fmt.Sprintf("consoled-nl%d-%d", os.Getpid(), nsSeq.Add(1))
	v := &vethPair{nsA: id + "a", nsB: id + "b"}
	for _, ns := range []string{v.nsA, v.nsB} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			tb.Skipf("skipped: ip netns add is not usable here: %v: %s", err, strings.TrimSpace(string(out)))
		}
		tb.Cleanup(func() {
			// Deleting the namespace destroys the veth end inside it.
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				tb.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		})
	}
	var err error
	if v.hA, err = netns.GetFromName(v.nsA); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.hA.Close() })
	hB, err := netns.GetFromName(v.nsB)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { hB.Close() })
	if v.nlA, err = vnl.NewHandleAt(v.hA); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(v.nlA.Close)
	if v.nlB, err = vnl.NewHandleAt(hB); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(v.nlB.Close)
	v.create(tb)
	return v
}

// create makes the pair (again, after a removal) and brings both ends up.
func (v *vethPair) create(tb testing.TB) {
	tb.Helper()
	ip(tb, "-n", v.nsA, "link", "add", nicA, "index", vethIndex, "type", "veth",
		"peer", "name", nicB, "netns", v.nsB, "index", vethIndex)
	ip(tb, "-n", v.nsA, "link", "set", nicA, "up")
	ip(tb, "-n", v.nsB, "link", "set", nicB, "up")
	a, err := v.nlA.LinkByName(nicA)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := v.nlB.LinkByName(nicB)
	if err != nil {
		tb.Fatal(err)
	}
	if a.Attrs().Index != b.Attrs().Index {
		tb.Fatalf("veth ends have ifindex %d and %d; the test needs them equal", a.Attrs().Index, b.Attrs().Index)
	}
}

func ip(tb testing.TB, args ...string) {
	tb.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		tb.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// setFar sets the far end down or up, which takes the watched end's
// carrier with it. It returns when the kernel has done so.
func (v *vethPair) setFar(tb testing.TB, up bool) {
	tb.Helper()
	l, err := v.nlB.LinkByName(nicB)
	if err != nil {
		tb.Fatal(err)
	}
	if up {
		err = v.nlB.LinkSetUp(l)
	} else {
		err = v.nlB.LinkSetDown(l)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

func (v *vethPair) watch(tb testing.TB, poll time.Duration) *Monitor {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m, err := Open(nicA, Options{Namespace: &v.hA, PollInterval: poll, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Error(err)
		}
	})
	return m
}

// await reads Changes until the link is in the wanted state.
func await(tb testing.TB, m *Monitor, present, up bool, within time.Duration) hal.LinkState {
	tb.Helper()
	want := hal.LinkState{Name: nicA, Present: present, Up: up}.String()
	timeout := time.After(within)
	for {
		select {
		case s, ok := <-m.Changes():
			if !ok {
				tb.Fatal("Changes closed")
			}
			if s.Present == present && s.Up == up {
				return s
			}
		case <-timeout:
			tb.Fatalf("no change to %q within %s; state %v", want, within, m.State())
		}
	}
}

func awaitState(tb testing.TB, m *Monitor, present, up bool) {
	tb.Helper()
	if s := m.State(); s.Present == present && s.Up == up {
		return
	}
	await(tb, m, present, up, 5*time.Second)
}

func TestVethCarrier(t *testing.T) {
	v := newVethPair(t)
	m := v.watch(t, 0)
	awaitState(t, m, true, true)

	v.setFar(t, false)
	await(t, m, true, false, 5*time.Second)
	if s := m.State(); !s.Present || s.Up {
		t.Fatalf("State %v after carrier loss", s)
	}
	v.setFar(t, true)
	await(t, m, true, true, 5*time.Second)
}

func TestVethCarrierFromEventsAlone(t *testing.T) {
	v := newVethPair(t)
	// A poll that never comes: the subscription must carry the change.
	m := v.watch(t, time.Hour)
	awaitState(t, m, true, true)
	v.setFar(t, false)
	await(t, m, true, false, 5*time.Second)
	v.setFar(t, true)
	await(t, m, true, true, 5*time.Second)
}

func TestVethRemovedAndRecreated(t *testing.T) {
	v := newVethPair(t)
	m := v.watch(t, 0)
	awaitState(t, m, true, true)

	l, err := v.nlA.LinkByName(nicA)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.nlA.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	await(t, m, false, false, 5*time.Second)

	v.create(t)
	await(t, m, true, true, 5*time.Second)
}

func TestVethRenamed(t *testing.T) {
	v := newVethPair(t)
	m := v.watch(t, 0)
	awaitState(t, m, true, true)

	// The kernel renames only a down link.
	l, err := v.nlA.LinkByName(nicA)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.nlA.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	await(t, m, true, false, 5*time.Second)
	if err := v.nlA.LinkSetName(l, "other0"); err != nil {
		t.Fatal(err)
	}
	await(t, m, false, false, 5*time.Second)
	if err := v.nlA.LinkSetName(l, nicA); err != nil {
		t.Fatal(err)
	}
	await(t, m, true, false, 5*time.Second)
	if err := v.nlA.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	await(t, m, true, true, 5*time.Second)
}

// BenchmarkCarrierLossLatency measures how long a carrier loss takes to
// reach Changes on a NIC-like veth: 20 trials per b.N, p50 and p99 (by
// nearest rank, so with 20 trials p99 is the slowest). Run it with
//
//	go test -run '^$' -bench CarrierLoss -benchtime 1x ./hal/netlink/
//
// "poll" is the monitor as configured by default; "events-only" turns the
// poll off to show the kernel's link-watch delay it exists to hide. (Each
// trial follows the previous one's carrier-up within a second, so link-watch
// holds the event back; after a quiet second the kernel would send it at
// once. A bench of many consoles keeps link-watch busy all the time.)
func BenchmarkCarrierLossLatency(b *testing.B) {
	for _, c := range []struct {
		name string
		poll time.Duration
	}{
		{"poll=100ms", DefaultPollInterval},
		{"events-only", time.Hour},
	} {
		b.Run(c.name, func(b *testing.B) {
			v := newVethPair(b)
			m := v.watch(b, c.poll)
			awaitState(b, m, true, true)
			var lat []time.Duration
			for i := 0; i < 20*b.N; i++ {
				// A real cable is pulled at any moment, not just after a
				// poll: start each trial at a random point of the interval.
				time.Sleep(rand.N(DefaultPollInterval))
				start := time.Now()
				v.setFar(b, false)
				await(b, m, true, false, 5*time.Second)
				lat = append(lat, time.Since(start))
				v.setFar(b, true)
				await(b, m, true, true, 5*time.Second)
			}
			slices.Sort(lat)
			p50, p99 := rank(lat, 0.50), rank(lat, 0.99)
			b.ReportMetric(float64(p50)/float64(time.Millisecond), "p50-ms")
			b.ReportMetric(float64(p99)/float64(time.Millisecond), "p99-ms")
			b.Logf("%s: carrier loss to observed down over %d trials: p50 %s, p99 %s, min %s, max %s",
				c.name, len(lat), p50.Round(time.Millisecond/10), p99.Round(time.Millisecond/10),
				lat[0].Round(time.Millisecond/10), lat[len(lat)-1].Round(time.Millisecond/10))
		})
	}
}

// rank is the nearest-rank percentile of sorted.
func rank(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
