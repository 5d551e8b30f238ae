package store

import (
	"errors"
	"os"
	"slices"
	"testing"
)

// TestPlaceholder: a placeholder is an empty show that is never on disk and
// takes no writes; the copy a join brings is installed beside it once it is
// closed, and Materialize turns it into an empty show on disk.
func TestPlaceholder(t *testing.T) {
	_, active := newShow(t, Options{})
	mustAppend(t, active, set("cue/1", "a"), set("cue/2", "b"))
	want, _ := active.Digest()

	s := openStore(t, t.TempDir(), Options{})
	ph, err := s.OpenPlaceholder("demo")
	if err != nil {
		t.Fatal(err)
	}
	if !ph.Placeholder() || ph.Lineage().Seq != 0 || ph.Lineage().ShowID == "" {
		t.Fatalf("placeholder: %v, lineage %+v", ph.Placeholder(), ph.Lineage())
	}
	if n, err := ph.Len(); err != nil || n != 0 {
		t.Fatalf("placeholder holds %d objects (%v)", n, err)
	}
	if _, err := ph.Append([]Op{set("cue/1", "x")}); !errors.Is(err, ErrPlaceholder) {
		t.Fatalf("append to a placeholder: %v", err)
	}
	if err := ph.Apply([]Edit{{Seq: 1, Epoch: "e", Op: set("cue/1", "x")}}); !errors.Is(err, ErrPlaceholder) {
		t.Fatalf("apply to a placeholder: %v", err)
	}
	if _, err := ph.StartEpoch("e"); !errors.Is(err, ErrPlaceholder) {
		t.Fatalf("epoch on a placeholder: %v", err)
	}
	if _, err := s.OpenShow("demo", true); !errors.Is(err, ErrNoShow) {
		t.Fatalf("OpenShow while a placeholder is open: %v", err)
	}
	if _, err := os.Stat(s.showDir("demo")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a placeholder left a show on disk: %v", err)
	}
	if names, _ := s.Shows(); slices.Contains(names, "demo") {
		t.Fatalf("a placeholder is listed: %v", names)
	}

	// The join's copy goes in once the placeholder is closed.
	in, _ := copyShow(t, active, s)
	if _, err := s.Install("demo", in, InstallOptions{}); err == nil {
		t.Fatal("install while the placeholder is open")
	}
	in, _ = copyShow(t, active, s)
	ph.Close()
	if _, err := s.Install("demo", in, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.OpenPlaceholder("demo") // a copy is here now: the show itself
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); got.Placeholder() || d != want {
		t.Fatalf("after install: placeholder %v, digest equal %v", got.Placeholder(), d == want)
	}
	got.Close()

	// Materialize: an empty show on disk that takes edits.
	ph, err = s.OpenPlaceholder("other")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := s.Materialize(ph)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if sh.Placeholder() {
		t.Fatal("materialized show is still a placeholder")
	}
	if _, err := sh.StartEpoch("e"); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, sh, set("cue/1", "x"))
	if _, err := os.Stat(s.showDir("other")); err != nil {
		t.Fatalf("materialized show not on disk: %v", err)
	}
}
