// Command waitnic waits until a NIC has an IPv4 address, at most -timeout,
// then replaces itself with the command after "--":
//
//	waitnic -nic eth0 -timeout 20s -- /user/consoled --config ...
//
// gokrazy starts every service at once, so consoled would otherwise start
// before netconf or DHCP has given the show NIC its address, and find no
// address to send discovery beacons from. After the exec the process is
// consoled itself: gokrazy supervises it and starts it again (through
// waitnic) when it exits. A NIC that gets no address in time (DHCP with the
// cable out) does not keep the console from starting: it runs alone.
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
	log.SetFlags(0)
	nic := flag.String("nic", "eth0", "the `NIC` to wait for")
	timeout := flag.Duration("timeout", 20*time.Second, "how long to wait at most")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: waitnic [-nic NIC] [-timeout D] -- COMMAND [ARG...]")
		os.Exit(2)
	}
	start := time.Now()
	for !hasIPv4(*nic) {
		if time.Since(start) > *timeout {
			log.Printf("waitnic: %s has no IPv4 address after %v; starting %s anyway", *nic, *timeout, args[0])
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	err := syscall.Exec(args[0], args, os.Environ())
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
