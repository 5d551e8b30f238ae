package replication

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A second console with the same ID does not launch: its launch fails with
// an error naming both addresses, rather than launching the show as a
// second active with a new ShowID.
func TestDuplicateConsoleIDStopsTheLaunch(t *testing.T) {
	key := testKey(t)
	a := rigEngine(t, key, "desk-1", quietLog())
	b := rigEngine(t, key, "desk-1", quietLog(), func(o *Options) { o.Peers = []string{a.ListenAddr()} })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.Launch(ctx, "demo", false)
	if !errors.Is(err, ErrDuplicateID) || errors.Is(err, ErrRefused) {
		t.Fatalf("launch: %v, want ErrDuplicateID (an error, not a guard's refusal)", err)
	}
	for _, addr := range []string{a.ListenAddr(), b.ListenAddr()} {
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("the error does not name %s: %v", addr, err)
		}
	}
	if st := b.Status(); st.Role != RoleOff || len(st.ProtocolFaults) == 0 {
		t.Fatalf("the second desk-1 is %s with faults %q", st.Role, st.ProtocolFaults)
	}
}
