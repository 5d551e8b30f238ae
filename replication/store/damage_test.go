package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damagedShow makes show demo with objects that do not compress, compacted
// into sstables, closes the store and flips bytes in the middle of the last
// sstable, where the objects are. It returns the data dir and the file.
func damagedShow(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := s.OpenShow("demo", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh.StartEpoch("e1"); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		v := fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprint(i))))
		mustAppend(t, sh, set(fmt.Sprintf("cue/%d", i), strings.Repeat(v, 4)))
	}
	if err := sh.Compact(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ssts, _ := filepath.Glob(filepath.Join(dir, "shows", "demo", "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no sstable")
	}
	file := ssts[len(ssts)-1]
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) * 2 / 3; i < len(b)*2/3+64; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(file, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

// Issue 13, row 5: a damaged copy is an error, never a panic. Reading the
// damaged objects (a dump) and the last server's log-off compaction used to
// panic through Pebble's Fatalf; the launch check finds the file before
// either runs.
func TestDamagedCopyIsAnErrorNotAPanic(t *testing.T) {
	dir, file := damagedShow(t)
	s := openStore(t, dir, Options{OnFatal: func(show string, err error) { t.Errorf("fatal on %s: %v", show, err) }})
	err := s.CheckShow("demo")
	var d *DamageError
	if !errors.As(err, &d) || !errors.Is(err, ErrDamaged) || d.File != file {
		t.Fatalf("check: %v, want damage naming %s", err, file)
	}
	if msg := err.Error(); !strings.Contains(msg, "demo") || !strings.Contains(msg, file) || strings.Contains(msg, "\n") {
		t.Fatalf("the message does not name the show and file on one line: %q", msg)
	}
	if got := s.Damaged(); len(got) != 1 || got[0].Show != "demo" {
		t.Fatalf("damaged copies: %v", got)
	}

	// Pebble opens it (the damage is inside a data block): reading it and
	// compacting it fail, and say so.
	s2 := openStore(t, dir, Options{OnFatal: func(show string, err error) { t.Errorf("fatal on %s: %v", show, err) }})
	sh, err := s2.OpenShow("demo", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sh.Dump(nil); err == nil {
		t.Fatal("a dump of the damaged copy succeeded")
	}
	if got := s2.Damaged(); len(got) != 1 || got[0].File != file {
		t.Fatalf("damage met reading was not recorded: %v", got)
	}
	sh.Compact() // may fail or not, as long as nothing panics
	if err := sh.Close(); err != nil {
		t.Logf("close: %v", err)
	}

	// Kept as an archive, the copy is gone from the shows, and so is the
	// damage.
	a, err := s2.ArchiveDamaged("demo", "desk-1", d)
	if err != nil {
		t.Fatal(err)
	}
	if s2.HasShow("demo") || len(s2.Damaged()) != 0 || !strings.Contains(a.Why, "damaged") {
		t.Fatalf("after archiving: show there %v, damaged %v, why %q", s2.HasShow("demo"), s2.Damaged(), a.Why)
	}
}

// A copy cut short, or with a file missing, is damaged too.
func TestCopyWithFileCutOrMissingIsDamaged(t *testing.T) {
	for _, how := range []string{"cut", "missing"} {
		t.Run(how, func(t *testing.T) {
			dir, file := damagedShow(t)
			if how == "cut" {
				os.Truncate(file, 1000)
			} else {
				os.Remove(file)
			}
			s := openStore(t, dir, Options{})
			if err := s.CheckShow("demo"); !errors.Is(err, ErrDamaged) {
				t.Fatalf("check: %v, want damage", err)
			}
		})
	}
}

// A sound copy passes, and each sstable is read once per run.
func TestCheckShowPassesASoundCopy(t *testing.T) {
	s, sh := newShow(t, Options{})
	for i := range 100 {
		mustAppend(t, sh, set(fmt.Sprintf("cue/%d", i), "x"))
	}
	if err := sh.Compact(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.CheckShow("demo"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CheckShow("nothing"); err != nil {
		t.Fatalf("no copy: %v", err)
	}
}

// A copy received whole is not read again by the launch check once it is
// installed: its tables keep their identity through Install, and the check
// forgets the tables of the copy it replaced.
func TestReceivedCopyPassesWithoutRereading(t *testing.T) {
	_, active := newShow(t, Options{})
	for i := 0; i < 2000; i++ {
		mustAppend(t, active, set(fmt.Sprintf("cue/%d", i), strings.Repeat("x", 100)))
	}
	backup := openStore(t, t.TempDir(), Options{})
	in, _ := copyShow(t, active, backup)
	if err := backup.CopyReceived("demo", in); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Install("demo", in, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	sh, err := backup.OpenShow("demo", false)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	tables, err := sh.LiveTables()
	if err != nil || len(tables) == 0 {
		t.Fatalf("live tables %v, %v", tables, err)
	}
	for _, tb := range tables {
		id, err := fileID(tb.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !backup.dmg.verified["demo"][id] {
			t.Fatalf("%s of the installed copy is not known as passed: the launch check would read it again", tb.Path)
		}
	}
	if err := sh.Check(); err != nil {
		t.Fatal(err)
	}
	if n := len(backup.dmg.verified["demo"]); n != len(tables) {
		t.Fatalf("the check keeps %d tables as passed, want the %d live ones", n, len(tables))
	}
}
