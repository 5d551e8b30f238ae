package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDiskFullRefusesWrites(t *testing.T) {
	_, sh := newShow(t, Options{MinFreeBytes: 1 << 62})
	digest, _ := sh.Digest()
	_, err := sh.Append([]Op{set("cue/1", "x")})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Append on a 'full' disk = %v, want ErrDiskFull", err)
	}
	// "store: show demo: disk full: 70.3 GiB free, need 4 EiB"
	msg := err.Error()
	if !strings.HasPrefix(msg, "store: show demo: disk full: ") || !strings.Contains(msg, " free, need 4 EiB") {
		t.Fatalf("error %q should name the free space and the need", msg)
	}
	if err := sh.Apply([]Edit{{Seq: 1, Epoch: "e1", Op: set("cue/1", "x")}}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Apply on a 'full' disk = %v", err)
	}
	if d, _ := sh.Digest(); d != digest || sh.Lineage().Seq != 0 {
		t.Fatal("a refused write changed the show")
	}
	wantMissing(t, sh, "cue/1")
	if log := logAll(t, sh, 0); len(log) != 0 {
		t.Fatalf("log = %+v", log)
	}
	// The lineage can still be written: the reserve exists for such writes.
	if _, err := sh.StartEpoch("e2"); err != nil {
		t.Fatal(err)
	}
}

// statfs is paid only every 100ms or 1 MiB, and always before refusing.
func TestDiskGuardCaches(t *testing.T) {
	g := newDiskGuard("/", 100)
	calls := 0
	free := uint64(10 << 20)
	g.statfs = func(string) (uint64, error) { calls++; return free, nil }

	for range 100 {
		if err := g.reserve(1000); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Fatalf("statfs called %d times for 100 small writes, want 1", calls)
	}
	g.reserve(1 << 20) // past 1 MiB since the last look
	g.reserve(10)
	if calls != 2 {
		t.Fatalf("statfs called %d times after 1 MiB written, want 2", calls)
	}
	g.checked = g.checked.Add(-time.Second)
	g.reserve(10)
	if calls != 3 {
		t.Fatalf("statfs called %d times after 100ms, want 3", calls)
	}

	// The estimate says no; statfs is asked before refusing, and the disk
	// freed up meanwhile.
	g.written = free
	free = 20 << 20
	if err := g.reserve(10); err != nil || calls != 4 {
		t.Fatalf("reserve = %v after %d statfs, want ok after a fresh look", err, calls)
	}
	free = 150
	g.written = diskRecheckBytes
	err := g.reserve(60)
	if !errors.Is(err, ErrDiskFull) || err.Error() != "disk full: 150 B free, need 160 B" {
		t.Fatalf("reserve on a full disk = %v", err)
	}
}
