// Command waitnic waits until a NIC has an IPv4 address and the clock is
// set, at most -timeout, then replaces itself with the command after "--":
//
//	waitnic -nic eth0 -timeout 20s -- /user/consoled --config ...
//
// gokrazy starts every service at once, so consoled would otherwise start
// before netconf or DHCP has given the show NIC its address, and find no
// address to send discovery beacons from; or, on a board without a
// real-time clock, before gokrazy's ntp has set the clock from the time it
// saved on /perm, and make its TLS certificate in 1970. After the exec the
// process is consoled itself: gokrazy supervises it and starts it again
// (through waitnic) when it exits. A NIC that gets no address in time (DHCP
// with the cable out) does not keep the console from starting: it runs
// alone.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"syscall"
	"time"
)

func main() {
	// Timestamps: gokrazy keeps a service's lines without them.
	log.SetFlags(log.LstdFlags)
	nic := flag.String("nic", "eth0", "the `NIC` to wait for")
	timeout := flag.Duration("timeout", 20*time.Second, "how long to wait at most")
	// consoled's certificates, derived from the network key, are valid from
	// 2020 on (replication/wire): a console whose clock is earlier refuses
	// every peer and is refused by them.
	clockAfter := flag.String("clock-after", "2020-01-01", "wait until the clock is past this `date`")
	flag.Parse()
	after, err := time.Parse(time.DateOnly, *clockAfter)
	if err != nil {
		log.Fatalf("waitnic: -clock-after: %v", err)
	}
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: waitnic [-nic NIC] [-timeout D] -- COMMAND [ARG...]")
		os.Exit(2)
	}
	// Elapsed time from a monotonic clock: the wall clock may jump meanwhile.
	start := time.Now()
	for !hasIPv4(*nic) || time.Now().Before(after) {
		if time.Since(start) > *timeout {
			if !hasIPv4(*nic) {
				log.Printf("waitnic: %s has no IPv4 address after %v; starting %s anyway", *nic, *timeout, args[0])
			}
			if now := time.Now(); now.Before(after) {
				log.Printf("waitnic: the clock says %s after %v, before %s; starting %s anyway (no peer will accept it until the clock is set)", now.Format(time.RFC3339), *timeout, *clockAfter, args[0])
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	err = syscall.Exec(args[0], args, os.Environ())
	log.Fatalf("waitnic: %s: %v", args[0], err)
}

func hasIPv4(name string) bool {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return false
	}
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return true
		}
	}
	return false
}
