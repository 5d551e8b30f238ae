package store

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// logFirst returns the first seq the edit log holds.
func logFirst(t *testing.T, sh *Show) uint64 {
	t.Helper()
	first, _, err := logBounds(sh.db)
	if err != nil {
		t.Fatal(err)
	}
	return first
}

// TestLogTrimmedAsEditsArrive: the edit log keeps about LogRetain edits as
// edits are appended or applied, without waiting for Compact, and catch-up
// from within the retained span still works.
func TestLogTrimmedAsEditsArrive(t *testing.T) {
	const retain = 100
	dir := t.TempDir()
	s := openStore(t, dir, Options{LogRetain: retain})
	sh, _ := s.OpenShow("demo", true)
	sh.StartEpoch("e1")
	check := func(sh *Show) {
		t.Helper()
		seq := sh.Lineage().Seq
		first := logFirst(t, sh)
		if kept := seq - first + 1; seq > retain+logTrimEvery && (kept < retain || kept > retain+logTrimEvery) {
			t.Fatalf("at seq %d the log holds %d edits (from %d), want %d..%d", seq, kept, first, retain, retain+logTrimEvery)
		}
		if got := logAll(t, sh, seq-retain); len(got) != retain || got[0].Seq != seq-retain+1 {
			t.Fatalf("EditsSince(%d) at seq %d: %d edits", seq-retain, seq, len(got))
		}
		err := sh.EditsSince(0, func(Edit) error { return nil })
		if seq > retain+logTrimEvery && !errors.Is(err, ErrLogTruncated) {
			t.Fatalf("EditsSince(0) at seq %d = %v, want ErrLogTruncated", seq, err)
		}
	}
	// One at a time and in batches that straddle the trim points.
	for i := 1; i <= logTrimEvery+retain+10; i++ {
		mustAppend(t, sh, set(fmt.Sprintf("cue/%d", i%50), fmt.Sprint(i)))
	}
	check(sh)
	for b := 0; b < 20; b++ {
		ops := make([]Op, 333)
		for i := range ops {
			ops[i] = set(fmt.Sprintf("cue/%d", i%50), "batch")
		}
		mustAppend(t, sh, ops...)
	}
	check(sh)
	digest, _ := sh.Digest()
	s.Close()

	// After a reopen trimming goes on (from the bottom of the log again).
	s = openStore(t, dir, Options{LogRetain: retain})
	sh, err := s.OpenShow("demo", false)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := sh.Digest(); d != digest {
		t.Fatal("content changed across the reopen")
	}
	for i := 0; i < 2*logTrimEvery; i += 64 {
		ops := make([]Op, 64)
		for j := range ops {
			ops[j] = set("cue/x", fmt.Sprint(i+j))
		}
		mustAppend(t, sh, ops...)
	}
	check(sh)

	// A backup applying the stream trims its log too.
	_, backup := newShow(t, Options{LogRetain: retain})
	next := backup.Lineage().Seq + 1
	for b := 0; b < 30; b++ {
		edits := make([]Edit, 200)
		for i := range edits {
			edits[i] = Edit{Seq: next, Epoch: "e1", Op: set(fmt.Sprintf("cue/%d", i), "v")}
			next++
		}
		if err := backup.Apply(edits); err != nil {
			t.Fatal(err)
		}
	}
	check(backup)
}

// TestLogNotTrimmedBelowRetain: a show with fewer edits than LogRetain keeps
// its whole log.
func TestLogNotTrimmedBelowRetain(t *testing.T) {
	_, sh := newShow(t, Options{LogRetain: 5000})
	for i := 0; i < 3*logTrimEvery; i += 64 {
		ops := make([]Op, 64)
		for j := range ops {
			ops[j] = set("cue/1", fmt.Sprint(i+j))
		}
		mustAppend(t, sh, ops...)
	}
	if got := logAll(t, sh, 0); len(got) != 3*logTrimEvery {
		t.Fatalf("log holds %d edits, want all %d", len(got), 3*logTrimEvery)
	}
}

// TestCheckpointHoldsNoWAL: the checkpoint has every edit in its sstables,
// including ones still in the memtable when it was taken, and no WAL.
func TestCheckpointHoldsNoWAL(t *testing.T) {
	_, active := newShow(t, Options{})
	for i := 0; i < 500; i++ {
		mustAppend(t, active, set(fmt.Sprintf("cue/%d", i), strings.Repeat("x", 100)))
	}
	want, _ := active.Digest()
	backup := openStore(t, t.TempDir(), Options{})
	in, lin := copyShow(t, active, backup)
	if lin.Seq != 500 {
		t.Fatalf("checkpoint lineage seq %d", lin.Seq)
	}
	entries, _ := osReadDirNames(in)
	for _, n := range entries {
		if strings.HasSuffix(n, ".log") {
			t.Fatalf("checkpoint holds WAL %s", n)
		}
	}
	if _, err := backup.Install("demo", in, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	sh, err := backup.OpenShow("demo", false)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := sh.Digest(); d != want || sh.Lineage().Seq != 500 {
		t.Fatalf("installed copy differs (seq %d)", sh.Lineage().Seq)
	}
	if got := logAll(t, sh, 490); len(got) != 10 {
		t.Fatalf("log after install: %d edits", len(got))
	}
}

func osReadDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out, err
}
