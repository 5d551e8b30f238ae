package replication

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// These tests send real beacons over UDP on loopback, from distinct
// 127.0.0.x source addresses, to an engine's beacon receiver bound to a
// unicast loopback socket: nothing goes to a multicast group or a NIC.

// listenBeacons has e take beacons on a loopback socket, and returns its
// address.
func listenBeacons(t *testing.T, e *Engine) *net.UDPAddr {
	t.Helper()
	in, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e.sched.Go(&e.net.wg, func() {
		<-e.netCtx.Done()
		in.Close()
	})
	e.sched.Go(&e.net.wg, func() { e.receiveBeacons(e.netCtx, in, beaconKey(e.opts.Key)) })
	return in.LocalAddr().(*net.UDPAddr)
}

// captureBeacon returns a beacon e sends from the address src.
func captureBeacon(t *testing.T, e *Engine, src string) []byte {
	t.Helper()
	out, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(src)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.sendBeacons(ctx, out, sink.LocalAddr().(*net.UDPAddr), beaconKey(e.opts.Key))
	}()
	defer func() { cancel(); <-done }()
	sink.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, beaconMax+1)
	n, _, err := sink.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no beacon from %s: %v", e.id, err)
	}
	return buf[:n]
}

// sendFrom sends p to to from the address src.
func sendFrom(t *testing.T, src string, to *net.UDPAddr, p []byte) {
	t.Helper()
	c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(src)}, to)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
}

// dialing lists the addresses e keeps dialing.
func (e *Engine) dialing() []string {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	var out []string
	for a, on := range e.net.dialAddr {
		if on {
			out = append(out, a)
		}
	}
	return out
}

func listenOn(addr string) func(*Options) { return func(o *Options) { o.Listen = addr } }

// Issue 13, row 4: one captured beacon replayed from 20 other addresses made
// the console dial all 20, and redial each for good. A beacon names the
// address it comes from, and is refused from any other.
func TestReplayedBeaconFromOtherAddresses(t *testing.T) {
	key := testKey(t)
	a := rigEngine(t, key, "desk-1", quietLog())
	to := listenBeacons(t, a)
	b := rigEngine(t, key, "desk-2", quietLog(), listenOn("127.0.0.5:0"))
	captured := captureBeacon(t, b, "127.0.0.5")
	for i := range 20 {
		sendFrom(t, fmt.Sprintf("127.0.0.%d", 10+i), to, captured)
	}
	// From its own address the beacon is good: once desk-1 has followed it,
	// it has seen every replay before it.
	sendFrom(t, "127.0.0.5", to, captured)
	if !waitUntil(10*time.Second, func() bool { return a.peer("desk-2") != nil }) {
		t.Fatal("desk-1 did not connect to desk-2 from its beacon")
	}
	if got := a.dialing(); len(got) != 1 || got[0] != b.ListenAddr() {
		t.Fatalf("desk-1 dials %v, want only %s", got, b.ListenAddr())
	}
	if n := a.Status().BeaconsRefused; n != 20 {
		t.Fatalf("beacons refused: %d, want 20", n)
	}
}

// A discovered address that does not answer, or answers as another
// console than its beacon named, is dropped after a few tries, and its
// beacons are not followed again for a while.
func TestDiscoveredAddressDroppedAfterFewTries(t *testing.T) {
	key := testKey(t)
	a := rigEngine(t, key, "desk-1", quietLog())
	to := listenBeacons(t, a)

	// desk-7 beacons, then goes: nothing answers at its address.
	gone := rigEngine(t, key, "desk-7", quietLog(), listenOn("127.0.0.7:0"))
	goneAddr := gone.ListenAddr()
	b7 := captureBeacon(t, gone, "127.0.0.7")
	gone.Close()
	// desk-6 beacons, then desk-8 takes its address.
	six := rigEngine(t, key, "desk-6", quietLog(), listenOn("127.0.0.6:0"))
	sixAddr := six.ListenAddr()
	b6 := captureBeacon(t, six, "127.0.0.6")
	six.Close()
	rigEngine(t, key, "desk-8", quietLog(), listenOn(sixAddr))

	sendFrom(t, "127.0.0.7", to, b7)
	sendFrom(t, "127.0.0.6", to, b6)
	given := func() bool {
		a.guard.mu.Lock()
		defer a.guard.mu.Unlock()
		_, g7 := a.guard.givenUp[goneAddr]
		_, g6 := a.guard.givenUp[sixAddr]
		return g7 && g6
	}
	if !waitUntil(10*time.Second, func() bool { return given() && len(a.dialing()) == 0 && a.peer("desk-8") == nil }) {
		t.Fatalf("desk-1 still dials %v (wanted nothing at %s and %s), peers %v", a.dialing(), goneAddr, sixAddr, a.Status().Peers)
	}
	refused := a.Status().BeaconsRefused
	sendFrom(t, "127.0.0.7", to, b7)
	if !waitUntil(5*time.Second, func() bool { return a.Status().BeaconsRefused > refused }) {
		t.Fatal("a beacon of an address given up on was followed again")
	}
	if got := a.dialing(); len(got) != 0 {
		t.Fatalf("desk-1 dials %v again", got)
	}
}

// A beacon is followed only when it was sent within beaconWindow of this
// console's clock; one further off is reported as a clock fault. A beacon
// with this console's own ID from another console is a duplicate ID.
func TestBeaconWindowAndDuplicate(t *testing.T) {
	key := testKey(t)
	a := rigEngine(t, key, "desk-1", quietLog())
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 7473}
	at := func(off time.Duration) beacon {
		return beacon{Console: "desk-9", Port: 7400, Addr: from.IP, Time: time.Now().Add(off).UnixMilli()}
	}
	for _, off := range []time.Duration{-beaconWindow - time.Second, beaconWindow + time.Second} {
		if _, ok := a.takeBeacon(at(off), from); ok {
			t.Fatalf("a beacon stamped %s away was followed", off)
		}
	}
	if !faultNames(a.Status().ProtocolFaults, "clock") {
		t.Fatalf("no clock fault: %q", a.Status().ProtocolFaults)
	}
	if addr, ok := a.takeBeacon(at(-time.Second), from); !ok || addr != "127.0.0.9:7400" {
		t.Fatalf("a fresh beacon was not followed: %q %v", addr, ok)
	}
	twin := at(0)
	twin.Console = "desk-1"
	if _, ok := a.takeBeacon(twin, from); ok {
		t.Fatal("a beacon with this console's own ID was followed")
	}
	if err := a.checkDuplicate("demo"); err == nil || !strings.Contains(err.Error(), "127.0.0.9:7400") {
		t.Fatalf("no duplicate ID after a beacon of another desk-1: %v", err)
	}
}
