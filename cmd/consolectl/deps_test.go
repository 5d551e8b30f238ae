package main

import (
	"os/exec"
	"strings"
	"testing"
)

// consolectl links the client and the contract, not the service: none of
// the store (Pebble), the NIC (netlink), the GPIO lines (periph.io) or the
// packages that use them.
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
		for _, h := range heavy {
			if pkg == h || strings.HasPrefix(pkg, h+"/") || strings.HasPrefix(pkg, h) && strings.HasPrefix(h, "github.com/cockroachdb/pebble") {
				t.Errorf("consolectl depends on %s", pkg)
			}
		}
	}
	t.Logf("consolectl: %d packages", n)
}
