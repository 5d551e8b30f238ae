package store

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// changes lists ChangesSince(after) as "key=value@seq" or "key-@seq".
func changes(t *testing.T, sh *Show, after uint64) []string {
	t.Helper()
	var out []string
	err := sh.ChangesSince(after, func(v Version) error {
		if v.Deleted {
			out = append(out, v.Key+"-@"+itoa(v.Seq))
		} else {
			out = append(out, v.Key+"="+string(v.Value)+"@"+itoa(v.Seq))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func itoa(n uint64) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

// TestVersions: every object carries the seq of its last write, deletes
// stay as tombstones that reads do not see, and ChangesSince finds what
// changed after a seq from the objects alone, also once the edit log no
// longer reaches back.
func TestVersions(t *testing.T) {
	_, sh := newShow(t, Options{LogRetain: 2})
	mustAppend(t, sh, set("k/a", "1"), set("k/b", "1"), set("k/c", "1")) // 1..3
	mustAppend(t, sh, set("k/a", "2"))                                   // 4
	mustAppend(t, sh, del("k/b"))                                        // 5
	mustAppend(t, sh, set("k/d", "1"))                                   // 6

	if _, found, _ := sh.Get("k/b"); found {
		t.Fatal("a deleted object is found")
	}
	if n, _ := sh.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3 (the tombstone is not an object)", n)
	}
	objs, _ := dumpAll(t, sh)
	if len(objs) != 3 || objs[0].Key != "k/a" || string(objs[0].Value) != "2" {
		t.Fatalf("dump: %v", objs)
	}
	v, found, err := sh.Version("k/b")
	if err != nil || !found || !v.Deleted || v.Seq != 5 {
		t.Fatalf("Version(b) = %+v %v %v, want a tombstone at 5", v, found, err)
	}
	if got, want := changes(t, sh, 3), []string{"k/a=2@04", "k/b-@05", "k/d=1@06"}; !slices.Equal(got, want) {
		t.Fatalf("ChangesSince(3) = %v, want %v", got, want)
	}
	if got := changes(t, sh, 0); len(got) != 4 {
		t.Fatalf("ChangesSince(0) = %v, want every record", got)
	}
	if err := sh.Compact(); err != nil { // trims the log to LogRetain
		t.Fatal(err)
	}
	if got := changes(t, sh, 3); len(got) != 3 {
		t.Fatalf("ChangesSince(3) after the log was trimmed = %v", got)
	}
	if err := sh.EditsSince(3, func(Edit) error { return nil }); err == nil {
		t.Fatal("the log should no longer reach back to 3 (LogRetain 2)")
	}
}

// TestMergeIn: another copy's changes since the common point are taken,
// except where this copy changed the object too (a conflict, unless both
// left it the same); a change that leaves an object as it is is skipped.
func TestMergeIn(t *testing.T) {
	_, sh := newShow(t, Options{})
	mustAppend(t, sh, set("k/same", "x"), set("k/ours", "0"), set("k/theirs", "0"), set("k/both", "0"), set("k/gone", "0")) // 1..5: common
	mustAppend(t, sh, set("k/ours", "1"), set("k/both", "mine"), set("k/same", "y"))                                        // 6..8
	theirs := []Version{
		{Key: "k/theirs", Seq: 6, Value: []byte("1")},
		{Key: "k/both", Seq: 7, Value: []byte("k/theirs")},
		{Key: "k/same", Seq: 8, Value: []byte("y")}, // both set y: no conflict
		{Key: "k/gone", Seq: 9, Deleted: true},
		{Key: "k/new", Seq: 10, Value: []byte("n")},
		{Key: "k/never", Seq: 11, Deleted: true}, // deleting what is not here
	}
	res, err := sh.MergeIn("e1", theirs, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Conflicts, []string{"k/both"}) {
		t.Fatalf("conflicts %v, want [both]", res.Conflicts)
	}
	var took []string
	for _, e := range res.Edits {
		took = append(took, e.Key)
	}
	if want := []string{"k/theirs", "k/gone", "k/new"}; !slices.Equal(took, want) {
		t.Fatalf("took %v, want %v", took, want)
	}
	if res.Edits[0].Seq != 9 || sh.Lineage().Seq != 11 {
		t.Fatalf("merged edits at %d.., show at %d; want 9.., 11", res.Edits[0].Seq, sh.Lineage().Seq)
	}
	want := map[string]string{"k/same": "y", "k/ours": "1", "k/theirs": "1", "k/both": "mine", "k/new": "n"}
	objs, _ := dumpAll(t, sh)
	if len(objs) != len(want) {
		t.Fatalf("objects %v, want %v", objs, want)
	}
	for _, o := range objs {
		if want[o.Key] != string(o.Value) {
			t.Fatalf("%s=%s, want %s", o.Key, o.Value, want[o.Key])
		}
	}
	if res, err := sh.MergeIn("e1", theirs, 5); err != nil || len(res.Edits) != 0 {
		t.Fatalf("merging the same changes again took %v (%v), want nothing", res.Edits, err)
	}
}

// TestUnmatched: what an archived copy changed after a seq and the live copy
// does not hold as the archive does.
func TestUnmatched(t *testing.T) {
	s, sh := newShow(t, Options{})
	mustAppend(t, sh, set("k/a", "1"), set("k/b", "1")) // 1..2
	mustAppend(t, sh, set("k/c", "1"), set("k/d", "1")) // 3..4
	mustAppend(t, sh, del("k/a"))                       // 5
	sh.Close()
	arch, err := s.archive("demo", s.showDir("demo"), "test", "here")
	if err != nil {
		t.Fatal(err)
	}
	sh, err = s.OpenShow("demo", true)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if _, err := sh.StartEpoch("e2"); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, sh, set("k/a", "1"), set("k/c", "1"), set("k/d", "other"))
	n, keys, err := sh.Unmatched(arch.Name, 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	// c is held; d differs; a was deleted in the archive but is set here.
	if n != 2 || !slices.Equal(keys, []string{"k/a", "k/d"}) {
		t.Fatalf("Unmatched = %d %v, want 2 [a d]", n, keys)
	}
	if n, _, _ := sh.Unmatched(arch.Name, 5, 10); n != 0 {
		t.Fatalf("nothing changed after 5, yet %d unmatched", n)
	}
}

// TestUpgradeFormat1: a copy written before object versions (bare values,
// no layout key) is converted when opened, its objects stamped with its seq.
func TestUpgradeFormat1(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	sh, err := s.OpenShow("demo", true)
	if err != nil {
		t.Fatal(err)
	}
	sh.StartEpoch("e1")
	mustAppend(t, sh, set("k/a", "1"), set("k/b", "2"))
	digest, _ := sh.Digest()
	sh.Close()
	s.Close()

	// Make it a format-1 copy by hand.
	db, err := pebble.Open(filepath.Join(dir, "shows", "demo"), &pebble.Options{Logger: pebbleLogger{log: quiet, show: "demo"}})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.Set([]byte("o/k/a"), []byte("1"), nil)
	b.Set([]byte("o/k/b"), []byte("2"), nil)
	b.Delete(keyFormat, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = openStore(t, dir, Options{})
	sh, err = s.OpenShow("demo", false)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if d, _ := sh.Digest(); d != digest {
		t.Fatal("the converted copy's content differs")
	}
	if v, _, _ := sh.Version("k/a"); v.Seq != 2 || string(v.Value) != "1" {
		t.Fatalf("converted a: %+v, want seq 2 (the copy's seq)", v)
	}
}
