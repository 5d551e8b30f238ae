package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "network.yaml")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nics, err := load(filepath.Join(dir, "missing.yaml"))
	if err != nil || len(nics) != 1 || !nics["eth0"].DHCP {
		t.Fatalf("no file: %v %v, want eth0 by DHCP", nics, err)
	}
	nics, err = load(write("eth0: {address: 10.73.0.1/24, gateway: 10.73.0.254, dns: [10.73.0.254]}\neth1: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n := nics["eth0"]; n.DHCP || n.Address != "10.73.0.1/24" || n.Gateway != "10.73.0.254" {
		t.Errorf("eth0: %+v", n)
	}
	if !nics["eth1"].DHCP {
		t.Errorf("eth1 without address: %+v, want DHCP", nics["eth1"])
	}
	for _, c := range []struct{ file, want string }{
		{"eth0: {adress: 10.73.0.1/24}\n", `unknown key "adress"`},
		{"eth0: {dhcp: true, address: 10.73.0.1/24}\n", "dhcp and address both given"},
		{"eth0: {address: 10.73.0.1}\n", "prefix length"},
		{"eth0: {address: 10.73.0.1/24, gateway: nope}\n", `"nope" is not an IPv4 address`},
		{"eth0: {gateway: 10.73.0.254}\n", "gateway or dns without address"},
		{"# nothing\n", "no NIC"},
	} {
		_, err := load(write(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.file, err, c.want)
		}
	}
}
