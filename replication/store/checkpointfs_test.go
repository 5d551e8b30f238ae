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
	undo := pebbleFS.checkpointing(ck+"/", true)
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

// TestCheckpointFSUnsynced: during a CheckpointToSend the files created in
// its directory, the directory and its parent are not fsynced; a durable
// checkpoint's files, and anything elsewhere, are.
func TestCheckpointFSUnsynced(t *testing.T) {
	root := t.TempDir()
	snaps := filepath.Join(root, "snapshots")
	send, keep := filepath.Join(snaps, "send"), filepath.Join(root, "keep")
	for _, d := range []string{send, keep} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	undoSend := pebbleFS.checkpointing(send, false)
	undoKeep := pebbleFS.checkpointing(keep, true)
	unsynced := func(f vfs.File, err error) bool {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		_, ok := f.(unsyncedFile)
		return ok
	}
	if !unsynced(pebbleFS.Create(filepath.Join(send, "MANIFEST-000001"), vfs.WriteCategoryUnspecified)) {
		t.Error("a file of the checkpoint to send is synced")
	}
	if !unsynced(pebbleFS.OpenDir(send)) || !unsynced(pebbleFS.OpenDir(snaps)) {
		t.Error("the directory of the checkpoint to send, or its parent, is synced")
	}
	if unsynced(pebbleFS.Create(filepath.Join(keep, "MANIFEST-000001"), vfs.WriteCategoryUnspecified)) || unsynced(pebbleFS.OpenDir(keep)) || unsynced(pebbleFS.OpenDir(root)) {
		t.Error("a durable checkpoint is not synced")
	}
	undoSend()
	undoKeep()
	if unsynced(pebbleFS.Create(filepath.Join(send, "OPTIONS-000002"), vfs.WriteCategoryUnspecified)) || unsynced(pebbleFS.OpenDir(snaps)) {
		t.Error("syncs stay off after the checkpoint")
	}
}
