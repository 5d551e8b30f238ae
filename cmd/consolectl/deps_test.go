package main

import (
	"os/exec"
	"strings"
	"testing"
)

// consolectl links the client and the contract, not the service: none of
// the store (Pebble), the NIC (netlink), the GPIO lines (periph.io) or the
// packages that use them. Of the engine it links the peer protocol's
// package alone (package wire, for remote control's TLS from the network
// key), and that package must stay on the standard library.
func TestNoServiceDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	heavy := []string{"github.com/cockroachdb/pebble", "github.com/vishvananda", "periph.io",
		"consoled/firmware", "consoled/replication", "consoled/hal", "consoled/board"}
	n := 0
	for _, pkg := range strings.Fields(string(out)) {
		n++
		if pkg == "consoled/replication/wire" {
			continue
		}
		for _, h := range heavy {
			if pkg == h || strings.HasPrefix(pkg, h+"/") || strings.HasPrefix(pkg, h) && strings.HasPrefix(h, "github.com/cockroachdb/pebble") {
				t.Errorf("consolectl depends on %s", pkg)
			}
		}
	}
	t.Logf("consolectl: %d packages", n)

	out, err = exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "consoled/replication/wire").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	if deps := strings.Fields(string(out)); len(deps) != 1 || deps[0] != "consoled/replication/wire" {
		t.Errorf("package wire, which consolectl links, imports more than the standard library: %v", deps)
	}
}
