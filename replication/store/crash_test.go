package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	crashDirEnv   = "STORE_CRASH_TEST_DIR"
	crashRoundEnv = "STORE_CRASH_TEST_ROUND"
)

// crashValue is what the writer stores under key, so the parent can check it.
func crashValue(key string) string {
	return key + "=" + strings.Repeat("v", len(key)*7%300)
}

// TestHelperWriter is the child process of TestCrashKeepsAcknowledgedEdits:
// it appends from several goroutines and prints "ack <seq> <key>" once each
// Append has returned, until it is killed.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestCrashKeepsAcknowledgedEdits")
	}
	round := os.Getenv(crashRoundEnv)
	s, err := Open(dir, Options{Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sh, err := s.OpenShow("crash", true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := sh.StartEpoch("round-" + round); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var out sync.Mutex
	for g := range 8 {
		go func() {
			for i := 0; ; i++ {
				ops := []Op{set(fmt.Sprintf("r%s.w%d/%d", round, g, i), "")}
				if i%5 == 0 { // some Appends carry two ops
					ops = append(ops, set(fmt.Sprintf("r%s.w%d/%d.b", round, g, i), ""))
				}
				for j := range ops {
					ops[j].Value = []byte(crashValue(ops[j].Key))
				}
				edits, err := sh.Append(ops)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				var b strings.Builder
				for _, e := range edits {
					fmt.Fprintf(&b, "ack %d %s\n", e.Seq, e.Key)
				}
				out.Lock()
				os.Stdout.WriteString(b.String()) // one write: never torn by the kill
				out.Unlock()
			}
		}()
	}
	select {}
}

func TestCrashKeepsAcknowledgedEdits(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	for round := 1; round <= 2; round++ {
		acked := runAndKill(t, dir, round, 2000)

		s := openStore(t, dir, Options{})
		sh, err := s.OpenShow("crash", false) // runs the open checks
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		lin := sh.Lineage()
		var maxAcked uint64
		for seq := range acked {
			maxAcked = max(maxAcked, seq)
		}
		if lin.Seq < maxAcked {
			t.Fatalf("round %d: seq %d after the crash, but %d was acknowledged", round, lin.Seq, maxAcked)
		}
		if last := lin.Epochs[len(lin.Epochs)-1]; last.ID != fmt.Sprintf("round-%d", round) {
			t.Fatalf("round %d: epochs %+v", round, lin.Epochs)
		}

		// The whole log is there, in order, and replays to the objects.
		logged := map[uint64]Edit{}
		replay := map[string]string{}
		next := uint64(1)
		err = sh.EditsSince(0, func(e Edit) error {
			if e.Seq != next {
				return fmt.Errorf("log seq %d, want %d", e.Seq, next)
			}
			next++
			logged[e.Seq] = e
			replay[e.Key] = string(e.Value)
			return nil
		})
		if err != nil || next-1 != lin.Seq {
			t.Fatalf("round %d: log: %v (ends at %d, seq %d)", round, err, next-1, lin.Seq)
		}
		for seq, key := range acked {
			e, ok := logged[seq]
			if !ok || e.Key != key || string(e.Value) != crashValue(key) {
				t.Fatalf("round %d: acknowledged edit %d %s: log has %+v", round, seq, key, e)
			}
			wantValue(t, sh, key, crashValue(key))
		}
		n := 0
		_, _, err = sh.Dump(func(o Object) error {
			n++
			if replay[o.Key] != string(o.Value) {
				return fmt.Errorf("object %s does not match the log", o.Key)
			}
			return nil
		})
		if err != nil || n != len(replay) {
			t.Fatalf("round %d: dump: %v (%d objects, log has %d)", round, err, n, len(replay))
		}
		t.Logf("round %d: %d acknowledged, %d durable", round, len(acked), lin.Seq)
		s.Close()
	}
}

// runAndKill runs TestHelperWriter in a child process until it has
// acknowledged at least n edits, SIGKILLs it and returns the acks (seq → key).
func runAndKill(t *testing.T, dir string, round, n int) map[uint64]string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	// A child that hangs is killed, which ends the read below.
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()

	acked := map[uint64]string{}
	sc := bufio.NewScanner(stdout)
	for len(acked) < n && sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ack" {
			continue
		}
		seq, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("bad ack line %q", sc.Text())
		}
		if _, dup := acked[seq]; dup {
			t.Fatalf("seq %d acknowledged twice", seq)
		}
		acked[seq] = f[2]
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waited = true
	if len(acked) < n {
		t.Fatalf("round %d: child acknowledged only %d edits; stderr:\n%s", round, len(acked), stderr.String())
	}
	return acked
}
