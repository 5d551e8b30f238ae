package replication

import (
	"path/filepath"
	"testing"
	"time"
)

func TestListenAddr(t *testing.T) {
	for _, c := range []struct {
		dialed          bool
		addr, announced string
		want            string
	}{
		{true, "10.0.0.2:7400", "[::]:7400", "10.0.0.2:7400"},
		{false, "10.0.0.3:51234", "10.0.0.3:7400", "10.0.0.3:7400"},
		{false, "10.0.0.3:51234", "[::]:7400", "10.0.0.3:7400"},
		{false, "10.0.0.3:51234", "0.0.0.0:7401", "10.0.0.3:7401"},
		{false, "10.0.0.3:51234", ":7400", "10.0.0.3:7400"},
		{false, "[fe80::1]:51234", "[::]:7400", "[fe80::1]:7400"},
		{false, "10.0.0.3:51234", "", ""},
		{false, "10.0.0.3:51234", "nonsense", ""},
	} {
		if got := listenAddr(c.dialed, c.addr, c.announced); got != c.want {
			t.Errorf("listenAddr(%v, %q, %q) = %q, want %q", c.dialed, c.addr, c.announced, got, c.want)
		}
	}
}

// TestPeerAtInbound: a console that another dialed counts that console as
// connected at its listen address, so its own dial loop leaves the
// connection alone. A second dial would open a connection that replaces
// the one in use (the smaller ID's is kept), ending the follow on it, and
// the backup would take over as active for a moment.
func TestPeerAtInbound(t *testing.T) {
	s := newSimNet(t, 19, 0)
	dir := t.TempDir()
	a := &simConsole{id: "desk-1", dir: filepath.Join(dir, "1"), addr: freePort(t), gate: newGate()}
	b := &simConsole{id: "desk-2", dir: filepath.Join(dir, "2"), addr: freePort(t), gate: newGate()}
	b.peers = []string{a.addr}
	s.cs = []*simConsole{a, b}
	s.start(a)
	s.start(b)
	deadline := time.Now().Add(10 * time.Second)
	for len(a.e.connected()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not connect to %s", b.id, a.id)
		}
		time.Sleep(time.Millisecond)
	}
	p := a.e.peerAt(b.addr)
	if p == nil || p.id != b.id || p.dialed {
		t.Fatalf("%s's peer at %s: %+v, want %s's connection to it", a.id, b.addr, p, b.id)
	}
}
