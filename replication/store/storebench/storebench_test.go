package storebench

import (
	"os"
	"path/filepath"
	"testing"
	"time"
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
