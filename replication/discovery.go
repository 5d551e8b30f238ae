package replication

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"consoled/replication/wire"
)

// Discovery finds the other consoles of the show network without
// configuration: every console multicasts a small beacon on the show
// network's NIC, and dials the consoles it hears. The beacon carries the
// console's name, its address and peer port, and the time it was sent,
// authenticated with an HMAC from the network key, so consoles of other
// show networks (or anyone else) are ignored before any connection is made,
// and a beacon replayed from another address, or long after, is not
// followed (beacons.go). Joining and everything after still runs over the
// authenticated TLS connection; the beacon only says where to dial.
const (
	// DiscoveryGroup is the beacon's multicast group and UDP port
	// (organisation-local scope, RFC 2365).
	DiscoveryGroup = "239.255.73.1:7473"
	// BeaconInterval is how often a console announces itself.
	BeaconInterval = 500 * time.Millisecond

	beaconMagic = "CONSOLED-BEACON\x02"
	beaconMax   = 512
)

// beacon is one console's announcement.
type beacon struct {
	Console string
	Port    uint16
	Addr    net.IP // IPv4: the address it is sent from, where the console listens
	Time    int64  // when it was sent, Unix milliseconds on the sender's clock
}

func beaconKey(k wire.Key) []byte {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte("consoled discovery beacon v2"))
	return m.Sum(nil)
}

// encodeBeacon signs b. Addr must be an IPv4 address.
func encodeBeacon(key []byte, b beacon) []byte {
	out := []byte(beaconMagic)
	out = append(out, byte(len(b.Console)))
	out = append(out, b.Console...)
	out = binary.BigEndian.AppendUint16(out, b.Port)
	out = append(out, b.Addr.To4()...)
	out = binary.BigEndian.AppendUint64(out, uint64(b.Time))
	m := hmac.New(sha256.New, key)
	m.Write(out)
	return m.Sum(out)
}

var errBeacon = errors.New("not a beacon of this show network")

// decodeBeacon checks and parses a datagram. Anything malformed or signed
// with another key is errBeacon.
func decodeBeacon(key, p []byte) (beacon, error) {
	const fixed = 2 + net.IPv4len + 8 // port, address, time
	if len(p) < len(beaconMagic)+1+fixed+sha256.Size || len(p) > beaconMax || !bytes.HasPrefix(p, []byte(beaconMagic)) {
		return beacon{}, errBeacon
	}
	body, sum := p[:len(p)-sha256.Size], p[len(p)-sha256.Size:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), sum) {
		return beacon{}, errBeacon
	}
	rest := body[len(beaconMagic):]
	n := int(rest[0])
	if n == 0 || len(rest) != 1+n+fixed {
		return beacon{}, errBeacon
	}
	b := beacon{Console: string(rest[1 : 1+n])}
	rest = rest[1+n:]
	b.Port = binary.BigEndian.Uint16(rest)
	b.Addr = net.IP(bytes.Clone(rest[2 : 2+net.IPv4len]))
	b.Time = int64(binary.BigEndian.Uint64(rest[2+net.IPv4len:]))
	if b.Port == 0 {
		return beacon{}, errBeacon
	}
	return b, nil
}

// startDiscovery beacons and listens on the interface ifname until ctx ends.
func (e *Engine) startDiscovery(ctx context.Context, ifname string) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("replication: discovery on %s: %w", ifname, err)
	}
	group, _ := net.ResolveUDPAddr("udp4", DiscoveryGroup)
	in, err := net.ListenMulticastUDP("udp4", ifi, group)
	if err != nil {
		return fmt.Errorf("replication: discovery on %s: %w", ifname, err)
	}
	src := firstIPv4(ifi)
	if src == nil {
		in.Close()
		return fmt.Errorf("replication: discovery on %s: the interface has no IPv4 address", ifname)
	}
	out, err := net.ListenUDP("udp4", &net.UDPAddr{IP: src})
	if err == nil {
		err = pinMulticast(out, ifi)
	}
	if err != nil {
		in.Close()
		if out != nil {
			out.Close()
		}
		return fmt.Errorf("replication: discovery on %s: %w", ifname, err)
	}
	key := beaconKey(e.opts.Key)
	e.log.Info("discovery on", "nic", ifname, "group", DiscoveryGroup)
	e.sched.Go(&e.net.wg, func() {
		e.sched.Wait(time.Time{}, ctx.Done())
		in.Close()
		out.Close()
	})
	e.sched.Go(&e.net.wg, func() { e.sendBeacons(ctx, out, group, key) })
	e.sched.Go(&e.net.wg, func() { e.receiveBeacons(ctx, in, key) })
	e.net.mu.Lock()
	e.net.discoveryFrom = e.sched.Now()
	e.net.mu.Unlock()
	return nil
}

// sendBeacons announces this console on out, to the group, every
// BeaconInterval until ctx ends. Each beacon names the address out is bound
// to.
func (e *Engine) sendBeacons(ctx context.Context, out *net.UDPConn, group *net.UDPAddr, key []byte) {
	_, port, _ := net.SplitHostPort(e.ListenAddr())
	p, _ := strconv.Atoi(port)
	me := beacon{Console: e.id, Port: uint16(p), Addr: out.LocalAddr().(*net.UDPAddr).IP.To4()}
	e.ownBeacon(me)
	for {
		me.Time = e.sched.Now().UnixMilli()
		if _, err := out.WriteToUDP(encodeBeacon(key, me), group); err != nil && ctx.Err() == nil {
			e.log.Debug("beacon not sent", "err", err)
		}
		if !sleep(e.sched, BeaconInterval, ctx.Done()) {
			return
		}
	}
}

// receiveBeacons dials the consoles whose beacons arrive on in, until in
// is closed.
func (e *Engine) receiveBeacons(ctx context.Context, in *net.UDPConn, key []byte) {
	buf := make([]byte, beaconMax+1)
	for {
		n, from, err := in.ReadFromUDP(buf)
		if err != nil {
			return
		}
		b, err := decodeBeacon(key, buf[:n])
		if err != nil {
			continue
		}
		if addr, ok := e.takeBeacon(b, from); ok {
			e.dialWith(ctx, addr, &discovered{console: b.Console})
		}
	}
}

func firstIPv4(ifi *net.Interface) net.IP {
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP
		}
	}
	return nil
}

// pinMulticast makes beacons leave by ifi only, with a TTL of 1, so they
// stay on the show network's segment whatever the routing table says.
func pinMulticast(c *net.UDPConn, ifi *net.Interface) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptIPMreqn(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, &syscall.IPMreqn{Ifindex: int32(ifi.Index)})
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
