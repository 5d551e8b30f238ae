package firmware

import (
	"context"
	"net"
	"strconv"
	"time"
)

// otherPeers is --peers without this console's own address, so that one
// config file listing every console of a show network serves them all: a
// console that dialed itself would meet its own ID and report a duplicate.
func (s *Service) otherPeers() []string {
	var out []string
	for _, p := range s.cfg.Peers {
		if isOwnAddress(p, s.cfg.Listen, localIPs, lookupIPs) {
			s.log.Debug("--peers: skipping this console's own address", "peer", p, "listen", s.cfg.Listen)
			continue
		}
		out = append(out, p)
	}
	return out
}

// isOwnAddress reports whether dialing peer reaches listen on this machine:
// the same port, and a host that is one of listen's addresses, or, when
// listen takes every address (":7400", "0.0.0.0:7400", "[::]:7400"), one of
// this machine's. local lists this machine's addresses; resolve a host
// name's.
func isOwnAddress(peer, listen string, local func() []net.IP, resolve func(string) []net.IP) bool {
	ph, pp, err := net.SplitHostPort(peer)
	if err != nil {
		return false
	}
	lh, lp, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if port(pp) != port(lp) || port(pp) == 0 {
		return false
	}
	peerIPs := resolve(ph)
	var mine []net.IP
	every := false
	if lip := net.ParseIP(lh); lh == "" || (lip != nil && lip.IsUnspecified()) {
		mine, every = local(), true
	} else {
		mine = resolve(lh)
	}
	for _, a := range peerIPs {
		if every && a.IsLoopback() {
			return true // all of 127.0.0.0/8 is this machine
		}
		for _, b := range mine {
			if a.Equal(b) {
				return true
			}
		}
	}
	return false
}

// port is a port number or service name's number; 0 when unknown.
func port(p string) int {
	if n, err := strconv.Atoi(p); err == nil {
		return n
	}
	n, err := net.LookupPort("tcp", p)
	if err != nil {
		return 0
	}
	return n
}

// lookupIPs resolves a host of --peers or --listen: an address as it is,
// "" as the loopback addresses a dial of ":port" reaches, a name through the
// resolver (bounded: start-up must not hang on a name server).
func lookupIPs(host string) []net.IP {
	if host == "" {
		return []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil
	}
	out := make([]net.IP, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.IP)
	}
	return out
}

// localIPs are this machine's addresses, loopback included.
func localIPs() []net.IP {
	out := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			out = append(out, ipn.IP)
		}
	}
	return out
}
