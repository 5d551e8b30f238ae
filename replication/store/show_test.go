package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newShow opens a fresh store with show "demo" in epoch "e1".
func newShow(t testing.TB, opts Options) (*Store, *Show) {
	t.Helper()
	s := openStore(t, t.TempDir(), opts)
	sh, err := s.OpenShow("demo", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh.StartEpoch("e1"); err != nil {
		t.Fatal(err)
	}
	return s, sh
}

func set(k, v string) Op { return Op{Key: k, Value: []byte(v)} }
func del(k string) Op    { return Op{Key: k, Delete: true} }

func mustAppend(t testing.TB, sh *Show, ops ...Op) []Edit {
	t.Helper()
	edits, err := sh.Append(ops)
	if err != nil {
		t.Fatal(err)
	}
	return edits
}

func dumpAll(t testing.TB, sh *Show) ([]Object, uint64) {
	t.Helper()
	var objs []Object
	_, seq, err := sh.Dump(func(o Object) error { objs = append(objs, o); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return objs, seq
}

func logAll(t testing.TB, sh *Show, after uint64) []Edit {
	t.Helper()
	var edits []Edit
	if err := sh.EditsSince(after, func(e Edit) error { edits = append(edits, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return edits
}

func wantValue(t testing.TB, sh *Show, key, want string) {
	t.Helper()
	v, ok, err := sh.Get(key)
	if err != nil || !ok || string(v) != want {
		t.Fatalf("Get(%q) = %q, %v, %v; want %q", key, v, ok, err, want)
	}
}

func wantMissing(t testing.TB, sh *Show, key string) {
	t.Helper()
	v, ok, err := sh.Get(key)
	if err != nil || ok {
		t.Fatalf("Get(%q) = %q, %v, %v; want missing", key, v, ok, err)
	}
}

func TestAppendGetDeleteDump(t *testing.T) {
	_, sh := newShow(t, Options{})
	edits := mustAppend(t, sh, set("cue/2", "two"), set("cue/10", "ten"), set("Cue/1", "upper"), set("palette/été", "é"), set("cue/empty", ""))
	for i, e := range edits {
		if e.Seq != uint64(i+1) || e.Epoch != "e1" {
			t.Fatalf("edit %d = seq %d epoch %q, want seq %d epoch e1", i, e.Seq, e.Epoch, i+1)
		}
	}
	wantValue(t, sh, "cue/10", "ten")
	wantValue(t, sh, "cue/empty", "")
	wantMissing(t, sh, "cue/3")

	mustAppend(t, sh, del("cue/2"), set("cue/10", "TEN"), del("cue/never"))
	wantMissing(t, sh, "cue/2")
	wantValue(t, sh, "cue/10", "TEN")

	objs, seq := dumpAll(t, sh)
	if seq != 8 || sh.Lineage().Seq != 8 {
		t.Fatalf("dump seq %d, lineage seq %d, want 8", seq, sh.Lineage().Seq)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	want := []string{"Cue/1", "cue/10", "cue/empty", "palette/été"} // byte-wise order
	if !slices.Equal(keys, want) {
		t.Fatalf("dump keys %q, want %q", keys, want)
	}
	if n, err := sh.Len(); err != nil || n != 4 {
		t.Fatalf("Len = %d, %v, want 4", n, err)
	}

	// The log records every edit, deletes included.
	log := logAll(t, sh, 0)
	if len(log) != 8 || !log[5].Delete || log[5].Key != "cue/2" || log[5].Value != nil || string(log[6].Value) != "TEN" {
		t.Fatalf("log = %+v", log)
	}
}

func TestAppendBadOpWritesNothing(t *testing.T) {
	_, sh := newShow(t, Options{})
	mustAppend(t, sh, set("cue/1", "one"))
	for _, bad := range [][]Op{
		{set("cue/2", "two"), set("cue", "x")},
		{set("cue/2", "two"), {Key: "cue/big", Value: make([]byte, MaxValueLen+1)}},
		{set("cue/2", "two"), del("bad key/1")},
	} {
		if _, err := sh.Append(bad); err == nil {
			t.Fatalf("Append(%q...) succeeded", bad[1].Key)
		}
		if got := sh.Lineage().Seq; got != 1 {
			t.Fatalf("seq = %d after a refused Append, want 1", got)
		}
		wantMissing(t, sh, "cue/2")
	}
	if log := logAll(t, sh, 0); len(log) != 1 {
		t.Fatalf("log has %d edits, want 1", len(log))
	}
}

func TestAppendNeedsEpoch(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	sh, err := s.OpenShow("demo", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Append([]Op{set("cue/1", "x")}); err == nil || !strings.Contains(err.Error(), "epoch") {
		t.Fatalf("Append without an epoch: %v", err)
	}
	if sh.Lineage().Seq != 0 {
		t.Fatal("seq moved")
	}
}

func TestApplySeqContinuity(t *testing.T) {
	_, sh := newShow(t, Options{})
	mustAppend(t, sh, set("cue/1", "a"))

	gap := []Edit{{Seq: 3, Epoch: "e1", Op: set("cue/3", "c")}}
	err := sh.Apply(gap)
	if err == nil || !strings.Contains(err.Error(), "expected 2, got 3") {
		t.Fatalf("Apply with a gap: %v", err)
	}
	notConsecutive := []Edit{{Seq: 2, Epoch: "e1", Op: set("cue/2", "b")}, {Seq: 4, Epoch: "e1", Op: set("cue/4", "d")}}
	if err := sh.Apply(notConsecutive); err == nil || !strings.Contains(err.Error(), "expected 3, got 4") {
		t.Fatalf("Apply not consecutive: %v", err)
	}
	wantMissing(t, sh, "cue/2") // nothing of the refused batch
	if err := sh.Apply([]Edit{{Seq: 1, Epoch: "e1", Op: set("cue/1", "again")}}); err == nil {
		t.Fatal("Apply of an old seq succeeded")
	}
	if err := sh.Apply([]Edit{{Seq: 2, Epoch: "e2", Op: set("cue/2", "b")}}); err == nil || !strings.Contains(err.Error(), `epoch "e2"`) {
		t.Fatalf("Apply in an unknown epoch: %v", err)
	}
	if sh.Lineage().Seq != 1 {
		t.Fatalf("seq = %d, want 1", sh.Lineage().Seq)
	}

	good := []Edit{{Seq: 2, Epoch: "e1", Op: set("cue/2", "b")}, {Seq: 3, Epoch: "e1", Op: del("cue/1")}}
	if err := sh.Apply(good); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.StartEpoch("e2"); err != nil {
		t.Fatal(err)
	}
	if err := sh.Apply([]Edit{{Seq: 4, Epoch: "e2", Op: set("cue/4", "d")}}); err != nil {
		t.Fatal(err)
	}
	wantValue(t, sh, "cue/2", "b")
	wantMissing(t, sh, "cue/1")
	log := logAll(t, sh, 1)
	if len(log) != 3 || log[0].Seq != 2 || log[2].Epoch != "e2" || !log[1].Delete {
		t.Fatalf("log = %+v", log)
	}
}

func TestConcurrentAppends(t *testing.T) {
	// Keep the whole log: the test checks it against every acknowledged edit.
	_, sh := newShow(t, Options{LogRetain: 1 << 20})
	const writers, each = 64, 200
	var wg sync.WaitGroup
	acked := make([][]Edit, writers)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Some writers share keys, so the last writer must win.
				key := fmt.Sprintf("cue/%d.%d", w%16, i)
				edits, err := sh.Append([]Op{set(key, fmt.Sprintf("w%d-%d", w, i))})
				if err != nil {
					errs <- err
					return
				}
				acked[w] = append(acked[w], edits...)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	const n = writers * each
	bySeq := make([]Edit, n+1)
	for _, es := range acked {
		for _, e := range es {
			if e.Seq < 1 || e.Seq > n || bySeq[e.Seq].Seq != 0 {
				t.Fatalf("seq %d out of range or given twice", e.Seq)
			}
			bySeq[e.Seq] = e
		}
	}
	if sh.Lineage().Seq != n {
		t.Fatalf("seq = %d, want %d", sh.Lineage().Seq, n)
	}
	// The log holds exactly the acknowledged edits, and replaying it in seq
	// order gives the objects: seq order is commit order.
	log := logAll(t, sh, 0)
	if len(log) != n {
		t.Fatalf("log has %d edits, want %d", len(log), n)
	}
	replay := map[string]string{}
	for i, e := range log {
		if e.Seq != uint64(i+1) || e.Key != bySeq[e.Seq].Key || !bytes.Equal(e.Value, bySeq[e.Seq].Value) {
			t.Fatalf("log[%d] = %+v, acked %+v", i, e, bySeq[e.Seq])
		}
		replay[e.Key] = string(e.Value)
	}
	objs, seq := dumpAll(t, sh)
	if seq != n || len(objs) != len(replay) {
		t.Fatalf("dump: %d objects at seq %d, want %d at %d", len(objs), seq, len(replay), n)
	}
	for _, o := range objs {
		if replay[o.Key] != string(o.Value) {
			t.Fatalf("object %s = %q, log replay says %q", o.Key, o.Value, replay[o.Key])
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	sh, err := s.OpenShow("demo", true)
	if err != nil {
		t.Fatal(err)
	}
	sh.StartEpoch("e1")
	mustAppend(t, sh, set("cue/1", "a"), set("cue/2", "b"))
	sh.StartEpoch("e2")
	mustAppend(t, sh, del("cue/1"), set("cue/3", "c"))
	before := sh.Lineage()
	digest, _ := sh.Digest()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, dir, Options{})
	sh2, err := s2.OpenShow("demo", false)
	if err != nil {
		t.Fatal(err)
	}
	after := sh2.Lineage()
	want := Lineage{ShowID: before.ShowID, Epochs: []Epoch{{"e1", 1}, {"e2", 3}}, Seq: 4}
	if after.ShowID != want.ShowID || len(after.ShowID) != 32 || after.Seq != 4 || !slices.Equal(after.Epochs, want.Epochs) {
		t.Fatalf("lineage after reopen = %+v, want %+v", after, want)
	}
	wantMissing(t, sh2, "cue/1")
	wantValue(t, sh2, "cue/3", "c")
	if d2, _ := sh2.Digest(); d2 != digest {
		t.Fatal("digest changed across reopen")
	}
	if log := logAll(t, sh2, 0); len(log) != 4 || log[3].Epoch != "e2" || log[1].Epoch != "e1" {
		t.Fatalf("log after reopen = %+v", log)
	}
	// And it goes on from there.
	if e := mustAppend(t, sh2, set("cue/4", "d")); e[0].Seq != 5 || e[0].Epoch != "e2" {
		t.Fatalf("append after reopen = %+v", e)
	}
}

func TestStoreShows(t *testing.T) {
	dir := t.TempDir()
	// Leftovers of a creation cut short by a crash are not shows and go.
	leftover := filepath.Join(dir, "shows", ".creating-x-1234")
	os.MkdirAll(leftover, 0o755)
	s := openStore(t, dir, Options{})
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("leftover creation dir still there: %v", err)
	}

	_, err := s.OpenShow("nope", false)
	if !errors.Is(err, ErrNoShow) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("OpenShow missing = %v, want ErrNoShow naming the show", err)
	}
	if _, err := s.OpenShow("../evil", true); err == nil {
		t.Fatal("OpenShow accepted a bad name")
	}
	for _, n := range []string{"zeta", "alpha", "Mid"} {
		sh, err := s.OpenShow(n, true)
		if err != nil {
			t.Fatal(err)
		}
		sh.Close()
	}
	names, err := s.Shows()
	if err != nil || !slices.Equal(names, []string{"Mid", "alpha", "zeta"}) {
		t.Fatalf("Shows = %v, %v", names, err)
	}

	// Two ShowIDs are different; one show opened twice is one *Show.
	a, _ := s.OpenShow("alpha", false)
	z, _ := s.OpenShow("zeta", false)
	if a.Lineage().ShowID == z.Lineage().ShowID {
		t.Fatal("two shows got the same ShowID")
	}
	a2, _ := s.OpenShow("alpha", true)
	if a2 != a {
		t.Fatal("a show opened twice gave two *Show")
	}
	a.Close()
	if _, err := a2.Len(); err != nil {
		t.Fatalf("show closed while still referenced: %v", err)
	}
	a2.Close()
	if _, err := a.Len(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Len after the last Close = %v, want ErrClosed", err)
	}
	// Store.Close closes the shows still open.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := z.Append([]Op{set("cue/1", "x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Store.Close = %v, want ErrClosed", err)
	}
	if _, err := s.OpenShow("zeta", false); !errors.Is(err, ErrClosed) {
		t.Fatalf("OpenShow after Store.Close = %v", err)
	}
	z.Close() // harmless
}

func TestLineageRules(t *testing.T) {
	_, sh := newShow(t, Options{})
	if _, err := sh.StartEpoch("e1"); err == nil {
		t.Fatal("StartEpoch accepted an ID already in the history")
	}
	if _, err := sh.StartEpoch(""); err == nil {
		t.Fatal("StartEpoch accepted an empty ID")
	}
	mustAppend(t, sh, set("cue/1", "a"), set("cue/2", "b"))
	l, err := sh.StartEpoch("e2")
	if err != nil || !slices.Equal(l.Epochs, []Epoch{{"e1", 1}, {"e2", 3}}) || l.Seq != 2 {
		t.Fatalf("StartEpoch = %+v, %v", l, err)
	}
	cur := sh.Lineage()

	// Adopting a longer history that agrees on edits 1..2 is fine.
	ok := Lineage{ShowID: cur.ShowID, Epochs: []Epoch{{"e1", 1}, {"e2", 3}, {"e3", 3}}, Seq: 2}
	if err := sh.SetLineage(ok); err != nil {
		t.Fatal(err)
	}
	bad := map[string]Lineage{
		"seq":          {ShowID: cur.ShowID, Epochs: ok.Epochs, Seq: 3},
		"ShowID":       {ShowID: "other", Epochs: ok.Epochs, Seq: 2},
		"relabel":      {ShowID: cur.ShowID, Epochs: []Epoch{{"e1", 1}, {"x", 2}}, Seq: 2},
		"future epoch": {ShowID: cur.ShowID, Epochs: []Epoch{{"e1", 1}, {"e2", 4}}, Seq: 2},
		"duplicate":    {ShowID: cur.ShowID, Epochs: []Epoch{{"e1", 1}, {"e1", 3}}, Seq: 2},
		"empty ID":     {ShowID: "", Epochs: ok.Epochs, Seq: 2},
		"no epochs":    {ShowID: cur.ShowID, Seq: 2},
	}
	for name, l := range bad {
		if err := sh.SetLineage(l); err == nil {
			t.Errorf("SetLineage (%s) accepted %+v", name, l)
		}
	}
	if got := sh.Lineage(); !slices.Equal(got.Epochs, ok.Epochs) {
		t.Fatalf("lineage changed by refused calls: %+v", got)
	}

	// An empty show may take on another show's identity (a new backup copy).
	s := sh.st
	fresh, _ := s.OpenShow("fresh", true)
	adopt := Lineage{ShowID: cur.ShowID, Epochs: []Epoch{{"e1", 1}}}
	if err := fresh.SetLineage(adopt); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Apply([]Edit{{Seq: 1, Epoch: "e1", Op: set("cue/1", "a")}}); err != nil {
		t.Fatal(err)
	}
}

// A show whose seq record disagrees with its edit log is refused at open.
func TestOpenChecksInvariants(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	sh, _ := s.OpenShow("demo", true)
	sh.StartEpoch("e1")
	mustAppend(t, sh, set("cue/1", "a"), set("cue/2", "b"))
	s.Close()

	db, err := pebble.Open(filepath.Join(dir, "shows", "demo"), &pebble.Options{Logger: pebbleLogger{log: quiet}})
	if err != nil {
		t.Fatal(err)
	}
	db.Set(keySeq, encodeSeq(5), pebble.Sync)
	db.Close()

	s2 := openStore(t, dir, Options{})
	_, err = s2.OpenShow("demo", false)
	if err == nil || !strings.Contains(err.Error(), "edit log ends at seq 2 but the show's seq is 5") {
		t.Fatalf("OpenShow of an inconsistent show = %v", err)
	}
}

// TestAppendThen: ordered sees the edits, readable, before Append returns;
// a refused append never calls it.
func TestAppendThen(t *testing.T) {
	_, sh := newShow(t, Options{})
	var got []Edit
	edits, err := sh.AppendThen([]Op{set("cue/1", "a"), set("cue/2", "b")}, func(eds []Edit) {
		got = append(got, eds...)
		if v, ok, err := sh.Get("cue/2"); err != nil || !ok || string(v) != "b" {
			t.Errorf("inside ordered: cue/2 = %q %v %v", v, ok, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Seq != edits[0].Seq || got[1].Seq != edits[1].Seq {
		t.Fatalf("ordered got %+v, Append returned %+v", got, edits)
	}
	called := false
	if _, err := sh.AppendThen([]Op{set("", "bad key")}, func([]Edit) { called = true }); err == nil || called {
		t.Fatalf("a refused append: err %v, ordered called %v", err, called)
	}
}
