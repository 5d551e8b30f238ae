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
// console's name and peer port, authenticated with an HMAC from the network
// key, so consoles of other show networks (or anyone else) are ignored
// before any connection is made. Joining and everything after still runs
// over the authenticated TLS connection; the beacon only says where to dial.
const (
	// DiscoveryGroup is the beacon's multicast group and UDP port
	// (organisation-local scope, RFC 2365).
	DiscoveryGroup = "239.255.73.1:7473"
	// BeaconInterval is how often a console announces itself.
	BeaconInterval = 500 * time.Millisecond

	beaconMagic = "CONSOLED-BEACON\x01"
	beaconMax   = 512
)

// beacon is one console's announcement.
type beacon struct {
	Console string
	Port    uint16
}

func beaconKey(k wire.Key) []byte {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte("consoled discovery beacon v1"))
	return m.Sum(nil)
}

func encodeBeacon(key []byte, b beacon) []byte {
	out := []byte(beaconMagic)
	out = append(out, byte(len(b.Console)))
	out = append(out, b.Console...)
	out = binary.BigEndian.AppendUint16(out, b.Port)
	m := hmac.New(sha256.New, key)
	m.Write(out)
	return m.Sum(out)
}

var errBeacon = errors.New("not a beacon of this show network")

// decodeBeacon checks and parses a datagram. Anything malformed or signed
// with another key is errBeacon.
func decodeBeacon(key, p []byte) (beacon, error) {
	if len(p) < len(beaconMagic)+1+2+sha256.Size || len(p) > beaconMax || !bytes.HasPrefix(p, []byte(beaconMagic)) {
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
	if n == 0 || len(rest) != 1+n+2 {
		return beacon{}, errBeacon
	}
	return beacon{Console: string(rest[1 : 1+n]), Port: binary.BigEndian.Uint16(rest[1+n:])}, nil
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
	_, port, _ := net.SplitHostPort(e.ListenAddr())
	p, _ := strconv.Atoi(port)
	key := beaconKey(e.opts.Key)
	msg := encodeBeacon(key, beacon{Console: e.id, Port: uint16(p)})
	e.log.Info("discovery on", "nic", ifname, "group", DiscoveryGroup)
	e.net.wg.Add(2)
	go func() {
		defer e.net.wg.Done()
		<-ctx.Done()
		in.Close()
		out.Close()
	}()
	go func() {
		defer e.net.wg.Done()
		t := e.clock.NewTicker(BeaconInterval)
		defer t.Stop()
		for {
			if _, err := out.WriteToUDP(msg, group); err != nil && ctx.Err() == nil {
				e.log.Debug("beacon not sent", "err", err)
			}
			select {
			case <-t.Chan():
			case <-ctx.Done():
				return
			}
		}
	}()
	e.net.wg.Add(1)
	go func() {
		defer e.net.wg.Done()
		buf := make([]byte, beaconMax+1)
		for {
			n, from, err := in.ReadFromUDP(buf)
			if err != nil {
				return
			}
			b, err := decodeBeacon(key, buf[:n])
			if err != nil || b.Console == e.id {
				continue
			}
			e.net.mu.Lock()
			_, connected := e.net.peers[b.Console]
			e.net.mu.Unlock()
			if !connected {
				e.dial(ctx, net.JoinHostPort(from.IP.String(), strconv.Itoa(int(b.Port))))
			}
		}
	}()
	e.net.mu.Lock()
	e.net.discoveryFrom = e.clock.Now()
	e.net.mu.Unlock()
	return nil
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
