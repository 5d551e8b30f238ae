package wire

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestKeyCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "sub")
	path := filepath.Join(dir, "network.key")
	k, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateKey = %v, created %v", err, created)
	}
	if k == (Key{}) {
		t.Fatal("created an all-zero key")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", perm)
	}
	di, _ := os.Stat(dir)
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Fatalf("key dir mode %04o, want 0700", perm)
	}
	b, _ := os.ReadFile(path)
	if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).Match(b) {
		t.Fatalf("key file content %q, want 64 hex and a newline", b)
	}
	if string(b) != k.Hex()+"\n" {
		t.Fatal("file does not hold the returned key")
	}
	// Atomic creation leaves no temporary file behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "network.key" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only network.key", names)
	}

	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created || k2 != k {
		t.Fatalf("reload: err %v, created %v, same key %v", err, created, k2 == k)
	}
}

// TestKeyCreateRace: consoles starting together on one data directory must
// all end up with the one key on disk, never overwrite each other's.
func TestKeyCreateRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "network.key")
	const n = 16
	keys := make([]Key, n)
	created := make([]bool, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			keys[i], created[i], err = LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	onDisk, _, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	nCreated := 0
	for i := range keys {
		if keys[i] != onDisk {
			t.Errorf("caller %d got a key that is not the one on disk", i)
		}
		if created[i] {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Errorf("%d callers report creating the key, want 1", nCreated)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("%d directory entries left, want 1", len(ents))
	}
}

func TestKeyRefusesLooseMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "network.key")
	if _, _, err := LoadOrCreateKey(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		os.Chmod(path, mode)
		_, _, err := LoadOrCreateKey(path)
		if err == nil {
			t.Fatalf("mode %04o accepted", mode)
		}
		msg := err.Error()
		for _, want := range []string{path, fmt.Sprintf("%04o", mode), "chmod 600 " + path} {
			if !strings.Contains(msg, want) {
				t.Errorf("mode %04o: error %q does not mention %q", mode, msg, want)
			}
		}
	}
	os.Chmod(path, 0o400) // read-only for the owner is fine
	if _, _, err := LoadOrCreateKey(path); err != nil {
		t.Fatalf("mode 0400 refused: %v", err)
	}
}

func TestKeyRefusesMalformed(t *testing.T) {
	secretish := strings.Repeat("ab", 31) + "zz" // 64 chars, not all hex
	for name, content := range map[string]string{
		"empty":     "",
		"short":     strings.Repeat("a", 63) + "\n",
		"long":      strings.Repeat("a", 66) + "\n",
		"not hex":   secretish + "\n",
		"two keys":  strings.Repeat("a", 64) + "\n" + strings.Repeat("b", 64) + "\n",
		"binary 32": string(make([]byte, 32)),
	} {
		path := filepath.Join(t.TempDir(), "network.key")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateKey(path)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%s: error %q does not name the file as malformed", name, err)
		}
		if strings.Contains(err.Error(), "abab") {
			t.Errorf("%s: error leaks the file's content: %q", name, err)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("%s: the malformed file was changed", name)
		}
	}
}

func TestParseKey(t *testing.T) {
	k := testKey(3)
	for _, s := range []string{k.Hex(), k.Hex() + "\n", "  " + k.Hex() + "\r\n", strings.ToUpper(k.Hex())} {
		got, err := ParseKey(s)
		if err != nil || got != k {
			t.Fatalf("ParseKey(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "abc", k.Hex()[:62] + "gg", k.Hex() + "00"} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		} else if len(s) > 8 && strings.Contains(err.Error(), s[:8]) {
			t.Errorf("ParseKey error leaks input: %v", err)
		}
	}
}

func TestKeyFingerprint(t *testing.T) {
	a, b := testKey(1), testKey(2)
	fa := a.Fingerprint()
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(fa) {
		t.Fatalf("fingerprint %q, want 8 hex", fa)
	}
	if fa != a.Fingerprint() || fa == b.Fingerprint() {
		t.Fatal("fingerprint not stable or not distinct")
	}
	if strings.Contains(a.Hex(), fa) {
		t.Fatal("fingerprint is a substring of the key")
	}
	if s := a.String(); strings.Contains(s, a.Hex()[:16]) || !strings.Contains(s, fa) {
		t.Fatalf("String() = %q: must show the fingerprint, not the key", s)
	}
}

// A key file that is a FIFO (or any other non-regular file) is refused at
// once: opening it must not wait for a writer, so a console neither hangs
// at start-up nor keeps its data directory locked.
func TestKeyFIFORefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "network.key")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := LoadOrCreateKey(path)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is not a regular file") || !strings.Contains(err.Error(), path) {
			t.Fatalf("FIFO key file: %v", err)
		}
	case <-time.After(10 * time.Second):
		// Unblock the open so the goroutine ends with the test.
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatal("LoadOrCreateKey waited on a FIFO for 10s")
	}
}
