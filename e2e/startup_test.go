package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A network key that is a FIFO is refused at once with a message naming it,
// instead of hanging the start-up.
func TestKeyFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "network.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := execConsoled(ctx, "--data", t.TempDir(), "--http", "off", "--listen", "127.0.0.1:0", "--network-key", fifo)
	out, _ := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("consoled hung on a FIFO network key: %q", out)
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), fifo+" is not a regular file") {
		t.Fatalf("exit %d, %q; want 1 and a message naming the FIFO", code, out)
	}
}

// SIGTERM stops a console whose start-up is stuck (here on a board file
// that is a FIFO no one writes to), and its data directory is free again.
func TestSignalDuringStartup(t *testing.T) {
	board := filepath.Join(t.TempDir(), "board.yaml")
	if err := syscall.Mkfifo(board, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := execConsoled(ctx, "--data", data, "--http", "off", "--listen", "127.0.0.1:0", "--board", board)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() { cmd.Process.Kill(); <-exited }()
	// The lock file names the process once start-up is past the lock.
	lock := filepath.Join(data, "consoled.lock")
	pid := strconv.Itoa(cmd.Process.Pid)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(lock); strings.TrimSpace(string(b)) == pid {
			break
		}
		select {
		case <-exited:
			t.Fatalf("consoled exited before taking the lock: %s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("consoled did not take the data directory's lock in 20s: %s", log.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("consoled ignored SIGTERM during start-up for 20s: %s", log.String())
	}
	if cmd.ProcessState.ExitCode() < 0 {
		t.Fatalf("consoled was killed by the signal instead of exiting: %v", cmd.ProcessState)
	}
	f, err := os.OpenFile(lock, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("the data directory is still locked after consoled exited: %v", err)
	}
}

// Issue 13: status shows the descriptors in use and the limit, and a
// console started under a low soft limit runs with (one below) the hard
// one: Go raises it at start, so consoled need not.
func TestDescriptorLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < 512 {
		t.Skipf("hard limit %d: too low to start under a lower soft one", lim.Max)
	}
	c := newConsole(t, "desk-1")
	consoled := filepath.Join(binDir, "consoled")
	c.args = append([]string{"-c", `ulimit -S -n 256 && exec "$0" "$@"`, consoled}, c.args...)
	c.program = "sh"
	c.start()
	st := c.status()
	if st.Descriptors.Limit < lim.Max-1 {
		t.Errorf("limit %d under a soft limit of 256; want the hard limit %d (or one below: Go leaves it there)", st.Descriptors.Limit, lim.Max)
	}
	if st.Descriptors.Open < 5 || st.Descriptors.Open > 200 {
		t.Errorf("%d descriptors open", st.Descriptors.Open)
	}
	if out := c.must("status"); !strings.Contains(out, "fds ") || !strings.Contains(out, "limit "+strconv.FormatUint(st.Descriptors.Limit, 10)) {
		t.Errorf("status does not show the descriptors:\n%s", out)
	}
}
