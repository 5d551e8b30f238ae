package store

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWALsNotRecycled: after several memtable flushes a show holds one WAL,
// not a stock of recycled ones (each the size of a memtable, which a
// checkpoint would copy whole).
func TestWALsNotRecycled(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MemTableBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sh, err := st.OpenShow("s", true)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if _, err := sh.StartEpoch("e1"); err != nil {
		t.Fatal(err)
	}
	val := []byte(strings.Repeat("v", 1000))
	for i := 0; i < 2000; i++ {
		if _, err := sh.Append([]Op{{Key: fmt.Sprintf("patch/%05d", i), Value: val}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sh.db.Flush(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "shows", "s"))
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") {
			logs = append(logs, e.Name())
		}
	}
	if len(logs) != 1 {
		t.Fatalf("WAL files %v, want just the current one", logs)
	}
}
