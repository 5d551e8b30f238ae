package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyShow checkpoints src's show into an incoming dir of dst, as a full
// sync does over the network.
func copyShow(t *testing.T, src *Show, dst *Store) (string, Lineage) {
	t.Helper()
	in, err := dst.IncomingDir(src.Name())
	if err != nil {
		t.Fatal(err)
	}
	lin, err := src.Checkpoint(in)
	if err != nil {
		t.Fatal(err)
	}
	return in, lin
}

func TestInstallReplacesAndArchives(t *testing.T) {
	_, active := newShow(t, Options{})
	mustAppend(t, active, set("cue/1", "a"), set("cue/2", "b"))
	wantDigest, _ := active.Digest()

	backup := openStore(t, t.TempDir(), Options{})
	old, err := backup.OpenShow("demo", true)
	if err != nil {
		t.Fatal(err)
	}
	old.StartEpoch("other")
	mustAppend(t, old, set("cue/9", "only here"))
	old.Close()

	in, lin := copyShow(t, active, backup)
	if lin.Seq != 2 || lin.ShowID != active.Lineage().ShowID {
		t.Fatalf("checkpoint lineage %+v", lin)
	}
	if _, err := backup.Install("demo", in, InstallOptions{Archive: true, Why: "replaced by the active's copy", Console: "desk-2"}); err != nil {
		t.Fatal(err)
	}
	sh, err := backup.OpenShow("demo", false)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := sh.Digest(); d != wantDigest || sh.Lineage().Seq != 2 {
		t.Fatalf("installed copy differs: seq %d", sh.Lineage().Seq)
	}
	// The edit log came along, so later catch-up works from this copy too.
	var n int
	if err := sh.EditsSince(0, func(Edit) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("edit log after install: %d edits, %v", n, err)
	}
	arch, err := backup.Archives()
	if err != nil || len(arch) != 1 {
		t.Fatalf("archives %v %v", arch, err)
	}
	a := arch[0]
	if a.Show != "demo" || a.Seq != 1 || a.Console != "desk-2" || !strings.Contains(a.Why, "replaced") {
		t.Fatalf("archive %+v", a)
	}
	// The archive is a whole show: its object is there.
	db := filepath.Join(backup.Dir(), "archives", a.Name)
	if _, err := os.Stat(filepath.Join(db, archiveMeta)); err != nil {
		t.Fatal(err)
	}
}

func TestInstallRefusesBadInput(t *testing.T) {
	_, active := newShow(t, Options{})
	backup := openStore(t, t.TempDir(), Options{})
	live, _ := backup.OpenShow("demo", true)
	in, _ := copyShow(t, active, backup)
	if _, err := backup.Install("demo", in, InstallOptions{}); err == nil || !strings.Contains(err.Error(), "open") {
		t.Fatalf("install over an open show: %v", err)
	}
	live.Close()
	if _, err := backup.Install("demo", t.TempDir(), InstallOptions{}); err == nil {
		t.Fatal("install from a foreign directory accepted")
	}
	// A half-received copy (not a Pebble DB) is refused and the old copy stays.
	in, _ = backup.IncomingDir("demo")
	os.MkdirAll(in, 0o750)
	os.WriteFile(filepath.Join(in, "MANIFEST-000001"), []byte("torn"), 0o640)
	if _, err := backup.Install("demo", in, InstallOptions{}); err == nil {
		t.Fatal("torn copy installed")
	}
	if _, err := backup.OpenShow("demo", false); err != nil {
		t.Fatalf("old copy lost: %v", err)
	}
}

// A crash between moving the old copy away and moving the new one in leaves
// only the ready copy; Open puts it in place. A crash before leaves both, and
// the old one stays live.
func TestOpenRecoversInterruptedInstall(t *testing.T) {
	_, active := newShow(t, Options{})
	mustAppend(t, active, set("cue/1", "new"))
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	in, _ := copyShow(t, active, s)
	ready := strings.Replace(in, incomingPrefix, readyPrefix, 1)
	if err := os.Rename(in, ready); err != nil {
		t.Fatal(err)
	}
	leftover, _ := s.IncomingDir("demo")
	os.MkdirAll(leftover, 0o750)
	s.Close()

	s = openStore(t, dir, Options{})
	sh, err := s.OpenShow("demo", false)
	if err != nil {
		t.Fatalf("ready copy not put in place: %v", err)
	}
	if v, ok, _ := sh.Get("cue/1"); !ok || string(v) != "new" {
		t.Fatalf("cue/1 = %q %v", v, ok)
	}
	sh.Close()
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("half-received copy left behind: %v", err)
	}

	// Both present: the live copy wins and the ready one goes.
	in, _ = copyShow(t, active, s)
	ready = strings.Replace(in, incomingPrefix, readyPrefix, 1)
	os.Rename(in, ready)
	s.Close()
	s = openStore(t, dir, Options{})
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Fatalf("ready copy left beside a live one: %v", err)
	}
	if _, err := s.OpenShow("demo", false); err != nil {
		t.Fatal(err)
	}
}

// TestInstallAfterClose: a join finishing after the store closed (a console
// shutting down under a transfer) is refused and touches nothing.
func TestInstallAfterClose(t *testing.T) {
	_, active := newShow(t, Options{})
	mustAppend(t, active, set("cue/1", "a"))
	dir := t.TempDir()
	backup := openStore(t, dir, Options{})
	in, _ := copyShow(t, active, backup)
	backup.Close()
	if _, err := backup.Install("demo", in, InstallOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("install into a closed store: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "shows", "demo")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a closed store got a show: %v", err)
	}
}

// TestLiveTables: the sstables listed are the show's files, and a checkpoint
// taken afterwards (nothing compacted meanwhile) holds each under its name
// with the same size.
func TestLiveTables(t *testing.T) {
	_, sh := newShow(t, Options{})
	for i := 0; i < 3; i++ {
		mustAppend(t, sh, set(fmt.Sprintf("cue/%d", i), strings.Repeat("x", 1000)))
		if err := sh.Compact(); err != nil { // flushes: one more sstable
			t.Fatal(err)
		}
	}
	live, err := sh.LiveTables()
	if err != nil {
		t.Fatal(err)
	}
	if len(live) == 0 {
		t.Fatal("no sstables listed for a flushed show")
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if _, err := sh.CheckpointToSend(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range live {
		fi, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != f.Size || filepath.Base(f.Path) != f.Name {
			t.Fatalf("%+v: size on disk %d", f, fi.Size())
		}
		if ci, err := os.Stat(filepath.Join(dir, f.Name)); err != nil || ci.Size() != f.Size {
			t.Fatalf("checkpoint lacks %s: %v", f.Name, err)
		}
	}
}
