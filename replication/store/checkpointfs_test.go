package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCheckpointFSDropsOnlyCheckpointWALs: while a checkpoint is in
// progress in a directory, WAL files created there come out empty; other
// files there, and WALs anywhere else, are written as usual.
func TestCheckpointFSDropsOnlyCheckpointWALs(t *testing.T) {
	root := t.TempDir()
	ck, show := filepath.Join(root, "ck"), filepath.Join(root, "show")
	for _, d := range []string{ck, show} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string) {
		t.Helper()
		f, err := pebbleFS.Create(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	size := func(name string) int64 {
		t.Helper()
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	undo := pebbleFS.dropWALsIn(ck + "/")
	write(filepath.Join(ck, "000007.log"))
	write(filepath.Join(ck, "MANIFEST-000001"))
	write(filepath.Join(show, "000008.log"))
	undo()
	write(filepath.Join(ck, "000009.log"))
	for name, want := range map[string]int64{"ck/000007.log": 0, "ck/MANIFEST-000001": 10, "show/000008.log": 10, "ck/000009.log": 10} {
		if got := size(filepath.Join(root, name)); got != want {
			t.Errorf("%s: %d bytes, want %d", name, got, want)
		}
	}
}
