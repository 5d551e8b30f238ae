package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// freePorts finds n TCP ports free on the loopback address now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// One config file listing every console's address in peers serves all
// three: each skips its own address quietly, and they make one show
// network with no FAULT and no duplicate-ID complaint.
func TestOneConfigForEveryConsole(t *testing.T) {
	key := newKey(t)
	ports := freePorts(t, 3)
	var peers []string
	for _, p := range ports {
		peers = append(peers, fmt.Sprintf("  - 127.0.0.1:%d", p))
	}
	cfg := writeFile(t, fmt.Sprintf("network-key: %s\nboard: mock\nhttp: \"off\"\npeers:\n%s\n", key, strings.Join(peers, "\n")))
	var cs []*console
	for i, p := range ports {
		c := newConsole(t, fmt.Sprintf("desk-%d", i+1), "--config", cfg, "--listen", fmt.Sprintf("127.0.0.1:%d", p))
		c.start()
		cs = append(cs, c)
	}
	waitFor(t, "every console to be connected to the other two", 20*time.Second, func() bool {
		for _, c := range cs {
			n := 0
			for _, p := range c.status().Peers {
				if p.Connected {
					n++
				}
			}
			if n != 2 {
				return false
			}
		}
		return true
	})
	launchAll(t, cs, "demo")
	cs[2].must("set", "cue/1", "from desk-3")
	waitConverged(t, cs)
	for _, c := range cs {
		st := c.status()
		if len(st.Faults) > 0 || st.LEDs["fault"] != "off" {
			t.Errorf("%s: FAULT %s, faults %+v", c.id, st.LEDs["fault"], st.Faults)
		}
		for _, p := range st.Peers {
			if p.Console == c.id {
				t.Errorf("%s lists itself among its peers", c.id)
			}
		}
		if log := c.log.String(); strings.Contains(log, "duplicate") || strings.Contains(log, "level=ERROR") {
			t.Errorf("%s logged a duplicate or an error:\n%s", c.id, log)
		}
	}
}
