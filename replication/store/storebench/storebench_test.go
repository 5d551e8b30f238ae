package storebench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TestRates checks the helpers work; STOREBENCH_DURATION (like 3s) makes it
// a measurement: go test -v -run TestRates ./replication/store/storebench
func TestRates(t *testing.T) {
	d := 300 * time.Millisecond
	if s := os.Getenv("STOREBENCH_DURATION"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for _, writers := range []int{1, 64} {
		raw, err := RawSyncedWriteRate(filepath.Join(dir, "raw", string(rune('a'+writers%26))), writers, d)
		if err != nil || raw <= 0 {
			t.Fatalf("RawSyncedWriteRate(%d) = %v, %v", writers, raw, err)
		}
		show, err := ShowAppendRate(filepath.Join(dir, "show", string(rune('a'+writers%26))), writers, d)
		if err != nil || show <= 0 {
			t.Fatalf("ShowAppendRate(%d) = %v, %v", writers, show, err)
		}
		t.Logf("%d writers: raw Pebble %.0f batches/s, show Append %.0f edits/s", writers, raw, show)
	}
}

// TestRawSyncedCopiesLatency: one time per round, each at least the time a
// synced write takes (not zero), and every copy holds every round's key.
func TestRawSyncedCopiesLatency(t *testing.T) {
	dir := t.TempDir()
	lat, err := RawSyncedCopiesLatency(dir, 3, 20, time.Millisecond, []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 20 {
		t.Fatalf("%d times for 20 rounds", len(lat))
	}
	for i, d := range lat {
		if d <= 0 {
			t.Fatalf("round %d took %v", i, d)
		}
	}
	for i := 0; i < 3; i++ {
		db, err := pebble.Open(filepath.Join(dir, fmt.Sprint(i)), &pebble.Options{Logger: quietLogger{}})
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < 20; r++ {
			if _, closer, err := db.Get(fmt.Appendf(nil, "lat/%d", r)); err != nil {
				t.Fatalf("copy %d lacks round %d: %v", i, r, err)
			} else {
				closer.Close()
			}
		}
		db.Close()
	}
}
