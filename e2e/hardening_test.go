package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"consoled/api"
)

// Issue 13, row 10: a second console with the same --id does not launch;
// the launch fails (exit 1, an error rather than a guard's refusal) naming
// both consoles' addresses.
func TestDuplicateIDStopsTheLaunch(t *testing.T) {
	key := newKey(t)
	a := newConsole(t, "desk-1", "--network-key", key)
	a.start()
	b := newConsole(t, "desk-1", "--network-key", key, "--peers", a.listenAddr())
	b.start()
	r := b.ctl("launch", "demo")
	if r.code != 1 {
		t.Fatalf("launch on the second desk-1: exit %d (%s%s), want 1", r.code, r.out, r.err)
	}
	for _, addr := range []string{a.listenAddr(), b.listenAddr()} {
		if !strings.Contains(r.err, addr) {
			t.Errorf("the message does not name %s: %s", addr, r.err)
		}
	}
	if n := strings.Count(strings.TrimSpace(r.err), "\n"); n != 0 {
		t.Errorf("the message is %d lines: %s", n+1, r.err)
	}
	if st := b.status(); st.Role != "off" {
		t.Fatalf("the second desk-1 is %s", st.Role)
	}
}

// corruptLargestTable flips bytes in the middle of the largest sstable of
// show's copy in data, and returns its path.
func corruptLargestTable(t *testing.T, data, show string) string {
	t.Helper()
	ssts, _ := filepath.Glob(filepath.Join(data, "shows", show, "*.sst"))
	var file string
	var size int64
	for _, p := range ssts {
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			file, size = p, fi.Size()
		}
	}
	if file == "" {
		t.Fatalf("no sstable in %s's copy", show)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 2; i < len(b)/2+64; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(file, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return file
}

// Issue 13, row 5: a copy with a damaged file on disk is refused at launch,
// with one line naming the show and the file and the ways out, and FAULT
// blinks; launching it while a console serves the show takes a whole copy
// from it, and the damaged copy is kept as an archive. Launched, its
// damage would be found later, by a failed read or the log-off compaction.
func TestDamagedCopyRefusedAtLaunch(t *testing.T) {
	key := newKey(t)
	a := newConsole(t, "desk-1", "--network-key", key)
	a.start()
	a.must("launch", "demo")
	fillShow(t, a, 800, 8<<10) // ~6.5 MB: more than a memtable, so sstables
	b := newConsole(t, "desk-2", "--network-key", key, "--peers", a.listenAddr())
	b.start()
	b.must("launch", "demo")
	want := waitConverged(t, []*console{a, b})
	b.must("logoff")
	a.must("logoff") // the last out: its copy is the master copy, compacted
	a.stop()
	b.stop()
	file := corruptLargestTable(t, a.data, "demo")

	a.start()
	r := a.ctl("launch", "demo")
	if r.code != 1 {
		t.Fatalf("launch of the damaged copy: exit %d (%s%s), want 1", r.code, r.out, r.err)
	}
	msg := strings.TrimSpace(r.err)
	for _, part := range []string{"demo", file, "consolectl restore"} {
		if !strings.Contains(msg, part) {
			t.Errorf("the message does not name %q: %s", part, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("the message is more than one line: %s", msg)
	}
	waitFor(t, "FAULT to blink for the damaged copy", 10*time.Second, func() bool {
		st := a.status()
		for _, f := range st.Faults {
			if f.Kind == "copy" && strings.Contains(f.Message, file) {
				return st.LEDs["fault"] == "blink" && st.Role == "off"
			}
		}
		return false
	})

	// The way out: a console that serves the show. desk-2 left before
	// desk-1 and can get no newer copy from it, so it is forced.
	b.args[len(b.args)-1] = a.listenAddr() // desk-1 listens on a new port
	b.start()
	b.must("launch", "demo", "--force")
	a.must("launch", "demo")
	if st := a.status(); st.Role != "backup" || st.Active != "desk-2" {
		t.Fatalf("desk-1 after the damaged copy: role %q following %q", st.Role, st.Active)
	}
	if got := waitConverged(t, []*console{a, b}); got.Digest != want.Digest {
		t.Fatalf("the show changed: digest %s, want %s", got.Digest, want.Digest)
	}
	var list []api.Archive
	if err := json.Unmarshal([]byte(a.must("archives", "--json")), &list); err != nil || len(list) != 1 || !strings.Contains(list[0].Why, "damaged") {
		t.Fatalf("archives: %+v %v, want the damaged copy", list, err)
	}
	waitFor(t, "the copy fault to clear", 10*time.Second, func() bool {
		for _, f := range a.status().Faults {
			if f.Kind == "copy" {
				return false
			}
		}
		return true
	})
}
