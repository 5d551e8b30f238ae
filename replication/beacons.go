package replication

// What a beacon may make this console do. A beacon only says where to dial,
// and the TLS handshake decides who is there; but one captured beacon,
// replayed from 20 other addresses, had this console dial all 20, and redial
// each every second or two for good. So a beacon is followed only
//   - from the address it names (inside its HMAC): a replay from anywhere
//     else is refused;
//   - when it was sent within beaconWindow of this console's clock: an old
//     capture is refused (the consoles' clocks must agree that well for
//     discovery; a console further off is reported, and --peers still
//     reaches it);
// and an address found this way is dropped after discoveredTries attempts
// that do not reach the console its beacon named. One that never did is
// not dialed again for discoveredCooldown, whatever its beacons say.

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"consoled/replication/wire"
)

const (
	beaconWindow       = 30 * time.Second
	discoveredTries    = 3
	discoveredCooldown = time.Minute
)

// ownBeacon records the beacon this console sends, to tell its own from
// another console's with the same ID.
func (e *Engine) ownBeacon(b beacon) {
	e.guard.mu.Lock()
	e.guard.own = b
	e.guard.mu.Unlock()
}

// takeBeacon decides on a beacon that arrived from from, and returns the
// address to dial when it is to be followed.
func (e *Engine) takeBeacon(b beacon, from *net.UDPAddr) (string, bool) {
	addr := net.JoinHostPort(b.Addr.String(), strconv.Itoa(int(b.Port)))
	refuse := func(why string) (string, bool) {
		e.guard.beaconsRefused.Add(1)
		e.log.Debug("beacon refused", "console", b.Console, "addr", addr, "from", from, "why", why)
		return "", false
	}
	if !from.IP.Equal(b.Addr) {
		return refuse("sent from another address than it names")
	}
	now := e.sched.Now()
	if off := now.Sub(time.UnixMilli(b.Time)); off > beaconWindow || off < -beaconWindow {
		e.clockOff(b.Console, addr, off)
		return refuse("stamped " + off.Round(time.Second).String() + " from this console's clock")
	}
	e.guard.mu.Lock()
	own := e.guard.own
	givenUp, cooling := e.guard.givenUp[addr]
	e.guard.mu.Unlock()
	if b.Console == e.id {
		if !(b.Addr.Equal(own.Addr) && b.Port == own.Port) {
			e.noteDuplicate(true, addr, wire.Hello{})
		}
		return "", false
	}
	if e.peer(b.Console) != nil {
		return "", false
	}
	if cooling && now.Sub(givenUp) < discoveredCooldown {
		return refuse("an address that did not answer as its console lately")
	}
	return addr, true
}

// clockOff reports a console whose beacons are stamped too far from this
// console's clock, once a minute at most: its beacons are not followed.
func (e *Engine) clockOff(console, addr string, off time.Duration) {
	msg := fmt.Sprintf("console %s (%s) sends beacons stamped %s from this console's clock, over the %s discovery allows: set the clocks, or list it in --peers",
		console, addr, off.Round(time.Second), beaconWindow)
	key := "clock of " + console
	e.net.faultMu.Lock()
	prev, seen := e.net.faults[key]
	e.net.faults[key] = faultNote{msg: msg, at: e.sched.Now()}
	e.net.faultMu.Unlock()
	if !seen || e.sched.Now().Sub(prev.at) > time.Minute {
		e.log.Warn("beacon ignored: the clocks disagree", "console", console, "addr", addr, "off", off.Round(time.Second))
		e.notify()
	}
}

// discovered is a dial loop's record of an address found by a beacon (see
// dialWith).
type discovered struct {
	console  string // the console the beacon named
	failures int    // attempts in a row that did not reach it
	reached  bool   // it answered there at least once
}

// after judges one attempt to dial addr, kept as the dial loop saw it: a
// connection to another console than the beacon named does not count, and
// is closed. stop is true once the address is given up.
func (d *discovered) after(e *Engine, addr string, kept bool) (_ bool, stop bool) {
	if kept {
		if p := e.peerAt(addr); p != nil && p.id != d.console {
			e.log.Warn("a discovered address answers as another console; not keeping it", "addr", addr, "beacon_named", d.console, "answered", p.id)
			p.conn.Close()
			kept = false
		}
	}
	if kept {
		d.failures, d.reached = 0, true
		return true, false
	}
	if d.failures++; d.failures < discoveredTries {
		return false, false
	}
	e.net.mu.Lock()
	delete(e.net.dialAddr, addr)
	e.net.mu.Unlock()
	now := e.sched.Now()
	e.guard.mu.Lock()
	for a, at := range e.guard.givenUp {
		if now.Sub(at) >= discoveredCooldown {
			delete(e.guard.givenUp, a)
		}
	}
	if !d.reached {
		if e.guard.givenUp == nil {
			e.guard.givenUp = map[string]time.Time{}
		}
		e.guard.givenUp[addr] = now
	}
	e.guard.mu.Unlock()
	e.log.Info("stopped dialing a discovered address", "addr", addr, "console", d.console, "tries", d.failures, "reached_before", d.reached)
	return false, true
}
